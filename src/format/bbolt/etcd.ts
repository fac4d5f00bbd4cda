// etcd's state as its bbolt db holds it (etcd 3.4 `member/snap/db`, or an `etcdctl snapshot save`
// file), read in the checker's one walk, so that a damaged db is read as far as it can be. Facts
// checked against Debian's etcd 3.4.23 (test/format/etcd-state.test.ts):
// - bucket `key`: key = revision, 8-byte big-endian main revision, '_', 8-byte big-endian sub
//   revision (17 bytes), plus 't' for a tombstone (18 bytes); value = mvccpb.KeyValue (1 key,
//   2 create_revision, 3 mod_revision, 4 version, 5 value, 6 lease). A tombstone's value holds
//   only the key.
// - bucket `meta`: `consistent_index` (8-byte big-endian); after a compaction `scheduledCompactRev`
//   and `finishedCompactRev`, both 17-byte revisions like the key bucket's keys.
import protobuf from 'protobufjs';
import { checkBbolt, type CheckBboltOptions } from './check';
import type { BboltReport } from './report';

export interface EtcdDbState {
  /** The checker's report of the walk this state was read in. */
  report: BboltReport;
  /**
   * The revision etcd serves after opening this db: the highest main revision in bucket `key`,
   * raised to `compactRevision` (etcd's kvstore restore does this, because a compaction can remove
   * the newest revisions when they were deletes). null: neither is there.
   */
  revision: number | null;
  /** Entries read in bucket `key`: every stored revision, tombstones included. */
  revisions: number;
  /** User keys whose newest revision is not a tombstone: what `etcdctl get "" --prefix` counts. */
  liveKeys: number;
  /** meta/consistent_index: the raft index etcd applied last; null if absent or malformed. */
  consistentIndex: number | null;
  /** The main revision of meta/finishedCompactRev; null if etcd never finished a compaction. */
  compactRevision?: number | null;
  /** Entries of bucket `key` whose revision key or KeyValue does not decode (counted, skipped). */
  undecodable: number;
  /** Live user keys as latin1 strings (one char a byte: lossless), only with `collectKeys`. */
  keys?: Set<string>;
}

export type ReadEtcdDbOptions = CheckBboltOptions & { collectKeys?: boolean };

const KEY_BUCKET = 'key';
const META_BUCKET = 'meta';
const REVISION_BYTES = 17;
const TOMBSTONE = 0x74; // 't'
const SEPARATOR = 0x5f; // '_'

/** The newest revision seen of one user key. */
interface Newest {
  main: number;
  sub: number;
  tombstone: boolean;
}

/**
 * Reads `path` (a bbolt file) as etcd's db. Throws BboltFileError when it is no readable bbolt file;
 * damage otherwise gives findings in `report` and a state read from what the walk reached.
 */
export async function readEtcdDb(path: string, opts: ReadEtcdDbOptions = {}): Promise<EtcdDbState> {
  const { collectKeys, onEntry, ...checkOpts } = opts;
  // Per user key, the entry with the highest revision: a damaged tree can be walked out of order.
  const newest = new Map<string, Newest>();
  let revisions = 0;
  let undecodable = 0;
  let highest: number | null = null;
  let consistentIndex: number | null = null;
  let compactRevision: number | null = null;

  const report = await checkBbolt(path, {
    ...checkOpts,
    onEntry(bucket, key, value) {
      onEntry?.(bucket, key, value);
      if (bucket === META_BUCKET) {
        const name = key.toString('latin1');
        if (name === 'consistent_index') consistentIndex = value.length === 8 ? u64be(value) : null;
        else if (name === 'finishedCompactRev') compactRevision = value.length >= 8 ? u64be(value) : null;
        return;
      }
      if (bucket !== KEY_BUCKET) return;
      revisions++;
      const rev = parseRevision(key);
      const userKey = rev && userKeyOf(value);
      if (!rev || userKey === null) {
        undecodable++;
        return;
      }
      if (highest === null || rev.main > highest) highest = rev.main;
      const seen = newest.get(userKey);
      if (!seen || rev.main > seen.main || (rev.main === seen.main && rev.sub > seen.sub)) newest.set(userKey, rev);
    },
  });

  let liveKeys = 0;
  const keys = collectKeys ? new Set<string>() : undefined;
  for (const [userKey, rev] of newest) {
    if (rev.tombstone) continue;
    liveKeys++;
    keys?.add(userKey);
  }
  const revision = highest === null ? compactRevision : compactRevision === null ? highest : Math.max(highest, compactRevision);
  return { report, revision, revisions, liveKeys, consistentIndex, compactRevision, undecodable, ...(keys ? { keys } : {}) };
}

/**
 * Keys of `before` that `after` lacks: how many, and the first `sample` in byte order, as UTF-8
 * text for an operator (a key that is not UTF-8 shows U+FFFD where its bytes do not decode).
 */
export function missingKeys(before: Set<string>, after: Set<string>, sample = 10): { count: number; first: string[] } {
  let count = 0;
  const first: string[] = []; // sorted, at most `sample` long
  for (const key of before) {
    if (after.has(key)) continue;
    count++;
    if (sample <= 0 || (first.length === sample && key >= first[sample - 1]!)) continue;
    // latin1 strings compare char by char as their bytes do.
    let at = first.length;
    while (at > 0 && first[at - 1]! > key) at--;
    first.splice(at, 0, key);
    if (first.length > sample) first.pop();
  }
  return { count, first: first.map((k) => Buffer.from(k, 'latin1').toString('utf8')) };
}

/** An 8-byte big-endian unsigned at the start of `b`; null above 2^53 (no real revision or index is). */
function u64be(b: Buffer): number | null {
  const high = b.readUInt32BE(0);
  if (high >= 0x20_0000) return null;
  return high * 0x1_0000_0000 + b.readUInt32BE(4);
}

/** A key bucket key: `main '_' sub` (17 bytes), `'t'` appended for a tombstone; null if malformed. */
function parseRevision(key: Buffer): Newest | null {
  const tombstone = key.length === REVISION_BYTES + 1 && key[REVISION_BYTES] === TOMBSTONE;
  if ((key.length !== REVISION_BYTES && !tombstone) || key[8] !== SEPARATOR) return null;
  const main = u64be(key);
  const sub = u64be(key.subarray(9));
  return main === null || sub === null ? null : { main, sub, tombstone };
}

/**
 * The user key (field 1) of a mvccpb.KeyValue, as a latin1 string; null if the message does not
 * decode or has no key (etcd refuses an empty key). Other fields are skipped by wire type.
 */
function userKeyOf(value: Buffer): string | null {
  const reader = protobuf.Reader.create(new Uint8Array(value.buffer, value.byteOffset, value.length));
  let key: string | null = null;
  try {
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field === 0) return null;
      if (field === 1 && wire === 2) {
        // A view of the value: copied out as a string at once (the value's block is reused).
        const bytes = reader.bytes();
        key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
      } else {
        reader.skipType(wire);
      }
    }
  } catch {
    return null; // truncated or a bad wire type: protobufjs throws RangeError/Error
  }
  return key ? key : null;
}
