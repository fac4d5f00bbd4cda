// checkBbolt: bbolt's tx.Check (tx_check.go), redone so that damage gives findings instead of a
// panic or a hang. The walk is iterative (an explicit stack of frames, one per page on the path),
// each page is expanded once (a page reached twice is reported, not walked again), and a child that
// is on the current path is a cycle: so a cycle can neither recurse nor loop. Memory is a few
// bytes per page of the file (first-parent array, freelist bitmap) plus one page per tree level.
import { setImmediate as tick } from 'node:timers/promises';
import { AbortError } from '../logstore/errors';
import { BboltFile, BboltFileError, PageUnit } from './file';
import { NONE, ROOT, isFreed, loadFreelist, outOfBounds, type Marks } from './freelist';
import { checkKeyOrder, readElement, type Frame } from './elements';
import { BRANCH_PAGE, BUCKET_HEADER_SIZE, BUCKET_LEAF_FLAG, LEAF_PAGE, PAGE_HEADER_SIZE, bucketName, goStack, pageTypeName, u64 } from './layout';
import { MAX_BUCKETS, MAX_FINDINGS, type BboltBucketKeys, type BboltFinding, type BboltReport } from './report';

export interface CheckBboltOptions {
  signal?: AbortSignal;
  /** Called every few thousand pages and at the end; `pages` is the high-water mark. */
  onProgress?: (p: { pagesVisited: number; pages: number }) => void;
  /** Walk this meta's tree instead of the active one's (what reverting to it would give); it must be valid. */
  meta?: 0 | 1;
  /**
   * Called for every key/value that is not a bucket, in walk order (which damage can disorder);
   * `bucket` is named as in stats.bucketKeys. `key` and `value` may be views of a cache block that
   * the next page read overwrites: copy what you keep. The value is read whole for the call.
   */
  onEntry?: (bucket: string, key: Buffer, value: Buffer) => void;
}

/** Reads `path` and reports what is wrong with it. Throws BboltFileError when it is no readable bbolt file. */
export async function checkBbolt(path: string, opts: CheckBboltOptions = {}): Promise<BboltReport> {
  const file = await BboltFile.open(path);
  try {
    return await new Checker(file, opts).run();
  } finally {
    await file.close();
  }
}

const YIELD_EVERY = 2048;
/** Deeper than any real tree (fan-out ≥ 2) times any sane bucket nesting: a longer path is damage. */
const MAX_DEPTH = 4096;

class Checker implements Marks {
  hwm = 0;
  nTrack = 0;
  parent = new Uint32Array(0);
  freed = new Uint8Array(0);
  private findings: BboltFinding[] = [];
  private dropped = 0;
  private path: number[] = [];
  private stack: Frame[] = [];
  private visited = 0;
  private buckets = 0;
  private keys = 0;
  private bucketKeys: BboltBucketKeys[] = [];

  constructor(
    readonly file: BboltFile,
    private readonly opts: CheckBboltOptions,
  ) {}

  add(f: BboltFinding): void {
    if (this.findings.length < MAX_FINDINGS) this.findings.push(f);
    else this.dropped++;
  }

