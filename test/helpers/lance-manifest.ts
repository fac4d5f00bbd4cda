// Test-only: re-encode a real Lance manifest after editing it, to make damaged or hostile tables.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const tableProto = fileURLToPath(new URL('../../src/format/lance/table.proto', import.meta.url));

/**
 * Rewrites `_versions/<name>` after `edit` changes its decoded Manifest (subset proto: fields the
 * subset does not know are dropped, which our parser does not need). The index section, if any, is
 * copied in front and index_section re-pointed, and the footer is written to match.
 */
export async function rewriteManifest(tableDir: string, name: string, edit: (manifest: Record<string, any>) => void): Promise<void> {
  const path = join(tableDir, '_versions', name);
  const bytes = await readFile(path);
  const pos = Number(bytes.readBigInt64LE(bytes.length - 16));
  const Manifest = protobuf.loadSync(tableProto).lookupType('lance.table.Manifest');
  const object = Manifest.toObject(Manifest.decode(bytes.subarray(pos + 4, bytes.length - 16)), { longs: String });
  let head = Buffer.alloc(0);
  if (object.indexSection !== undefined) {
    const at = Number(object.indexSection);
    head = bytes.subarray(at, at + 4 + bytes.readUInt32LE(at));
    object.indexSection = '0';
  }
  delete object.transactionSection;
  edit(object);
  const body = Buffer.from(Manifest.encode(Manifest.fromObject(object)).finish());
  const length = Buffer.alloc(4);
  length.writeUInt32LE(body.length);
  const footer = Buffer.alloc(16);
  footer.writeBigInt64LE(BigInt(head.length), 0);
  footer.writeUInt16LE(0, 8);
  footer.writeUInt16LE(2, 10);
  footer.write('LANC', 12, 'latin1');
  await writeFile(path, Buffer.concat([head, length, body, footer]));
}

