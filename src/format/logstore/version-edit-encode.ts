// LevelDB's VersionEdit::EncodeTo, for tests and benchmarks that forge MANIFESTs: the tags in the
// order LevelDB writes them. Pebble-only tags are forged by hand where a test needs them.
import { putUvarint } from './payload';
import { TAG } from './tags';

export interface EncodableEdit {
  comparator?: string;
  logNumber?: number | bigint;
  prevLogNumber?: number | bigint;
  nextFileNumber?: number | bigint;
  lastSequence?: number | bigint | string;
  compactPointers?: Array<{ level: number; key: Buffer }>;
  deletedFiles?: Array<{ level: number; number: number | bigint }>;
  newFiles?: Array<{ level: number; number: number | bigint; size: number | bigint; smallest: Buffer; largest: Buffer }>;
}

export function encodeVersionEdit(e: EncodableEdit): Buffer {
  const out: number[] = [];
  const str = (b: Buffer) => {
    putUvarint(out, b.length);
    for (const x of b) out.push(x);
  };
  if (e.comparator !== undefined) {
    putUvarint(out, TAG.comparator);
    str(Buffer.from(e.comparator, 'utf8'));
  }
  for (const [tag, v] of [
    [TAG.logNumber, e.logNumber],
    [TAG.prevLogNumber, e.prevLogNumber],
    [TAG.nextFileNumber, e.nextFileNumber],
    [TAG.lastSequence, e.lastSequence === undefined ? undefined : BigInt(e.lastSequence)],
  ] as const) {
    if (v === undefined) continue;
    putUvarint(out, tag);
    putUvarint(out, v);
  }
  for (const p of e.compactPointers ?? []) {
    putUvarint(out, TAG.compactPointer);
    putUvarint(out, p.level);
    str(p.key);
  }
  for (const d of e.deletedFiles ?? []) {
    putUvarint(out, TAG.deletedFile);
    putUvarint(out, d.level);
    putUvarint(out, d.number);
  }
  for (const f of e.newFiles ?? []) {
    putUvarint(out, TAG.newFile);
    putUvarint(out, f.level);
    putUvarint(out, f.number);
    putUvarint(out, f.size);
    str(f.smallest);
    str(f.largest);
  }
  return Buffer.from(out);
}
