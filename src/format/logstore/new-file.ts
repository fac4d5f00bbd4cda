// Table entries of a VersionEdit: LevelDB's kNewFile and Pebble's newFile2..5 with their custom
// fields. Split from version-edit.ts only for size; see there for the sources and rules.
import { PayloadReader } from './payload';
import { PEBBLE_TAG, TAG } from './tags';

export interface NewFileEntry {
  level: number;
  number: number;
  size: number;
  /** Encoded internal keys (user key + 8-byte trailer); for range-key tables the overall bounds. */
  smallest: Buffer;
  largest: Buffer;
  /** Pebble virtual sstables: the backing file's number. */
  backingFileNumber?: number;
}

/** LevelDB's GetInternalKey refuses an empty key; Pebble decodes any bytes. */
export function internalKey(r: PayloadReader, field: string): Buffer {
  const at = r.pos;
  const key = r.bytes(field);
  if (key.length === 0 && r.engine === 'leveldb') r.fail(at, field, '');
  return key;
}

/** LevelDB's kNewFile and Pebble's newFile2..5: the fields each adds, in the order they are written. */
export function newFile(r: PayloadReader, tag: number): NewFileEntry {
  const level = r.level('newFile.level');
  const number = r.number('newFile.number');
  if (tag === PEBBLE_TAG.newFile3) r.uvarint('newFile.pathId');
  const size = r.number('newFile.size');
  let smallest: Buffer;
  let largest: Buffer;
  if (tag !== PEBBLE_TAG.newFile5) {
    smallest = internalKey(r, 'newFile.smallest');
    largest = internalKey(r, 'newFile.largest');
  } else {
    // Bit 0: the table has point keys (their bounds come first); bits 1/2: the overall smallest /
    // largest bound is a point key rather than a range key.
    const markerAt = r.pos;
    const marker = r.byte('newFile.boundsMarker');
    let point: [Buffer, Buffer] | null = null;
    if (marker & 1) point = [r.bytes('newFile.smallestPoint'), r.bytes('newFile.largestPoint')];
    else if (marker & 6) r.fail(markerAt, 'newFile.boundsMarker', `new-file-4-range-keys: table without point keys has point key bounds: marker=${marker.toString(16)}`);
    const range = [r.bytes('newFile.smallestRange'), r.bytes('newFile.largestRange')] as const;
    smallest = marker & 2 && point ? point[0] : range[0];
    largest = marker & 4 && point ? point[1] : range[1];
  }
  const entry: NewFileEntry = { level, number, size, smallest, largest };
  if (tag !== TAG.newFile) {
    r.uvarint('newFile.smallestSeqNum');
    r.uvarint('newFile.largestSeqNum');
  }
  if (tag === PEBBLE_TAG.newFile4 || tag === PEBBLE_TAG.newFile5) customFields(r, entry);
  return entry;
}

/**
 * newFile4/5 custom fields up to the terminator (1). Tags below 64 are "safe to ignore": a
 * length-prefixed value we skip if unknown. Unknown tags of 64 and up are corruption.
 */
function customFields(r: PayloadReader, entry: NewFileEntry): void {
  for (;;) {
    const at = r.pos;
    const t = r.uvarint('newFile.customTag');
    if (t === 1n) return;
    const f = `newFile.custom${t}`;
    switch (t) {
      case 2n: // needs-compaction (deprecated): one byte
        if (r.bytes(f).length !== 1) r.fail(at, f, 'new-file4: need-compaction field wrong size');
        break;
      case 6n: {
        // creation time: the field is exactly one uvarint
        const v = r.bytes(f);
        const sub = new PayloadReader(v, 'pebble');
        let ok = v.length > 0;
        try {
          sub.uvarint(f);
        } catch {
          ok = false;
        }
        if (!ok || sub.pos !== v.length) r.fail(at, f, 'new-file4: invalid file creation time');
        break;
      }
      case 7n: // no range-key sets: empty
        if (r.bytes(f).length !== 0) r.fail(at, f, 'new-file4: invalid no-range-key-sets value');
        break;
      case 65n:
        r.fail(at, f, 'new-file4: path-id field not supported');
      case 66n: // virtual sstable
        entry.backingFileNumber = r.number(f);
        break;
      case 67n: // synthetic prefix
      case 68n: // synthetic suffix
        r.bytes(f);
        break;
      case 69n:
      case 70n: {
        // blob references: depth, count, then (fileId, valueSize[, backingValueSize]) each
        r.uvarint(f);
        const n = r.uvarint(f);
        for (let i = 0n; i < n; i++) {
          r.uvarint(f);
          r.uvarint(f);
          if (t === 70n) r.uvarint(f);
        }
        break;
      }
      default:
        if (t & 64n) r.fail(at, f, `new-file4: custom field not supported: ${t}`);
        r.bytes(f);
    }
  }
}
