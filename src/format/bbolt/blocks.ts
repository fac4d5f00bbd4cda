// A small LRU of file blocks for page reads. Measured on a 2.3 GB db bbolt wrote (4 KiB pages,
// 1M keys, warm page cache, this 2-core VM): one pread into a fresh buffer per page cost ~10 µs,
// 5.3 s of a 6.4 s check. bbolt allocates the pages of one commit contiguously, so the walk's next
// page is mostly near the last: with 64 KiB blocks 92% of page reads hit a cached block, and with
// blocks read into buffers allocated once and reused the check took 2.1 s (bbolt's own check,
// through storectl, 2.7-3.1 s). A returned page is therefore a view that a later read may
// overwrite: PageUnit.detach() copies what must outlive it. A db whose pages are scattered would
// pay a 64 KiB read per page, so the cache watches its hit rate and reads single pages while
// blocks do not pay.

/** Blocks kept: 256 × 64 KiB = 16 MiB at most. */
const CAPACITY = 256;
const BLOCK_BYTES = 64 * 1024;
/** Lookups per verdict on whether blocks pay, and lookups of single pages before trying again. */
const WINDOW = 4096;
const BACKOFF = 32 * 1024;
/** Blocks pay when more than this share of lookups hit (a miss costs about four page reads). */
const MIN_HIT_RATE = 0.6;

export class BlockCache {
  /** Block index → slot, least recently used first. */
  private readonly lru = new Map<number, number>();
  private readonly slots: Buffer[] = [];
  /** Bytes read into each slot (the file's last block may be short). */
  private readonly filled: number[] = [];
  private readonly blockBytes: number;
  private hits = 0;
  private lookups = 0;
  /** Lookups left to read single pages for, before blocks are tried again. */
  private pagesOnly = 0;
  private scratch: Buffer | undefined;

  constructor(
    private readonly pageSize: number,
    private readonly fileBytes: number,
    private readonly readInto: (buf: Buffer, len: number, pos: number) => void,
  ) {
    this.blockBytes = Math.max(pageSize, Math.floor(BLOCK_BYTES / pageSize) * pageSize);
  }

  /**
   * Bytes [pos, pos+len) of the file (len ≤ one page, pos page-aligned) and whether the buffer is
   * transient: a view of a cache slot, valid only until the next get.
   */
  get(pos: number, len: number): { buf: Buffer; transient: boolean } {
    const index = Math.floor(pos / this.blockBytes);
    const off = pos - index * this.blockBytes;
    let slot = this.lru.get(index);
    if (slot !== undefined && off + len <= this.filled[slot]!) {
      this.lru.delete(index); // most recently used last
      this.lru.set(index, slot);
      if (this.pagesOnly === 0) this.count(true);
      return { buf: this.slots[slot]!.subarray(off, off + len), transient: true };
    }
    const start = index * this.blockBytes;
    const blockLen = Math.min(this.blockBytes, this.fileBytes - start);
    if (this.pagesOnly > 0 || this.blockBytes === this.pageSize || off + len > blockLen) {
      if (this.pagesOnly > 0) this.pagesOnly--;
      // One page into a reused buffer: transient too, and no allocation per page.
      this.scratch ??= Buffer.allocUnsafe(this.pageSize);
      this.readInto(this.scratch, len, pos);
      return { buf: this.scratch.subarray(0, len), transient: true };
    }
    this.count(false);
    if (this.lru.size < CAPACITY) {
      slot = this.slots.length;
      this.slots.push(Buffer.allocUnsafe(this.blockBytes));
    } else {
      const [oldest, reused] = this.lru.entries().next().value!;
      this.lru.delete(oldest);
      slot = reused;
    }
    this.filled[slot] = 0;
    this.readInto(this.slots[slot]!, blockLen, start);
    this.filled[slot] = blockLen;
    this.lru.set(index, slot);
    return { buf: this.slots[slot]!.subarray(off, off + len), transient: true };
  }

  private count(hit: boolean): void {
    this.lookups++;
    if (hit) this.hits++;
    if (this.lookups < WINDOW) return;
    if (this.hits / this.lookups < MIN_HIT_RATE) this.pagesOnly = BACKOFF;
    this.hits = this.lookups = 0;
  }
}
