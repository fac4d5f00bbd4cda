// Incident 003 rebuilt in a sandbox: a goleveldb store written by the engine itself (20,000 keys in
// four tables), then one data block of its largest table damaged on disk, so that reading it fails
// with goleveldb's "checksum mismatch" and the choice between StrictRecovery and rebuilding it is real.
import { readdir, stat } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { checkTable } from '../engines/logstore/tables';
import { writeStoreWithEngine } from '../engines/logstore/storectl';

export interface LogStoreIncident {
  storeDir: string;
  keys: number;
  digest: string;
  damaged: { table: string; offset: number; flippedAt: number };
}

/** Flips a byte in the middle of the first data block of the largest table. Returns the block's offset. */
export async function damageTableBlock(dir: string): Promise<{ table: string; offset: number; flippedAt: number }> {
  const tables = [];
  for (const name of (await readdir(dir)).filter((n) => /^\d+\.(ldb|sst)$/.test(n))) tables.push({ name, size: (await stat(join(dir, name))).size });
  const largest = tables.sort((a, b) => b.size - a.size)[0];
  if (!largest) throw new Error(`${dir} has no table`);
  const path = join(dir, largest.name);
  const fh = await open(path, 'r+');
  try {
    const blocks: Array<{ offset: number; size: number }> = [];
    const check = await checkTable(fh, largest.size, { onDataBlock: (h) => blocks.push(h) });
    const first = blocks.sort((a, b) => a.offset - b.offset)[0];
    if (!first) throw new Error(`${path}: no data block found (${check.unchecked ?? check.status})`);
    const flippedAt = first.offset + Math.floor(first.size / 2);
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, flippedAt);
    b[0] = b[0]! ^ 0xff;
    await fh.write(b, 0, 1, flippedAt);
    return { table: largest.name, offset: first.offset, flippedAt };
  } finally {
    await fh.close();
  }
}

export async function buildLogStoreIncident(dir: string): Promise<LogStoreIncident> {
  const storeDir = join(dir, 'index.db');
  const { keys, digest } = await writeStoreWithEngine('goleveldb', storeDir, { keys: 20_000, tables: 4, valueBytes: 200 });
  return { storeDir, keys, digest, damaged: await damageTableBlock(storeDir) };
}