  async run(): Promise<BboltReport> {
    const { file, opts } = this;
    if (opts.signal?.aborted) throw new AbortError(`bbolt check ${file.path}`, opts.signal.reason);
    const active = file.activeMeta();
    for (const m of file.metas) if (m.error) this.add({ code: 'meta-invalid', page: m.page, stack: [], message: `meta page ${m.page}: ${m.error}` });
    const walked = opts.meta ?? active;
    if (opts.meta !== undefined && file.metas[opts.meta].error) {
      throw new BboltFileError(file.path, `meta page ${opts.meta} is not valid (${file.metas[opts.meta].error}): its tree cannot be walked`);
    }
    let freePages: number | null = null;
    if (walked !== null) freePages = await this.walkMeta(walked);
    this.opts.onProgress?.({ pagesVisited: this.visited, pages: this.hwm });
    const root = this.bucketKeys[0];
    return {
      engine: 'bbolt',
      path: file.path,
      healthy: this.findings.length === 0,
      pageSize: file.pageSize,
      fileBytes: file.fileBytes,
      activeMeta: active,
      walkedMeta: walked,
      metas: file.metas.map((m) => ({
        page: m.page, txid: Number(m.txid), root: m.root, freelist: m.freelist, pgid: m.pgid, pageSize: m.pageSize,
        valid: !m.error, ...(m.error ? { error: m.error } : {}),
      })),
      findings: this.findings,
      findingsDropped: this.dropped,
      stats: {
        pagesVisited: this.visited,
        buckets: this.buckets,
        keys: this.keys,
        // The root bucket holds only buckets; listed only if damage put keys in it.
        bucketKeys: root && root.keys === 0 ? this.bucketKeys.slice(1) : this.bucketKeys,
        freePages,
      },
    };
  }

  /** Freelist, tree, then the pages neither reached nor free. Returns the free page count. */
  private async walkMeta(walked: 0 | 1): Promise<number> {
    const { file } = this;
    const meta = file.metas[walked];
    this.hwm = meta.pgid;
    this.nTrack = Math.min(meta.pgid, file.filePages);
    if (this.nTrack >= ROOT) throw new BboltFileError(file.path, `${this.nTrack} pages: too many to track`);
    if (meta.pgid > file.filePages) {
      const message = `meta page ${walked}: high-water mark ${meta.pgid} passes the end of the file (${file.filePages} whole pages of ${file.pageSize} bytes)`;
      this.add({ code: 'out-of-bounds', page: walked, stack: [], message });
    }
    this.parent = new Uint32Array(this.nTrack).fill(NONE);
    this.freed = new Uint8Array(Math.ceil(this.nTrack / 8));
    for (let id = 0; id < Math.min(2, this.nTrack); id++) this.parent[id] = ROOT;
    const freelist = meta.freelist === null ? null : loadFreelist(this, meta.freelist, walked);

    const rootBucket: BboltBucketKeys = { bucket: '', keys: 0, root: meta.root };
    this.bucketKeys.push(rootBucket);
    this.enter(meta.root, null, null, rootBucket, 0);
    let nextYield = YIELD_EVERY;
    while (this.stack.length > 0) {
      const f = this.stack[this.stack.length - 1]!;
      if (f.i >= f.unit.header.count) this.pop();
      else if (f.kind === 'branch') this.branchStep(f);
      else this.leafStep(f);
      if (this.visited >= nextYield) {
        nextYield = this.visited + YIELD_EVERY;
        await this.pause();
      }
    }

    // Below the high-water mark every page is reachable or free (tx_check's last loop). Without a
    // persisted freelist (etcd) bbolt rebuilds the freelist from exactly these pages: no finding.
    let unreached = 0;
    for (let id = 2; id < this.nTrack; id++) {
      if (this.parent[id] !== NONE || isFreed(this, id)) continue;
      unreached++;
      if (freelist?.usable) this.add({ code: 'unreachable-unfreed', page: id, stack: [], message: `page ${id}: unreachable unfreed` });
    }
    return freelist ? freelist.count : unreached;
  }

  private async pause(): Promise<void> {
    this.opts.onProgress?.({ pagesVisited: this.visited, pages: this.hwm });
    await tick();
    if (this.opts.signal?.aborted) throw new AbortError(`bbolt check ${this.file.path}`, this.opts.signal.reason);
  }

  /** Page ids from the root to `id` as first reached, from the parent array. */
  private firstStack(id: number): number[] {
    const out = [id];
    for (let p = this.parent[id]!; p !== ROOT && p !== NONE && out.length < MAX_DEPTH; p = this.parent[p]!) out.push(p);
    return out.reverse();
  }

