// Git LFS pointer files (formats.md section 2; git-lfs `docs/spec.md`, `lfs/pointer.go`):
//
//   version https://git-lfs.github.com/spec/v1\n
//   [ext-{prio}-{name} sha256:{hex}\n ...]
//   oid sha256:{64 lowercase hex}\n
//   size {decimal}\n
//
// Plain TypeScript, no I/O: safe to import from workflow code. The oid of a pointer becomes a path
// in the object store (`.git/lfs/objects/aa/bb/<oid>`), so it is validated strictly everywhere.

/** The three version URLs git-lfs accepts (`lfs/pointer.go` `v1Aliases`). */
export const LFS_VERSION_ALIASES = ['https://git-lfs.github.com/spec/v1', 'https://hawser.github.com/spec/v1', 'http://git-media.io/v/2'] as const;

/** The version line every pointer git-lfs writes begins with. */
export const LFS_POINTER_PREFIX = 'version https://git-lfs.github.com/spec/v1';

/** Pointers are strictly smaller than this (`lfs/scanner.go` `BlobSizeCutoff`). */
export const LFS_POINTER_MAX_BYTES = 1024;

/** sha256 of the empty string: the oid of empty content, whose pointer is the empty file. */
export const LFS_EMPTY_OID = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const OID_RE = /^[0-9a-f]{64}$/;
const KEY_RE = /^[a-z0-9.-]+$/;
const EXT_KEY_RE = /^ext-(\d)-(\w+)$/;

/** A pointer extension line, `ext-{priority}-{name} sha256:{oid}`. */
export interface LfsPointerExtension {
  priority: number;
  name: string;
  oid: string;
}

export interface LfsPointer {
  /** sha256 of the object's content: 64 lowercase hex digits, checked. */
  oid: string;
  /** Content size in bytes. */
  size: number;
  /**
   * Present only when the pointer names extensions: the stored object is then the output of
   * those extensions' clean filters, not the working-tree bytes. Copying the object back does not
   * reproduce the file; the store refuses such pointers.
   */
  extensions?: LfsPointerExtension[];
}

/** What is wrong with a pointer-looking text, as a stable code (the message gives the detail). */
export type LfsPointerProblem =
  | 'too-large'
  | 'not-utf8'
  | 'missing-version'
  | 'invalid-version'
  | 'invalid-line'
  | 'invalid-key'
  | 'invalid-extension'
  /** A valid pointer this code cannot act on: it names extensions (only the store raises it). */
  | 'unsupported-extension'
  | 'missing-oid'
  | 'invalid-oid-type'
  | 'invalid-oid'
  | 'missing-size'
  | 'invalid-size'
  | 'extra-line';

/**
 * A text that looks like a Git LFS pointer but breaks the spec: an oid that is not 64 lowercase
 * hex digits (possibly a path traversal attempt), a size that is not a non-negative integer, no
 * version line, unknown keys, 1024 bytes or more.
 *
 * The file or blob is damaged, hand-edited, or crafted. Do not retry and never use its oid as a
 * path: report `problem` and look for the pointer elsewhere (HEAD, an older commit) or treat the
 * file as unrestorable.
 */
export class LfsPointerError extends Error {
  override name = 'LfsPointerError' as const;

  constructor(
    readonly problem: LfsPointerProblem,
    /** The detail, in the words git-lfs uses where it has some ("Invalid Oid: …"). */
    readonly reason: string,
  ) {
    super(`invalid LFS pointer: ${reason}`);
  }
}

/** True for an LfsPointerError, also across realms and after serialization (matches by name). */
export const isLfsPointerError = (error: unknown): error is LfsPointerError =>
  error instanceof LfsPointerError || (error as { name?: unknown } | null)?.name === 'LfsPointerError';

