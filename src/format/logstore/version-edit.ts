// VersionEdit payloads of LevelDB and Pebble MANIFEST records: bytes in, a typed edit or a
// VersionEditError out. LevelDB: db/version_edit.cc (formats.md section 4). Pebble v2:
// internal/manifest/version_edit.go, which adds RocksDB's and its own tags.
//
// Numbers: varints are read as bigint. File numbers and sizes come out as `number` (a value above
// 2^53 is refused, VersionEditError: no real store gets there); `lastSequence` is a number up to
// 2^53 and a decimal string above (JSON-safe either way); replayManifest gives it as a string.
//
// One deliberate difference from Pebble: where its decoder hits the payload's end exactly before a
// length-prefixed string's bytes or a bounds marker, Go's io.ReadFull/ReadByte return a bare io.EOF
// that Pebble's recovery takes for the end of the MANIFEST. The record was complete, so here it is
// corruption like every other short payload.
//
// The replay of a whole MANIFEST (replayManifest) is at the end of this file.
import { isVersionEditError, type VersionEditError } from './errors';
import { internalKey, newFile, type NewFileEntry } from './new-file';
import { MAX_SAFE, PayloadReader, type Engine } from './payload';
import { scanLogBytes, scanLogFile } from './records';
import { PEBBLE_TAG, TAG } from './tags';
import type { LogRecord, LogVerdict } from './types';

export { VersionEditError, isVersionEditError } from './errors';
export { PEBBLE_TAG, TAG } from './tags';
export type { NewFileEntry } from './new-file';
export type { Engine as ManifestEngine } from './payload';

export interface VersionEdit {
  comparator?: string;
  logNumber?: number;
  prevLogNumber?: number;
  nextFileNumber?: number;
  lastSequence?: number | string;
  compactPointers: Array<{ level: number; key: Buffer }>;
  deletedFiles: Array<{ level: number; number: number }>;
  newFiles: NewFileEntry[];
  /** Pebble only. */
  newBlobFiles: Array<{ fileId: number; number: number; size: number }>;
  deletedBlobFiles: Array<{ fileId: number; number: number }>;
  createdBackings: Array<{ number: number; size: number }>;
  removedBackings: number[];
}

/** Decodes one record's payload as `engine` would; throws VersionEditError where it would fail. */
export function decodeVersionEdit(payload: Buffer, engine: Engine = 'leveldb'): VersionEdit {
  const r = new PayloadReader(payload, engine);
  const e: VersionEdit = { compactPointers: [], deletedFiles: [], newFiles: [], newBlobFiles: [], deletedBlobFiles: [], createdBackings: [], removedBackings: [] };
  const leveldb = engine === 'leveldb';
  while (!r.atEnd) {
    const tagAt = r.pos;
    r.entry = 'invalid tag'; // LevelDB: a tag varint32 that does not decode
    const big = r.uvarint('tag', leveldb ? 5 : 10, 'unexpected EOF');
    const tag = big > 1_000_000n ? -1 : Number(big);
    switch (tag) {
      case TAG.comparator:
        r.entry = 'comparator name';
        e.comparator = r.bytes('comparator').toString('utf8');
        break;
      case TAG.logNumber:
        r.entry = 'log number';
        e.logNumber = r.number('logNumber');
        break;
      case TAG.prevLogNumber:
        r.entry = 'previous log number';
        e.prevLogNumber = r.number('prevLogNumber');
        break;
      case TAG.nextFileNumber:
        r.entry = 'next file number';
        e.nextFileNumber = r.number('nextFileNumber');
        break;
      case TAG.lastSequence: {
        r.entry = 'last sequence number';
        const seq = r.uvarint('lastSequence');
        e.lastSequence = seq > MAX_SAFE ? seq.toString() : Number(seq);
        break;
      }
      case TAG.compactPointer:
        r.entry = 'compaction pointer';
        e.compactPointers.push({ level: r.level('compactPointer.level'), key: internalKey(r, 'compactPointer.key') });
        break;
      case TAG.deletedFile:
        r.entry = 'deleted file';
        e.deletedFiles.push({ level: r.level('deletedFile.level'), number: r.number('deletedFile.number') });
        break;
      case TAG.newFile:
        r.entry = 'new-file entry';
        e.newFiles.push(newFile(r, tag));
        break;
      default:
        if (leveldb) {
          r.entry = 'unknown tag';
          r.fail(tagAt, 'tag', '');
        }
        pebbleTag(r, tag, tagAt, e);
    }
  }
  return e;
}