  /**
   * Follows a reference (a branch element or a bucket's root) to page `id`: reports it and returns
   * false when it cannot be walked, else pushes its frame.
   */
  private enter(id: number, lo: Buffer | null, hi: Buffer | null, bucket: BboltBucketKeys, base: number): boolean {
    const stack = [...this.path, id];
    // bbolt's messages show the stack from the bucket's root page: so do ours. Built only for a
    // finding: this runs for every page.
    const bs = () => goStack(stack.slice(base));
    if (id >= this.nTrack) {
      this.add({ code: 'out-of-bounds', page: id, stack, message: outOfBounds(this, id, `stack: ${bs()}`) });
      return false;
    }
    const at = this.path.indexOf(id);
    if (at >= 0) {
      const cycle = stack.slice(at);
      this.add({ code: 'cycle', page: id, stack, cycle, message: `page ${id}: cycle ${cycle.join(' → ')}: page ${this.path[this.path.length - 1]} points at its ancestor ${id} (stack: ${bs()})` });
      return false;
    }
    if (this.parent[id] !== NONE) {
      this.add({ code: 'multiple-references', page: id, stack, firstStack: this.firstStack(id), message: `page ${id}: multiple references (stack: ${bs()})` });
      return false;
    }
    if (this.stack.length >= MAX_DEPTH) {
      this.add({ code: 'malformed-page', page: id, stack, message: `page ${id}: more than ${MAX_DEPTH} pages deep (stack: ${goStack(stack.slice(-8))}…)` });
      return false;
    }
    this.parent[id] = this.path.length ? this.path[this.path.length - 1]! : ROOT;
    const unit = this.file.readPage(id);
    this.visited++;
    const { flags, overflow, count } = unit.header;
    if (unit.header.id !== id) {
      this.add({ code: 'page-id-mismatch', page: id, stack, message: `page ${id}: Page expected to be: ${id}, but self identifies as ${unit.header.id} (stack: ${bs()})` });
    }
    if (isFreed(this, id)) this.add({ code: 'reachable-freed', page: id, stack, message: `page ${id}: reachable freed` });
    if (flags !== BRANCH_PAGE && flags !== LEAF_PAGE) {
      this.add({ code: 'invalid-page-type', page: id, stack, message: `page ${id}: invalid type: ${pageTypeName(flags)} (stack: ${bs()})` });
      return false;
    }
    if (id + overflow >= this.nTrack) {
      this.add({ code: 'out-of-bounds', page: id, stack, message: outOfBounds(this, id + overflow, `last overflow page of page ${id}, stack: ${bs()}`) });
      return false;
    }
    for (let k = id + 1; k <= id + overflow; k++) {
      if (this.parent[k] !== NONE) {
        this.add({ code: 'multiple-references', page: k, stack, firstStack: this.firstStack(k), message: `page ${k}: multiple references (overflow of page ${id}, stack: ${bs()})` });
        continue;
      }
      this.parent[k] = id;
      if (isFreed(this, k)) this.add({ code: 'reachable-freed', page: k, stack, message: `page ${k}: reachable freed` });
    }
    if (!unit.elementsFit()) {
      this.add({ code: 'malformed-page', page: id, stack, message: `page ${id}: ${count} elements do not fit in its ${unit.size} bytes (stack: ${bs()})` });
      return false;
    }
    // A branch's keys bound its children's, so they must outlive the reads below it (blocks.ts);
    // a leaf's are used before the next read, unless it holds a sub-bucket (leafStep).
    if (flags === BRANCH_PAGE) unit.detach();
    this.path.push(id);
    this.push(unit, id, flags === BRANCH_PAGE ? 'branch' : 'leaf', lo, hi, bucket, this.path.length - 1, base);
    return true;
  }

  private push(unit: PageUnit, page: number, kind: Frame['kind'], lo: Buffer | null, hi: Buffer | null, bucket: BboltBucketKeys, pathLen: number, base: number): void {
    this.stack.push({ unit, page, kind, i: 0, lo, hi, prev: lo, maxKey: null, sep: null, bucket, pathLen, base });
  }