/** True when `oid` is a valid sha256 oid (64 lowercase hex digits): safe to use in a path. */
export function isLfsOid(oid: unknown): oid is string {
  return typeof oid === 'string' && OID_RE.test(oid);
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const looseDecoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

function toBytes(input: Uint8Array | string): Uint8Array {
  return typeof input === 'string' ? encoder.encode(input) : input;
}

/**
 * Cheap check: do these bytes begin with a pointer's version line (`version https://git-lfs.github.com/spec/v1`
 * or one of the two older aliases)? Reads at most the first 64 bytes; says nothing about validity.
 */
export function isLfsPointerText(input: Uint8Array | string): boolean {
  const head = typeof input === 'string' ? input.slice(0, 64) : looseDecoder.decode(input.subarray(0, 64));
  return LFS_VERSION_ALIASES.some((alias) => head.startsWith(`version ${alias}`));
}

/** Whitespace Go's `bytes.TrimSpace` strips (ASCII subset; pointers are ASCII). */
const trimSpace = (s: string) => s.replace(/^[\t\n\v\f\r ]+|[\t\n\v\f\r ]+$/g, '');

/**
 * Is this meant to be a pointer? It starts with a known version line; or its head holds no NUL
 * byte and its first non-blank line is a `version <url>` line or one of the other pointer keys
 * (`oid sha256:…`, `size N`, `ext-N-name …`).
 * Everything else (real content, empty files, other text) is "not a pointer".
 */
function looksLikePointer(bytes: Uint8Array): boolean {
  if (isLfsPointerText(bytes)) return true;
  const head = bytes.subarray(0, LFS_POINTER_MAX_BYTES);
  if (head.includes(0)) return false;
  const text = looseDecoder.decode(head).replace(/^[\t\n\v\f\r ]+/, '');
  return /^(version \S|oid sha256:|size \d|ext-\d-\w+ )/.test(text);
}

/**
 * Parse a Git LFS pointer.
 *
 * - `undefined`: the bytes are not a pointer (real content, other text). An empty input is the
 *   spec's pointer for empty content and yields `{ oid: LFS_EMPTY_OID, size: 0 }`.
 * - throws `LfsPointerError`: the bytes look like a pointer (first line `version …`, `oid sha256:…`,
 *   `size …` or `ext-…`) but break the spec: 1024 bytes or more, not UTF-8, missing or unknown
 *   version, keys out of order or unknown, an oid that is not 64 lowercase hex digits, a size that
 *   is not a non-negative safe integer, extra lines.
 *
 * Like git-lfs, surrounding whitespace is ignored, blank lines are skipped and `\r\n` is accepted;
 * the oid and size rules are exactly git-lfs's.
 */
export function parseLfsPointer(input: Uint8Array | string): LfsPointer | undefined {
  const bytes = toBytes(input);
  if (bytes.length === 0) return { oid: LFS_EMPTY_OID, size: 0 };
  if (!looksLikePointer(bytes)) return undefined;
  if (bytes.length >= LFS_POINTER_MAX_BYTES) {
    throw new LfsPointerError('too-large', `pointer is ${bytes.length} bytes; pointers are smaller than ${LFS_POINTER_MAX_BYTES}`);
  }
  let text: string;
  try {
    text = strictDecoder.decode(bytes);
  } catch {
    throw new LfsPointerError('not-utf8', 'pointer is not valid UTF-8');
  }

  const lines: Array<[key: string, value: string]> = [];
  for (const raw of trimSpace(text).split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') continue;
    const space = line.indexOf(' ');
    if (space <= 0) throw new LfsPointerError('invalid-line', `error reading line ${lines.length}: ${JSON.stringify(line)}`);
    const key = line.slice(0, space);
    if (!KEY_RE.test(key)) throw new LfsPointerError('invalid-key', `invalid key ${JSON.stringify(key)}`);
    lines.push([key, line.slice(space + 1)]);
  }

  let i = 0;
  const next = () => lines[i];

  // version
  const version = next();
  if (!version || version[0] !== 'version') throw new LfsPointerError('missing-version', 'Missing version');
  if (!(LFS_VERSION_ALIASES as readonly string[]).includes(version[1])) {
    throw new LfsPointerError('invalid-version', `Invalid version: ${JSON.stringify(version[1])}`);
  }
  i++;

  // ext-{prio}-{name} sha256:{oid}, sorted
  const extensions: LfsPointerExtension[] = [];
  for (let line = next(); line && line[0].startsWith('ext-'); line = next()) {
    const m = EXT_KEY_RE.exec(line[0]);
    if (!m) throw new LfsPointerError('invalid-extension', `invalid extension key ${JSON.stringify(line[0])}`);
    const extOid = parseOidValue(line[1]);
    extensions.push({ priority: Number(m[1]), name: m[2]!, oid: extOid });
    i++;
  }

  // oid
  const oidLine = next();
  if (!oidLine || oidLine[0] !== 'oid') {
    throw new LfsPointerError('missing-oid', oidLine ? `expected key "oid", got ${JSON.stringify(oidLine[0])}` : 'Invalid Oid: no oid line');
  }
  const oid = parseOidValue(oidLine[1]);
  i++;

  // size
  const sizeLine = next();
  if (!sizeLine || sizeLine[0] !== 'size') {
    throw new LfsPointerError('missing-size', sizeLine ? `expected key "size", got ${JSON.stringify(sizeLine[0])}` : 'no size line');
  }
  const size = parseSizeValue(sizeLine[1]);
  i++;

  const extra = next();
  if (extra) throw new LfsPointerError('extra-line', `extra line: ${JSON.stringify(`${extra[0]} ${extra[1]}`)}`);

  return extensions.length ? { oid, size, extensions } : { oid, size };
}

function parseOidValue(value: string): string {
  const colon = value.indexOf(':');
  if (colon < 0) throw new LfsPointerError('invalid-oid', `Invalid Oid value: ${JSON.stringify(value)}`);
  const type = value.slice(0, colon);
  if (type !== 'sha256') throw new LfsPointerError('invalid-oid-type', `Invalid Oid type: ${JSON.stringify(type)}`);
  const oid = value.slice(colon + 1);
  if (!OID_RE.test(oid)) throw new LfsPointerError('invalid-oid', `Invalid Oid: ${JSON.stringify(oid)}`);
  return oid;
}

function parseSizeValue(value: string): number {
  const size = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(size)) throw new LfsPointerError('invalid-size', `invalid size: ${JSON.stringify(value)}`);
  return size;
}

