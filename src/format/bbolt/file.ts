// A bbolt file read page by page: positioned reads of one page (plus its overflow) at a time through
// a 16 MiB block cache (blocks.ts), never the whole file, so a multi-GB db is checked in a few MB. Opening finds the page size and both
// meta pages the way bbolt's Open does (db.go getPageSize, mmap, meta()).
import { readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { BlockCache } from './blocks';
import { ELEMENT_SIZE, MAGIC, META_END, PAGE_HEADER_SIZE, pageHeader, parseMeta, type MetaFields, type PageHeader } from './layout';

/**
 * The file is not a bbolt db we can read at all: missing, not a regular file, no bbolt meta page,
 * no usable page size, shorter than its two meta pages. The message names the file and the reason.
 * A bbolt file that is merely damaged is not an error: it gets a report with findings.
 */
export class BboltFileError extends Error {
  override name = 'BboltFileError' as const;
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

export const isBboltFileError = (e: unknown): e is BboltFileError => (e as { name?: unknown } | null)?.name === 'BboltFileError';

/** Page sizes we accept: a meta fits from 80 bytes, bbolt probes 1 KiB..16 MiB for meta 1. */
export const MIN_PAGE_SIZE = 512;
export const MAX_PAGE_SIZE = 16 << 20;

/**
 * Bytes of a page unit read up front: every element header of a page (at most 0xFFFF × 16) fits,
 * so only keys and values of a huge overflowing page are read on demand. A 1 GB value is never
 * loaded: values are bounds-checked, not read, unless they are buckets.
 */
const EAGER_BYTES = 2 << 20;

/** One page and its overflow pages, or an inline bucket's page inside its parent's value (id -1). */
export class PageUnit {
  readonly header: PageHeader;
  constructor(
    /** The page id it was read as (-1 for an inline page). */
    readonly id: number,
    /** The unit's first bytes: all of it up to EAGER_BYTES. */
    private head: Buffer,
    /** The unit's size in bytes: (1 + overflow) × page size, or an inline page's value length. */
    readonly size: number,
    private readonly file: BboltFile | null,
    /** head is a view of a block cache slot, overwritten by a later page read (blocks.ts). */
    private transient = false,
  ) {
    this.header = pageHeader(head);
  }

  static inline(bytes: Buffer): PageUnit {
    return new PageUnit(-1, bytes, bytes.length, null);
  }

  /**
   * Makes the unit's bytes its own, so that they (and keys taken from them from now on) outlive
   * later page reads. Returns whether it copied: keys taken before are then still views.
   */
  detach(): boolean {
    if (!this.transient) return false;
    this.head = Buffer.from(this.head);
    this.transient = false;
    return true;
  }

  /** Bytes [off, off+len) of the unit; the caller has checked they lie inside it. */
  bytes(off: number, len: number): Buffer {
    if (off + len <= this.head.length) return this.head.subarray(off, off + len);
    if (!this.file) throw new Error(`inline page: bytes ${off}+${len} outside its ${this.head.length}`);
    return this.file.readAt(this.id * this.file.pageSize + off, len);
  }

  /** The u32 at `off`, inside the unit. */
  u32(off: number): number {
    return off + 4 <= this.head.length ? this.head.readUInt32LE(off) : this.bytes(off, 4).readUInt32LE(0);
  }

  /** Whether `count` elements fit after the header. */
  elementsFit(): boolean {
    return PAGE_HEADER_SIZE + this.header.count * ELEMENT_SIZE <= this.size;
  }
}

export interface MetaPage extends Omit<MetaFields, 'error'> {
  page: 0 | 1;
  /** Meta.Validate's words, or ours for a valid meta whose page size is not the file's. */
  error?: string;
}

export class BboltFile {
  private readonly cache: BlockCache;
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly fileBytes: number,
    readonly pageSize: number,
    readonly metas: [MetaPage, MetaPage],
  ) {
    this.cache = new BlockCache(pageSize, fileBytes, (buf, len, pos) => readInto(fh, path, buf, len, pos));
  }

  /** Opens `path` read-only and reads both metas. Throws BboltFileError when it is not readable bbolt. */
  static async open(path: string): Promise<BboltFile> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw new BboltFileError(path, `cannot open: ${(e as Error).message}`);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new BboltFileError(path, 'not a regular file');
      const size = st.size;
      const at = (pos: number, len: number) => readExactly(fh, path, pos, Math.min(len, size - pos));
      if (size < META_END) throw new BboltFileError(path, `not a bbolt file: ${size} bytes, shorter than a meta page`);
      const meta0 = parseMeta(at(0, META_END));
      const pageSize = findPageSize(path, size, meta0, at);
      if (size < 2 * pageSize) {
        throw new BboltFileError(path, `truncated: ${size} bytes, but a bbolt file of ${pageSize}-byte pages holds at least its 2 meta pages (${2 * pageSize} bytes)`);
      }
      const meta1 = parseMeta(at(pageSize, META_END));
      const metas: [MetaPage, MetaPage] = [{ page: 0, ...meta0 }, { page: 1, ...meta1 }];
      for (const m of metas) if (!m.error && m.pageSize !== pageSize) m.error = `page size ${m.pageSize}, not the file's ${pageSize}`;
      return new BboltFile(path, fh, size, pageSize, metas);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** The meta bbolt would use (db.meta()): the higher txid if valid, else the other if valid, else none. */
  activeMeta(): 0 | 1 | null {
    const [m0, m1] = this.metas;
    const a = m1.txid > m0.txid ? m1 : m0;
    const b = a === m0 ? m1 : m0;
    return !a.error ? a.page : !b.error ? b.page : null;
  }

  /** Pages wholly inside the file. */
  get filePages(): number {
    return Math.floor(this.fileBytes / this.pageSize);
  }

  /**
   * Page `id` and its overflow pages, as far as they lie in the file (size is then what there is).
   * The caller has checked that page `id` itself lies in the file. Its bytes may be overwritten by
   * the next readPage unless detached (PageUnit.detach).
   */
  readPage(id: number): PageUnit {
    const { buf: first, transient } = this.cache.get(id * this.pageSize, this.pageSize);
    const { overflow } = pageHeader(first);
    if (overflow === 0) return new PageUnit(id, first, this.pageSize, this, transient);
    const size = Math.min((1 + overflow) * this.pageSize, this.fileBytes - id * this.pageSize);
    const head = size <= this.pageSize ? first : Buffer.concat([first, this.readAt((id + 1) * this.pageSize, Math.min(size, EAGER_BYTES) - this.pageSize)]);
    return new PageUnit(id, head, size, this);
  }

  /**
   * Synchronous positioned read. The checker reads small pages and yields to the event loop every
   * few thousand pages: a read from the page cache is a few µs, where a libuv round trip per read
   * would cost more than the check itself.
   */
  readAt(pos: number, len: number): Buffer {
    return readExactly(this.fh, this.path, pos, len);
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

function readExactly(fh: FileHandle, path: string, pos: number, len: number): Buffer {
  const buf = Buffer.allocUnsafe(len);
  readInto(fh, path, buf, len, pos);
  return buf;
}

function readInto(fh: FileHandle, path: string, buf: Buffer, len: number, pos: number): void {
  let done = 0;
  while (done < len) {
    const n = readSync(fh.fd, buf, done, len - done, pos + done);
    if (n === 0) throw new BboltFileError(path, `short read at byte ${pos + done}: the file shrank while being read`);
    done += n;
  }
}

const plausible = (size: number) => size >= MIN_PAGE_SIZE && size <= MAX_PAGE_SIZE;

/**
 * The page size as bbolt finds it: from meta 0 if valid; else from a valid meta 1, probed at
 * 1 KiB << i (i ≤ 14) as bbolt's getPageSizeFromSecondMeta does; else, so that a file whose two
 * metas are both damaged still gets a report, from meta 0's field when it carries the magic. A
 * valid meta with an unusable size (0, absurd) is passed over for the next, and named if none is left.
 */
function findPageSize(path: string, size: number, meta0: MetaFields, at: (pos: number, len: number) => Buffer): number {
  const unusable: string[] = [];
  if (!meta0.error) {
    if (plausible(meta0.pageSize)) return meta0.pageSize;
    unusable.push(`meta page 0 says ${meta0.pageSize}`);
  }
  let sawMagic = meta0.error !== 'invalid database';
  for (let i = 0; i <= 14; i++) {
    const pos = 1024 << i;
    if (pos >= size - 1024) break;
    const m = parseMeta(at(pos, META_END));
    sawMagic ||= m.error !== 'invalid database';
    if (m.error) continue;
    if (plausible(m.pageSize)) return m.pageSize;
    unusable.push(`meta page 1 (at byte ${pos}) says ${m.pageSize}`);
  }
  if (unusable.length) throw new BboltFileError(path, `no usable page size: ${unusable.join(', ')}; a bbolt page is ${MIN_PAGE_SIZE} to ${MAX_PAGE_SIZE} bytes`);
  if (!sawMagic) throw new BboltFileError(path, 'not a bbolt file: no meta page carries the bbolt magic 0xED0CDAED');
  if (meta0.magic === MAGIC && plausible(meta0.pageSize)) return meta0.pageSize;
  throw new BboltFileError(path, `no valid meta page gives the page size (meta page 0: ${meta0.error})`);
}