  /** A page is done: the greatest key under it bounds its parent branch's next separator. */
  private pop(): void {
    const f = this.stack.pop()!;
    this.path.length = f.pathLen;
    const up = this.stack[this.stack.length - 1];
    // Copied: a leaf's key may be a view of a cache block the next read reuses.
    if (up?.kind === 'branch') up.prev = up.maxKey = f.maxKey ? Buffer.from(f.maxKey) : up.sep;
  }

  private branchStep(f: Frame): void {
    const i = f.i++;
    const e = readElement(f, i, this.path, this);
    if (!e) return;
    checkKeyOrder(f, i, e.key, this.path, this);
    // The child's keys lie in [this separator, the next one).
    const next = i + 1 < f.unit.header.count ? readElement(f, i + 1, this.path, this) : null;
    if (next === null && i + 1 < f.unit.header.count) f.i++; // reported; skip it
    f.sep = e.key;
    if (!this.enter(e.pgid, e.key, next ? next.key : f.hi, f.bucket, f.base)) f.prev = f.maxKey = e.key;
  }

  private leafStep(f: Frame): void {
    const i = f.i++;
    const e = readElement(f, i, this.path, this);
    if (!e) return;
    checkKeyOrder(f, i, e.key, this.path, this);
    f.prev = f.maxKey = e.key;
    if ((e.flags & BUCKET_LEAF_FLAG) === 0) {
      this.keys++;
      f.bucket.keys++;
      this.opts.onEntry?.(f.bucket.bucket, e.key, f.unit.bytes(e.valueAt, e.vsize));
      return;
    }
    this.buckets++;
    // The walk below reads other pages: this leaf's bytes, and the key kept as prev, must be its own.
    if (f.unit.detach()) f.prev = f.maxKey = Buffer.from(e.key);
    const name = f.bucket.bucket ? `${f.bucket.bucket}/${bucketName(e.key)}` : bucketName(e.key);
    const stack = [...this.path];
    if (e.vsize < BUCKET_HEADER_SIZE) {
      this.add({ code: 'malformed-page', page: f.page, stack, message: `page ${f.page}: bucket ${name}: value of ${e.vsize} bytes is shorter than a bucket header (16 bytes)` });
      return;
    }
    const root = u64(f.unit.bytes(e.valueAt, 8), 0);
    const tally: BboltBucketKeys = { bucket: name, keys: 0, root };
    if (this.bucketKeys.length < MAX_BUCKETS + 1) this.bucketKeys.push(tally);
    if (root !== 0) {
      this.enter(root, null, null, tally, this.path.length);
      return;
    }
    // An inline bucket: its page is the rest of the value. bbolt inlines only buckets that fit in a
    // quarter page, so one longer than a page is damage (and is not read).
    const size = e.vsize - BUCKET_HEADER_SIZE;
    if (size < PAGE_HEADER_SIZE || size > this.file.pageSize) {
      this.add({ code: 'malformed-page', page: f.page, stack, message: `page ${f.page}: inline bucket ${name}: a page of ${size} bytes cannot be an inline bucket` });
      return;
    }
    const unit = PageUnit.inline(f.unit.bytes(e.valueAt + BUCKET_HEADER_SIZE, size));
    if (unit.header.flags !== LEAF_PAGE) {
      this.add({ code: 'invalid-page-type', page: f.page, stack, message: `page ${f.page}: inline bucket ${name}: invalid type: ${pageTypeName(unit.header.flags)} (stack: ${goStack(stack)})` });
    } else if (!unit.elementsFit()) {
      this.add({ code: 'malformed-page', page: f.page, stack, message: `page ${f.page}: inline bucket ${name}: ${unit.header.count} elements do not fit in its ${size} bytes` });
    } else {
      this.push(unit, f.page, 'inline leaf', null, null, tally, this.path.length, f.base);
    }
  }
}