/** Throws LfsPointerError unless `oid` is 64 lowercase hex digits. */
export function assertLfsOid(oid: unknown): asserts oid is string {
  if (!isLfsOid(oid)) throw new LfsPointerError('invalid-oid', `Invalid Oid: ${JSON.stringify(oid)}`);
}

/**
 * The canonical pointer text git-lfs writes (`Pointer.Encoded()`), ending in a newline. A size-0
 * pointer is the empty string, as in git-lfs. Throws LfsPointerError for an invalid oid or size.
 */
export function formatLfsPointer(pointer: LfsPointer): string {
  assertLfsOid(pointer.oid);
  if (!Number.isSafeInteger(pointer.size) || pointer.size < 0) {
    throw new LfsPointerError('invalid-size', `invalid size: ${JSON.stringify(pointer.size)}`);
  }
  if (pointer.size === 0) return ''; // git-lfs `Encoded()`: empty content's pointer is the empty file
  const exts = [...(pointer.extensions ?? [])].sort((a, b) => a.priority - b.priority);
  const extLines = exts.map((e) => {
    if (!Number.isInteger(e.priority) || e.priority < 0 || e.priority > 9 || !/^\w+$/.test(e.name)) {
      throw new LfsPointerError('invalid-extension', `invalid extension ${JSON.stringify(e)}`);
    }
    assertLfsOid(e.oid);
    return `ext-${e.priority}-${e.name} sha256:${e.oid}\n`;
  });
  return `${LFS_POINTER_PREFIX}\n${extLines.join('')}oid sha256:${pointer.oid}\nsize ${pointer.size}\n`;
}

/**
 * Where the object for `oid` lives, relative to the git dir: `lfs/objects/aa/bb/<oid>`.
 * Throws LfsPointerError unless the oid is 64 lowercase hex digits, so the result never escapes
 * the object store.
 */
export function lfsObjectRelPath(oid: string): string {
  assertLfsOid(oid);
  return `lfs/objects/${oid.slice(0, 2)}/${oid.slice(2, 4)}/${oid}`;
}