function pebbleTag(r: PayloadReader, tag: number, tagAt: number, e: VersionEdit): void {
  switch (tag) {
    case PEBBLE_TAG.newFile2:
    case PEBBLE_TAG.newFile3:
    case PEBBLE_TAG.newFile4:
    case PEBBLE_TAG.newFile5:
      e.newFiles.push(newFile(r, tag));
      return;
    case PEBBLE_TAG.exciseBounds:
      r.bytes('excise.start');
      r.bytes('excise.end');
      r.uvarint('excise.boundaryKind');
      r.uvarint('excise.seqNum');
      return;
    case PEBBLE_TAG.tableMarkedForCompaction:
      r.uvarint('markedForCompaction.level');
      r.number('markedForCompaction.number');
      return;
    case PEBBLE_TAG.createdBackingTable:
      e.createdBackings.push({ number: r.number('createdBacking.number'), size: r.number('createdBacking.size') });
      return;
    case PEBBLE_TAG.removedBackingTable:
      e.removedBackings.push(r.number('removedBacking.number'));
      return;
    case PEBBLE_TAG.newBlobFile: {
      const fileId = r.number('newBlobFile.fileId');
      const number = r.number('newBlobFile.number');
      const size = r.number('newBlobFile.size');
      r.uvarint('newBlobFile.valueSize');
      r.uvarint('newBlobFile.creationTime');
      e.newBlobFiles.push({ fileId, number, size });
      return;
    }
    case PEBBLE_TAG.deletedBlobFile:
      e.deletedBlobFiles.push({ fileId: r.number('deletedBlobFile.fileId'), number: r.number('deletedBlobFile.number') });
      return;
    case 200:
    case 201:
    case 202:
    case 203:
      r.fail(tagAt, 'tag', 'column families are not supported');
    default:
      r.fail(tagAt, 'tag', `MANIFEST: unknown tag: ${tag < 0 ? 'too large' : tag}`);
  }
}

// --- Replay of a whole MANIFEST ---------------------------------------------------------------

/** The four facts a recovery reads from a MANIFEST's edits. */
export type ManifestField = 'comparator' | 'logNumber' | 'nextFileNumber' | 'lastSequence';

export interface ManifestReplay {
  /** The log verdict, turned 'corrupt'/'version-edit' at the first complete record that does not decode. */
  verdict: LogVerdict;
  comparator?: string;
  logNumber?: number;
  prevLogNumber?: number;
  nextFileNumber?: number;
  /** Decimal: sequence numbers are 64-bit. */
  lastSequence?: string;
  /** Tables of the version the records up to `verdict.validBytes` build, by level then number. */
  liveFiles: Array<{ level: number; number: number; size: number }>;
  /** Records applied (complete, decoded, before any problem). */
  records: number;
  /** The fields `engine` requires that the state lacks: empty when a MANIFEST cut at validBytes opens. */
  missing: ManifestField[];
  /** Every one of the four fields the state lacks, whatever the engine requires. */
  absent: ManifestField[];
}

/**
 * What each engine requires of a replayed MANIFEST before it opens the store:
 * - 'leveldb': both LevelDB engines' rules. C++ VersionSet::Recover needs a next file number, a log
 *   number and a last sequence ("no meta-nextfile entry in descriptor", "no meta-lognumber entry",
 *   "no last-sequence-number entry"), present with any value (RepairDB writes log number 0), the
 *   comparator optional. goleveldb's session.recover also needs the comparator ("comparer
 *   missing"). Both writers put the comparator in a new MANIFEST's first record.
 * - 'pebble': recoverVersion fails ("malformed manifest") only when the log number is absent or 0
 *   and the next file number is absent or below 2; then both are reported missing.
 */
