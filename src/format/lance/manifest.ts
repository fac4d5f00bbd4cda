// Lance manifest files (`_versions/*.manifest`): names and bytes. See formats.md section 1.
//
// File layout, as lance's `write_manifest` writes it (all integers little-endian):
//
//   [u32 len][IndexSection proto]        optional; offset in Manifest.index_section (6)
//   [u32 len][Transaction proto]         optional; offset in Manifest.transaction_section (21)
//   [u32 len][Manifest proto]            manifest_pos points at the u32
//   i64 manifest_pos | i16 major | i16 minor | "LANC"      16-byte footer
//
// The reader requires len(file) >= 16, the trailing magic, and the u32 at manifest_pos to equal
// file_size - manifest_pos - 4 - 16. These constants are part of the wire format.
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { LanceFormatError } from './errors';

/** Footer: i64 manifest_pos, i16 major, i16 minor, "LANC". */
export const FOOTER_SIZE = 16;
export const MAGIC = 'LANC';
/** The `_versions/` folder under a table root. */
export const VERSIONS_DIR = '_versions';

const U64_MAX = (1n << 64n) - 1n;
const MANIFEST_SUFFIX = '.manifest';

export type ManifestNamingScheme = 'v1' | 'v2';

export interface LanceDataFile {
  /** Relative to the table's `data/` folder, exactly as the manifest records it (untrusted). */
  path: string;
  /** Size the manifest records; undefined when it records 0 (= unknown). */
  sizeBytes?: number;
  /** Manifest.base_paths id when the file lives under another base path (shallow clone, import). */
  baseId?: number;
}

export interface LanceDeletionFile {
  /** Relative to the table root: `_deletions/{fragment_id}-{read_version}-{id}.{arrow|bin}`. */
  path: string;
  numDeletedRows: number;
  /** Manifest.base_paths id when the file lives under another base path. */
  baseId?: number;
}

export interface LanceFragment {
  id: number;
  files: LanceDataFile[];
  deletionFile?: LanceDeletionFile;
  /** Rows in the data files, including deleted ones. */
  physicalRows: number;
  deletedRows: number;
}

export interface LanceIndex {
  /** Canonical 8-4-4-4-12 lowercase hex; the index lives in `_indices/<uuid>/`. */
  uuid: string;
  name: string;
  /** Manifest.base_paths id when the index lives under another base path. */
  baseId?: number;
}

export interface LanceManifest {
  version: number;
  fragments: LanceFragment[];
  physicalRows: number;
  deletedRows: number;
  /** physicalRows - deletedRows: what `countRows()` answers for this version. */
  rows: number;
  /** Relative to `_transactions/` (untrusted); undefined when the manifest names none. */
  transactionFile?: string;
  indices: LanceIndex[];
  readerFeatureFlags: number;
  writerFeatureFlags: number;
  /** Commit time, ISO 8601. */
  timestamp?: string;
}

/**
 * Parses a `_versions/` entry name. V1 is `{version}.manifest`; V2 is exactly 20 digits holding
 * u64::MAX - version. Detached versions (`d…`), staging files (`….manifest-<uuid>`),
 * `latest_version_hint.json` and anything else give undefined, as lance ignores them.
 */
