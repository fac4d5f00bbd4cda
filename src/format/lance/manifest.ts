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
  manifest: protobuf.Type;
  indexSection: protobuf.Type;
}
let types: Types | undefined;

/** Loads `table.proto` once, on first use. */
function loadTypes(): Types {
  if (!types) {
    const root = protobuf.loadSync(fileURLToPath(new URL('./table.proto', import.meta.url)));
    types = { manifest: root.lookupType('lance.table.Manifest'), indexSection: root.lookupType('lance.table.IndexSection') };
  }
  return types;
}

// Shapes of `Type.toObject(…, { longs: String, enums: Number })`: 64-bit values are decimal strings.
type U64 = string | number;
interface PbDataFile { path?: string; fileSizeBytes?: U64; baseId?: number }
interface PbDeletionFile { fileType?: number; readVersion?: U64; id?: U64; numDeletedRows?: U64; baseId?: number }
interface PbFragment { id?: U64; files?: PbDataFile[]; deletionFile?: PbDeletionFile; physicalRows?: U64 }
interface PbManifest {
  fragments?: PbFragment[];
  version?: U64;
  indexSection?: U64;
  timestamp?: { seconds?: U64; nanos?: number };
  readerFeatureFlags?: U64;
  writerFeatureFlags?: U64;
  transactionFile?: string;
}
interface PbIndexSection { indices?: { uuid?: { uuid?: Uint8Array }; name?: string; baseId?: number }[] }

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: Number, defaults: false };

/** Decodes one protobuf message from `bytes[start, end)`; errors name the byte where decoding stopped. */
function decode<T>(type: protobuf.Type, bytes: Uint8Array, start: number, end: number, file: string, what: string): T {
  const reader = protobuf.Reader.create(bytes.subarray(start, end));
  try {
    return type.toObject(type.decode(reader), TO_OBJECT) as T;
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new LanceFormatError(file, start + Math.min(reader.pos, end - start), `${what} protobuf does not decode (${detail})`);
  }
}

/** Reads a `[u32 len][proto]` section at `pos`, which must end at or before `limit`. */
function readSection<T>(type: protobuf.Type, bytes: Uint8Array, view: DataView, pos: number, limit: number, file: string, what: string): T {
  if (pos + 4 > limit) throw new LanceFormatError(file, pos, `${what} position is outside the file (section must end before byte ${limit})`);
  const len = view.getUint32(pos, true);
  if (pos + 4 + len > limit) throw new LanceFormatError(file, pos, `${what} length ${len} runs past byte ${limit}`);
  return decode<T>(type, bytes, pos + 4, pos + 4 + len, file, what);
}

/**
 * Parses a manifest file's bytes. Checks the footer as lance's `read_manifest` does, decodes the
 * Manifest and, when present, the IndexSection. Throws LanceFormatError (file, byte offset, reason).
 * Paths in the result are copied from the file unchecked: they are untrusted input.
 */
export function parseManifest(bytes: Uint8Array, file: string): LanceManifest {
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
  const pb = decode<PbManifest>(types.manifest, bytes, protoStart, footer, file, 'Manifest');
  const num = (value: U64 | undefined, field: string): number => toSafeNumber(value, field, file, protoStart);

  const fragments: LanceFragment[] = (pb.fragments ?? []).map((f) => {
    const id = num(f.id, 'DataFragment.id');
    const files: LanceDataFile[] = (f.files ?? []).map((d) => {
      if (!d.path) throw new LanceFormatError(file, protoStart, `fragment ${id} has a data file with an empty path`);
      const sizeBytes = num(d.fileSizeBytes, 'DataFile.file_size_bytes');
      return { path: d.path, ...(sizeBytes > 0 && { sizeBytes }), ...(d.baseId !== undefined && { baseId: d.baseId }) };
    });
    const physicalRows = num(f.physicalRows, 'DataFragment.physical_rows');
    let deletionFile: LanceDeletionFile | undefined;
    if (f.deletionFile) {
      const d = f.deletionFile;
      const type = d.fileType ?? 0;
      if (type !== 0 && type !== 1) throw new LanceFormatError(file, protoStart, `fragment ${id} has deletion file type ${type} (known: 0 ARROW_ARRAY, 1 BITMAP)`);
      const numDeletedRows = num(d.numDeletedRows, 'DeletionFile.num_deleted_rows');
      // read_version and id are u64: keep them exact as decimal strings.
      const path = `_deletions/${id}-${String(d.readVersion ?? 0)}-${String(d.id ?? 0)}.${type === 0 ? 'arrow' : 'bin'}`;
      deletionFile = { path, numDeletedRows, ...(d.baseId !== undefined && { baseId: d.baseId }) };
    }
    const deletedRows = deletionFile?.numDeletedRows ?? 0;
    if (deletedRows > physicalRows) {
      throw new LanceFormatError(file, protoStart, `fragment ${id} deletes ${deletedRows} of its ${physicalRows} rows`);
    }
    return { id, files, ...(deletionFile && { deletionFile }), physicalRows, deletedRows };
  });

  let indices: LanceIndex[] = [];
  if (pb.indexSection !== undefined) {
    const at = num(pb.indexSection, 'Manifest.index_section');
    const section = readSection<PbIndexSection>(types.indexSection, bytes, view, at, pos, file, 'IndexSection');
    indices = (section.indices ?? []).map((ix) => {
      const raw = ix.uuid?.uuid;
      if (!raw || raw.length !== 16) throw new LanceFormatError(file, at, `index ${JSON.stringify(ix.name ?? '')} has a ${raw?.length ?? 0}-byte uuid, not 16`);
      return { uuid: formatUuid(raw), name: ix.name ?? '', ...(ix.baseId !== undefined && { baseId: ix.baseId }) };
    });
  }

  const physicalRows = fragments.reduce((sum, f) => sum + f.physicalRows, 0);
  const deletedRows = fragments.reduce((sum, f) => sum + f.deletedRows, 0);
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
    const ms = num(pb.timestamp.seconds, 'Timestamp.seconds') * 1000 + Math.floor((pb.timestamp.nanos ?? 0) / 1e6);
    const date = new Date(ms);
    if (Number.isNaN(date.getTime())) throw new LanceFormatError(file, protoStart, `timestamp ${ms} ms is out of range`);
    manifest.timestamp = date.toISOString();
  }
  return manifest;
}

function toSafeNumber(value: U64 | undefined, field: string, file: string, offset: number): number {
  if (value === undefined) return 0;
  const n = BigInt(value);
  if (n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) throw new LanceFormatError(file, offset, `${field} is ${n}, beyond what this tool handles`);
  return Number(n);
}

/** 16 bytes as canonical lowercase 8-4-4-4-12 hex. */
function formatUuid(bytes: Uint8Array): string {
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