export function requiredFields(engine: Engine, s: Pick<ManifestReplay, ManifestField>): ManifestField[] {
  if (engine === 'pebble') return !s.logNumber && (s.nextFileNumber ?? 1) < 2 ? ['logNumber', 'nextFileNumber'] : [];
  return (['comparator', 'nextFileNumber', 'logNumber', 'lastSequence'] as const).filter((f) => s[f] === undefined);
}

/** Replays a MANIFEST file as `engine` would read it (streamed: record by record; a symlink is refused, as scanLogFile does). */
export async function replayManifest(path: string, engine: Engine, opts: { signal?: AbortSignal } = {}): Promise<ManifestReplay> {
  const state = new ManifestState(engine);
  const verdict = await scanLogFile(path, { signal: opts.signal, onRecord: (rec) => state.apply(rec) });
  return state.result(verdict);
}

/** The same, over bytes in memory. */
export function replayManifestBytes(bytes: Buffer, engine: Engine): ManifestReplay {
  const state = new ManifestState(engine);
  return state.result(scanLogBytes(bytes, { onRecord: (rec) => state.apply(rec) }));
}

class ManifestState {
  private fields: Pick<ManifestReplay, ManifestField | 'prevLogNumber'> = {};
  private live = new Map<string, { level: number; number: number; size: number }>();
  private records = 0;
  private lastEnd = 0;
  private bad: { offset: number; error: VersionEditError } | null = null;
  private after = 0;

  constructor(private readonly engine: Engine) {}

  apply(rec: LogRecord): void {
    if (this.bad) {
      this.after++;
      return;
    }
    let e: VersionEdit;
    try {
      e = decodeVersionEdit(rec.payload, this.engine);
    } catch (err) {
      if (!isVersionEditError(err)) throw err;
      this.bad = { offset: rec.offset, error: err };
      return;
    }
    const f = this.fields;
    if (e.comparator !== undefined) f.comparator = e.comparator;
    if (e.logNumber !== undefined) f.logNumber = e.logNumber;
    if (e.prevLogNumber !== undefined) f.prevLogNumber = e.prevLogNumber;
    if (e.nextFileNumber !== undefined) f.nextFileNumber = e.nextFileNumber;
    if (e.lastSequence !== undefined) f.lastSequence = String(e.lastSequence);
    // Deletions first, then additions: a table moved within one edit stays (both engines' builders).
    for (const d of e.deletedFiles) this.live.delete(`${d.level}/${d.number}`);
    for (const n of e.newFiles) this.live.set(`${n.level}/${n.number}`, { level: n.level, number: n.number, size: n.size });
    this.records++;
    this.lastEnd = rec.end;
  }

  result(log: LogVerdict): ManifestReplay {
    let verdict = log;
    if (this.bad) {
      const { offset, error } = this.bad;
      const message = `${error.message} (${error.field}, payload byte ${error.offset})`;
      const { stoppedAt: _, ...rest } = log;
      verdict = {
        ...rest,
        status: 'corrupt',
        validBytes: this.lastEnd,
        firstBadOffset: offset,
        records: this.records,
        validRecordsAfter: this.after > 0 || log.validRecordsAfter,
        corruption: { kind: 'version-edit', offset, message },
        detail: `${message} in the record at ${offset}`,
      };
    }
    const liveFiles = [...this.live.values()].sort((a, b) => a.level - b.level || a.number - b.number);
    const absent = (['comparator', 'logNumber', 'nextFileNumber', 'lastSequence'] as const).filter((k) => this.fields[k] === undefined);
    return { verdict, ...this.fields, liveFiles, records: this.records, missing: requiredFields(this.engine, this.fields), absent };
  }
}