export function parseManifestName(fileName: string): { version: number; scheme: ManifestNamingScheme } | undefined {
  if (!fileName.endsWith(MANIFEST_SUFFIX)) return undefined;
  const stem = fileName.slice(0, -MANIFEST_SUFFIX.length);
  if (!/^\d+$/.test(stem)) return undefined;
  const n = BigInt(stem);
  if (n > U64_MAX) return undefined;
  // lance's detect_scheme: a 29-character name (20 digits + ".manifest") is V2, others V1.
  const scheme: ManifestNamingScheme = stem.length === 20 ? 'v2' : 'v1';
  const version = scheme === 'v2' ? U64_MAX - n : n;
  if (version > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return { version: Number(version), scheme };
}

/** The `_versions/` entry name lance writes for `version` under `scheme`. */
export function manifestFileName(version: number, scheme: ManifestNamingScheme): string {
  if (!Number.isSafeInteger(version) || version < 0) throw new RangeError(`not a manifest version: ${version}`);
  if (scheme === 'v1') return `${version}${MANIFEST_SUFFIX}`;
  return `${(U64_MAX - BigInt(version)).toString().padStart(20, '0')}${MANIFEST_SUFFIX}`;
}

// --- protobuf -----------------------------------------------------------------------------------

interface Types {
  /** `ShallowManifest`: the Manifest with each DataFragment left as its encoded bytes. */
  manifest: protobuf.Type;
  fragment: protobuf.Type;
  indexSection: protobuf.Type;
}
let types: Types | undefined;

/** Loads `table.proto` once, on first use. */
function loadTypes(): Types {
  if (!types) {
    const root = protobuf.loadSync(fileURLToPath(new URL('./table.proto', import.meta.url)));
    types = {
      manifest: root.lookupType('lance.table.ShallowManifest'),
      fragment: root.lookupType('lance.table.DataFragment'),
      indexSection: root.lookupType('lance.table.IndexSection'),
    };
  }
  return types;
}

// Shapes of decoded messages, read field by field (no toObject). protobufjs gives 64-bit values as
// Long (or as a number when long.js is absent); unset fields read their default from the prototype
// (0, "", null, a frozen []), and `optional` fields are own properties only when present. `bytes`
// values are views of the decoded buffer (an empty one may be a buffer of its own).
interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
  toString(): string;
}
type U64 = LongLike | number;
interface PbDataFile { path: string; fileSizeBytes: U64; baseId?: number | null }
interface PbDeletionFile { fileType: number; readVersion: U64; id: U64; numDeletedRows: U64; baseId?: number | null }
interface PbFragment { id: U64; files: PbDataFile[]; deletionFile: PbDeletionFile | null; physicalRows: U64 }
interface PbManifest {
  fragments: Uint8Array[];
  version: U64;
  indexSection?: U64;
  timestamp: { seconds: U64; nanos: number } | null;
  readerFeatureFlags: U64;
  writerFeatureFlags: U64;
  transactionFile: string;
}
interface PbIndexSection { indices: { uuid: { uuid: Uint8Array } | null; name: string; baseId?: number | null }[] }

const has = (message: object, field: string): boolean => Object.prototype.hasOwnProperty.call(message, field);

/**
 * Decodes one protobuf message, `slice`, found at byte `offset` of the file; errors name the byte
 * where decoding stopped. `slice` is a plain Uint8Array, not a Buffer: protobufjs then cuts `bytes`
 * fields with Uint8Array's own subarray, much cheaper than Buffer's (500,500 fragments in a
 * 1,000-version table).
 */
function decode<T>(type: protobuf.Type, slice: Uint8Array, offset: number, file: string, what: string): T {
  const reader = protobuf.Reader.create(slice);
  // Unknown fields are skipped, never kept (whatever the process-wide default says).
  reader.discardUnknown = true;
  try {
    return type.decode(reader) as unknown as T;
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new LanceFormatError(file, offset + Math.min(reader.pos, slice.length), `${what} protobuf does not decode (${detail})`);
  }
}

/** Reads a `[u32 len][proto]` section at `pos`, which must end at or before `limit`. */
function readSection<T>(type: protobuf.Type, bytes: Uint8Array, view: DataView, pos: number, limit: number, file: string, what: string): T {
  if (pos + 4 > limit) throw new LanceFormatError(file, pos, `${what} position is outside the file (section must end before byte ${limit})`);
  const len = view.getUint32(pos, true);
  if (pos + 4 + len > limit) throw new LanceFormatError(file, pos, `${what} length ${len} runs past byte ${limit}`);
  return decode<T>(type, bytes.subarray(pos + 4, pos + 4 + len), pos + 4, file, what);
}

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.compare(a, b) === 0;

/** Whether two views are non-empty and share one buffer. */
const sameBuffer = (a: Uint8Array, b: Uint8Array): boolean => a.buffer === b.buffer && a.length > 0 && b.length > 0;

/**
 * Parsed fragments by their encoded bytes, for parsing many manifests of one table: each version's
 * manifest repeats nearly every fragment of the version before, byte for byte, so with a cache a
 * fragment is decoded once per distinct encoding instead of once per version (a 1,000-version
 * table holds 500,500 fragment entries and about 1,000 distinct ones). Fragments parsed through a
 * cache are frozen and shared by every manifest that holds the same bytes: do not change them.
 * The cache keeps copies of the bytes it compares against, never views of its callers' buffers.
 *
 * Two lookups, both exact (bytes compared in full, never a hash alone):
 * - the run: the fragments of the manifest parsed last, with a copy of the bytes they span (from
 *   the first fragment's content to the end of the last). When a manifest's first fragments span
 *   the same bytes, they are those fragments: identical bytes read from the same start decode to
 *   the same fields. One comparison covers them all (the common case: versions parsed in order).
 * - by fragment: every distinct encoding seen, for the fragments the run does not cover.
 */
export class FragmentCache {
  /** Bucket (length and first bytes) -> entries; the bytes are compared in full. */
  readonly #buckets = new Map<number, { bytes: Uint8Array; fragment: LanceFragment }[]>();
  #run: { bytes: Uint8Array; length: number; firstLength: number; fragments: LanceFragment[] } | undefined;

  static #bucket(bytes: Uint8Array): number {
    const head = bytes.length >= 4 ? bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24) : 0;
    return (head ^ Math.imul(bytes.length, 0x9e3779b1)) & 0x3fffffff;
  }

  /** The parsed fragment for these bytes, if seen before. */
  get(bytes: Uint8Array): LanceFragment | undefined {
    const bucket = this.#buckets.get(FragmentCache.#bucket(bytes));
    if (bucket) for (const entry of bucket) if (equalBytes(entry.bytes, bytes)) return entry.fragment;
    return undefined;
  }

  /** Remembers `fragment` (frozen from now on) as the parse of `bytes`. */
  set(bytes: Uint8Array, fragment: LanceFragment): void {
    const key = FragmentCache.#bucket(bytes);
    let bucket = this.#buckets.get(key);
    if (!bucket) this.#buckets.set(key, (bucket = []));
    bucket.push({ bytes: bytes.slice(), fragment: freezeFragment(fragment) });
  }

  /**
   * How many leading fragments of `encoded` (one manifest's fragments, views of its buffer) are
   * the run's fragments; those are written to `out`.
   */
  reuseRun(encoded: Uint8Array[], out: LanceFragment[]): number {
    const run = this.#run;
    const n = run?.fragments.length ?? 0;
    if (!run || n === 0 || encoded.length < n) return 0;
    const first = encoded[0]!;
    const last = encoded[n - 1]!;
    if (first.length !== run.firstLength || !sameBuffer(first, last)) return 0;
    if (last.byteOffset + last.length - first.byteOffset !== run.length) return 0;
    if (!equalBytes(new Uint8Array(first.buffer, first.byteOffset, run.length), run.bytes.subarray(0, run.length))) return 0;
    for (let i = 0; i < n; i++) out[i] = run.fragments[i]!;
    return n;
  }

  /** Makes `fragments` (parsed from `encoded`; the first `reused` came from reuseRun) the run. */
  setRun(encoded: Uint8Array[], fragments: LanceFragment[], reused: number): void {
    const first = encoded[0];
    const last = encoded[encoded.length - 1];
    if (!first || !last || !sameBuffer(first, last)) {
      this.#run = undefined;
      return;
    }
    const length = last.byteOffset + last.length - first.byteOffset;
    const run = this.#run;
    if (run && reused > 0 && reused === run.fragments.length) {
      // The manifest extends the run: append what follows it (usually one fragment).
      if (run.bytes.length < length) {
        const grown = new Uint8Array(Math.max(length, 2 * run.bytes.length));
        grown.set(run.bytes.subarray(0, run.length));
        run.bytes = grown;
      }
      run.bytes.set(new Uint8Array(first.buffer, first.byteOffset + run.length, length - run.length), run.length);
      run.length = length;
      for (let i = reused; i < fragments.length; i++) run.fragments.push(fragments[i]!);
      return;
    }
    // Fragments reach here through get/set or the run: frozen already.
    this.#run = { bytes: new Uint8Array(first.buffer, first.byteOffset, length).slice(), length, firstLength: first.length, fragments: [...fragments] };
  }
}

function freezeFragment(fragment: LanceFragment): LanceFragment {
  for (const f of fragment.files) Object.freeze(f);
  Object.freeze(fragment.files);
  if (fragment.deletionFile) Object.freeze(fragment.deletionFile);
  return Object.freeze(fragment);
}

export interface ParseManifestOptions {
  /** Reuse fragments parsed from earlier manifests (of the same table): see FragmentCache. */
  fragments?: FragmentCache;
}

/**
 * Parses a manifest file's bytes. Checks the footer as lance's `read_manifest` does, decodes the
 * Manifest and, when present, the IndexSection. Throws LanceFormatError (file, byte offset, reason).
 * Paths in the result are copied from the file unchecked: they are untrusted input. The result
 * holds no view of `input`: the caller may reuse its buffer.
 */
export function parseManifest(input: Uint8Array, file: string, options: ParseManifestOptions = {}): LanceManifest {
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  const size = bytes.length;
  if (size < FOOTER_SIZE) throw new LanceFormatError(file, 0, `file is ${size} bytes, smaller than the ${FOOTER_SIZE}-byte footer`);
  const magic = String.fromCharCode(...bytes.subarray(size - 4));
  if (magic !== MAGIC) throw new LanceFormatError(file, size - 4, `magic number is ${JSON.stringify(magic)}, not "${MAGIC}"`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const footer = size - FOOTER_SIZE;
  const pos64 = view.getBigInt64(footer, true);
  if (pos64 < 0n || pos64 + 4n > BigInt(footer)) {
    throw new LanceFormatError(file, footer, `manifest position ${pos64} is outside the file (${size} bytes)`);
  }
  const pos = Number(pos64);
  const len = view.getUint32(pos, true);
  const expected = size - pos - 4 - FOOTER_SIZE;
  if (len !== expected) throw new LanceFormatError(file, pos, `manifest length does not match: expected ${expected}, got ${len}`);

  const types = loadTypes();
  const protoStart = pos + 4;
  const pb = decode<PbManifest>(types.manifest, bytes.subarray(protoStart, footer), protoStart, file, 'Manifest');
  const num = (value: U64 | null | undefined, field: string): number => toSafeNumber(value, field, file, protoStart);

  const cache = options.fragments;
  const fragments: LanceFragment[] = new Array(pb.fragments.length);
  const reused = cache?.reuseRun(pb.fragments, fragments) ?? 0;
  let physicalRows = 0;
  let deletedRows = 0;
  for (let i = 0; i < reused; i++) {
    physicalRows += fragments[i]!.physicalRows;
    deletedRows += fragments[i]!.deletedRows;
  }
  for (let i = reused; i < pb.fragments.length; i++) {
    const encoded = pb.fragments[i]!;
    let fragment = cache?.get(encoded);
    if (!fragment) {
      const at = encoded.buffer === bytes.buffer ? encoded.byteOffset - bytes.byteOffset : protoStart;
      fragment = toFragment(decode<PbFragment>(types.fragment, encoded, at, file, 'Manifest'), num, file, protoStart);
      cache?.set(encoded, fragment);
    }
    fragments[i] = fragment;
    physicalRows += fragment.physicalRows;
    deletedRows += fragment.deletedRows;
  }
  cache?.setRun(pb.fragments, fragments, reused);

  let indices: LanceIndex[] = [];
  if (has(pb, 'indexSection')) {
    const at = num(pb.indexSection, 'Manifest.index_section');
    const section = readSection<PbIndexSection>(types.indexSection, bytes, view, at, pos, file, 'IndexSection');
    indices = section.indices.map((ix) => {
      const raw = ix.uuid?.uuid;
      if (!raw || raw.length !== 16) throw new LanceFormatError(file, at, `index ${JSON.stringify(ix.name)} has a ${raw?.length ?? 0}-byte uuid, not 16`);
      return { uuid: formatUuid(raw), name: ix.name, ...(ix.baseId != null && { baseId: ix.baseId }) };
    });
  }

  const manifest: LanceManifest = {
    version: num(pb.version, 'Manifest.version'),
    fragments,
    physicalRows,
    deletedRows,
    rows: physicalRows - deletedRows,
    indices,
    readerFeatureFlags: num(pb.readerFeatureFlags, 'Manifest.reader_feature_flags'),
    writerFeatureFlags: num(pb.writerFeatureFlags, 'Manifest.writer_feature_flags'),
  };
  if (pb.transactionFile) manifest.transactionFile = pb.transactionFile;
  if (pb.timestamp) {
    const ms = num(pb.timestamp.seconds, 'Timestamp.seconds') * 1000 + Math.floor(pb.timestamp.nanos / 1e6);
    const date = new Date(ms);
    if (Number.isNaN(date.getTime())) throw new LanceFormatError(file, protoStart, `timestamp ${ms} ms is out of range`);
    manifest.timestamp = date.toISOString();
  }
  return manifest;
}

function toFragment(f: PbFragment, num: (value: U64 | null | undefined, field: string) => number, file: string, protoStart: number): LanceFragment {
  const id = num(f.id, 'DataFragment.id');
  const files: LanceDataFile[] = f.files.map((d) => {
    if (!d.path) throw new LanceFormatError(file, protoStart, `fragment ${id} has a data file with an empty path`);
    const sizeBytes = num(d.fileSizeBytes, 'DataFile.file_size_bytes');
    return { path: d.path, ...(sizeBytes > 0 && { sizeBytes }), ...(d.baseId != null && { baseId: d.baseId }) };
  });
  const physicalRows = num(f.physicalRows, 'DataFragment.physical_rows');
  let deletionFile: LanceDeletionFile | undefined;
  if (f.deletionFile) {
    const d = f.deletionFile;
    const type = d.fileType;
    if (type !== 0 && type !== 1) throw new LanceFormatError(file, protoStart, `fragment ${id} has deletion file type ${type} (known: 0 ARROW_ARRAY, 1 BITMAP)`);
    const numDeletedRows = num(d.numDeletedRows, 'DeletionFile.num_deleted_rows');
    // read_version and id are u64: keep them exact as decimal strings.
    const path = `_deletions/${id}-${u64String(d.readVersion)}-${u64String(d.id)}.${type === 0 ? 'arrow' : 'bin'}`;
    deletionFile = { path, numDeletedRows, ...(d.baseId != null && { baseId: d.baseId }) };
  }
  const deletedRows = deletionFile?.numDeletedRows ?? 0;
  if (deletedRows > physicalRows) {
    throw new LanceFormatError(file, protoStart, `fragment ${id} deletes ${deletedRows} of its ${physicalRows} rows`);
  }
  return { id, files, ...(deletionFile && { deletionFile }), physicalRows, deletedRows };
}

const TWO_POW_32 = 0x1_0000_0000;
/** High 32 bits above this make a value > Number.MAX_SAFE_INTEGER (2^53 - 1). */
const SAFE_HIGH_MAX = 0x1f_ffff;

/** A non-negative 64-bit protobuf value as a number; LanceFormatError when it is negative or above 2^53 - 1. */
function toSafeNumber(value: U64 | null | undefined, field: string, file: string, offset: number): number {
  if (value == null) return 0;
  if (typeof value === 'number') {
    if (value < 0 || !Number.isSafeInteger(value)) throw new LanceFormatError(file, offset, `${field} is ${value}, beyond what this tool handles`);
    return value;
  }
  const high = value.high >>> 0;
  // A negative int64 has its top bit set, so it is refused here too.
  if (high > SAFE_HIGH_MAX) throw new LanceFormatError(file, offset, `${field} is ${value.toString()}, beyond what this tool handles`);
  return high * TWO_POW_32 + (value.low >>> 0);
}

/** A u64 protobuf value as its exact decimal string. */
function u64String(value: U64 | null | undefined): string {
  if (value == null) return '0';
  if (typeof value === 'number') return String(value);
  return value.high === 0 ? String(value.low >>> 0) : value.toString();
}

/** 16 bytes as canonical lowercase 8-4-4-4-12 hex. */
function formatUuid(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
