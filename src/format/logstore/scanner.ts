// The one core of the log reader: an incremental scanner fed whole 32 KiB blocks (the last one may be
// short) that classifies a file into a LogVerdict. scanLogBytes and scanLogFile both drive it.
//
// Two modes. Main: every chunk is checked (type, header fit, log number, length, CRC, position) and
// complete records are counted. At the first problem the scanner switches to look-ahead: it
// resynchronises at chunk starts (after a chunk whose header is sound) and block boundaries, looking
// for a complete valid record (then the problem is corruption in the middle) and tracking the last
// non-zero byte (to tell a zeroed tail or a partial write from corruption). finish() decides; the
// rules for the ambiguous cases are in tailStatus() and listed in records.ts.
import { crc32c } from '@node-rs/crc32';
import { BLOCK_SIZE, FIRST, FULL, HEADER_SIZE, LAST, LEGACY_HEADER, MAX_TYPE, POSITION, RECYCLABLE_HEADER, WAL_SYNC_HEADER, formatOfType, maskCrc } from './chunk';
import type { CorruptionKind, LogRecord, LogVerdict } from './types';

// parse() results.
const OK = 0;
const ZERO = 1; // type 0, length 0: padding or preallocated zeros
const BAD_TYPE = 2;
const SHORT = 3; // the header does not fit in what is left of the block
const WRONG_LOG = 4;
const TRAILER = 5; // Pebble's EOF trailer: log number + 1 at a record start
const LONG = 6; // the length runs past the block
const BAD_CRC = 7;

const U32 = 2 ** 32;
const SECTOR = 512;
const ZEROS = Buffer.alloc(BLOCK_SIZE);
const NAMES = ['', 'FULL', 'FIRST', 'MIDDLE', 'LAST'];

export interface ScanOptions {
  onRecord?: (r: LogRecord) => void;
  /** The log's file number: recyclable chunks must carry its low 32 bits. Default: the first valid chunk's. */
  logNumber?: number;
  /** Copy payloads handed to onRecord (the file reader reuses its buffers). */
  copyPayloads?: boolean;
}

/** The first problem found in main mode. `tail` says which tail rule may still explain it. */
interface Problem {
  kind: CorruptionKind;
  offset: number;
  message: string;
  /** Start of the record the problem breaks (the open record's first chunk, else the chunk itself). */
  recordStart: number;
  tail: 'truncated' | 'zero' | 'checksum' | 'stale' | null;
  hdrEnd: number;
  chunkEnd: number;
  hs: number;
}

/** Index just past the last non-zero byte of buf[from, to), or -1 when all are zero. */
function lastNonZero(buf: Buffer, from: number, to: number): number {
  if (buf.compare(ZEROS, 0, to - from, from, to) === 0) return -1;
  let i = to - 1;
  while (buf[i] === 0) i--;
  return i + 1;
}

export class LogScanner {
  private expected: number | undefined;
  private format: LogVerdict['headerFormat'] = 'none';
  private fileBytes = 0;
  private records = 0;
  private validBytes = 0;
  private recStart = -1;
  private parts: Buffer[] = [];
  private problem: Problem | null = null;
  private stopped: NonNullable<LogVerdict['stoppedAt']> | null = null;
  private sawPartial = false;
  // Look-ahead state.
  private aheadOpen = false;
  private validAfter = false;
  private lastNonZeroEnd = 0;
  /** No more bytes can change the verdict (a valid record after the problem, or an EOF trailer). */
  done = false;
  // The chunk parse() looked at (block-relative end); one object, reused: no per-chunk allocation.
  private c = { type: 0, len: 0, hs: 0, end: 0 };

  constructor(private readonly opts: ScanOptions = {}) {
    if (opts.logNumber !== undefined) this.expected = opts.logNumber % U32;
  }

  /** Feeds buf[0, length): whole blocks, except that the file's last push may end with a short one. */
  push(buf: Buffer, length = buf.length): void {
    for (let base = 0; base < length && !this.done; base += BLOCK_SIZE) {
      if (this.sawPartial) throw new Error('LogScanner: bytes after a short block');
      const n = Math.min(BLOCK_SIZE, length - base);
      const offset = this.fileBytes;
      this.fileBytes += n;
      if (n < BLOCK_SIZE) this.sawPartial = true;
      if (this.problem === null) {
        const resume = this.main(buf, base, n, offset);
        if (resume >= 0 && !this.done) this.ahead(buf, base, resume, n);
      } else {
        const z = lastNonZero(buf, base, base + n);
        if (z >= 0) this.lastNonZeroEnd = offset + z - base;
        this.ahead(buf, base, 0, n);
      }
    }
  }

  /**
   * Reads the chunk at block position p (block = buf[base, base+n)) into this.c. Checks in Pebble's
   * order: zero header, type, header fit, log number, length, checksum.
   */
  private parse(buf: Buffer, base: number, p: number, n: number, atRecordStart: boolean): number {
    const i = base + p;
    const c = this.c;
    c.len = buf[i + 4]! | (buf[i + 5]! << 8);
    c.type = buf[i + 6]!;
    if (c.type === 0 && c.len === 0) return ZERO;
    if (c.type === 0 || c.type > MAX_TYPE) return BAD_TYPE;
    c.hs = HEADER_SIZE[c.type]!;
    c.end = p + c.hs + c.len;
    if (n - p < c.hs) return SHORT;
    const stored = buf.readUInt32LE(i);
    if (c.hs > LEGACY_HEADER) {
      const logNum = buf.readUInt32LE(i + 7);
      if (this.expected === undefined) {
        // An empty log recycled from another: its only chunk may be the trailer.
        if (atRecordStart && c.len === 0 && stored === 0 && c.type === FULL + 4) return TRAILER;
      } else if (logNum !== this.expected) {
        return atRecordStart && logNum === (this.expected + 1) % U32 ? TRAILER : WRONG_LOG;
      }
    }
    if (c.end > n) return LONG;
    if (maskCrc(crc32c(buf.subarray(i + 6, base + c.end))) !== stored) return BAD_CRC;
    // The log number is learnt only from a chunk whose checksum covers it.
    if (this.expected === undefined && c.hs > LEGACY_HEADER) this.expected = buf.readUInt32LE(i + 7);
    return OK;
  }

  /** Main mode over one block. Returns -1 when the block is done, else where look-ahead resumes. */
  private main(buf: Buffer, base: number, n: number, offset: number): number {
    const partial = n < BLOCK_SIZE;
    const c = this.c;
    let p = 0;
    for (;;) {
      const h = offset + p;
      const rem = n - p;
      if (rem < LEGACY_HEADER) {
        // A full block's last bytes are padding (the readers skip them unread). At EOF they are
        // preallocated zeros or a header cut short.
        if (!partial || rem === 0) return -1;
        if (lastNonZero(buf, base + p, base + n) < 0) return this.fail(buf, base, p, n, h, 'zeroed', 'zeros to EOF', 'zero', n);
        return this.fail(buf, base, p, n, h, 'length', 'incomplete chunk header at EOF', 'truncated', n);
      }
      const r = this.parse(buf, base, p, n, this.recStart < 0);
      if (r === OK) {
        const pos = POSITION[c.type]!;
        if (this.format === 'none') this.format = formatOfType(c.type);
        if (pos === FULL || pos === FIRST) {
          if (this.recStart >= 0) return this.fail(buf, base, p, n, h, 'orphan-chunk', `${NAMES[pos]} chunk inside a record: partial record without end`, null, p);
          if (pos === FIRST) this.recStart = h;
        } else if (this.recStart < 0) {
          return this.fail(buf, base, p, n, h, 'orphan-chunk', `orphan ${NAMES[pos]} chunk: no FIRST before it`, null, c.end);
        }
        if (this.opts.onRecord) this.collect(buf, base + p + c.hs, base + c.end);
        if (pos === FULL || pos === LAST) this.complete(pos === FULL ? h : this.recStart, offset + c.end);
        p = c.end;
        continue;
      }
      switch (r) {
        case ZERO:
          // Pebble's padding rule: under 11 bytes left, or under 19 all zero. In a short (last)
          // block, zeros are never padding: the writer pads only blocks it fills.
          if (!partial && (rem < RECYCLABLE_HEADER || (rem < WAL_SYNC_HEADER && lastNonZero(buf, base + p, base + n) < 0))) return -1;
          return this.fail(buf, base, p, n, h, 'zeroed', 'zero header', 'zero', n);
        case BAD_TYPE:
          return this.fail(buf, base, p, n, h, 'chunk-type', `invalid chunk type 0x${c.type.toString(16)}`, null, n);
        case SHORT:
          if (partial) return this.fail(buf, base, p, n, h, 'length', 'incomplete chunk header at EOF', 'truncated', n);
          return this.fail(buf, base, p, n, h, 'length', `a ${c.hs}-byte header does not fit the ${rem} bytes left in the block`, null, n);
        case TRAILER:
          this.stopped = { offset: h, reason: 'eof-trailer' };
          this.done = true;
          return -1;
        case WRONG_LOG: {
          const logNum = buf.readUInt32LE(base + p + 7);
          return this.fail(buf, base, p, n, h, 'log-number', `chunk of log ${logNum} in log ${this.expected}`, 'stale', c.end <= n ? c.end : n);
        }
        case LONG:
          if (partial && p + c.hs + c.len <= BLOCK_SIZE) return this.fail(buf, base, p, n, h, 'length', 'chunk length runs past EOF', 'truncated', n);
          return this.fail(buf, base, p, n, h, 'length', 'chunk length overflows block (bad record length)', null, n);
        default:
          return this.fail(buf, base, p, n, h, 'checksum', 'checksum mismatch', 'checksum', c.end);
      }
    }
  }

  private collect(buf: Buffer, from: number, to: number): void {
    const part = buf.subarray(from, to);
    this.parts.push(this.opts.copyPayloads ? Buffer.from(part) : part);
  }

  private complete(start: number, end: number): void {
    this.records++;
    this.validBytes = end;
    this.recStart = -1;
    if (this.opts.onRecord) {
      const payload = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
      this.parts = [];
      this.opts.onRecord({ offset: start, end, payload });
    }
  }

  private fail(buf: Buffer, base: number, p: number, n: number, h: number, kind: CorruptionKind, message: string, tail: Problem['tail'], resume: number): number {
    const c = this.c;
    this.problem = { kind, offset: h, message, recordStart: this.recStart >= 0 ? this.recStart : h, tail, hdrEnd: h + c.hs, chunkEnd: h + c.hs + c.len, hs: c.hs };
    const z = lastNonZero(buf, base + p, base + n);
    this.lastNonZeroEnd = z >= 0 ? h + z - base - p : h;
    this.parts = [];
    return tail === 'truncated' ? -1 : resume;
  }

  /** Look-ahead over block positions [from, n): stops at the first complete valid record. */
  private ahead(buf: Buffer, base: number, from: number, n: number): void {
    const c = this.c;
    let p = from;
    while (n - p >= LEGACY_HEADER) {
      const r = this.parse(buf, base, p, n, !this.aheadOpen);
      if (r === OK) {
        const pos = POSITION[c.type]!;
        if (pos === FULL || (pos === LAST && this.aheadOpen)) {
          this.validAfter = true;
          this.done = true;
          return;
        }
        if (pos === FIRST) this.aheadOpen = true;
        p = c.end;
      } else if (r === TRAILER) {
        // The log ends here; what follows belongs to no record of it.
        this.done = true;
        return;
      } else if ((r === WRONG_LOG || r === BAD_CRC) && c.end <= n) {
        // A sound header: resynchronise at the next chunk start.
        this.aheadOpen = false;
        p = c.end;
      } else {
        // Nothing to trust in the rest of this block: resume at the next one.
        this.aheadOpen = false;
        return;
      }
    }
  }

  /** The verdict once every byte was pushed (or `done`); `fileBytes` when not all were pushed. */
  finish(fileBytes = this.fileBytes): LogVerdict {
    if (this.problem === null && this.stopped === null && this.recStart >= 0) {
      this.problem = { kind: 'length', offset: this.recStart, message: 'record without its LAST chunk at EOF', recordStart: this.recStart, tail: 'truncated', hdrEnd: 0, chunkEnd: 0, hs: 0 };
    }
    const base = { fileBytes, validBytes: this.validBytes, records: this.records, headerFormat: this.format, validRecordsAfter: false };
    const p = this.problem;
    if (p === null) return { status: 'clean', firstBadOffset: null, ...base, ...(this.stopped ? { stoppedAt: this.stopped } : {}) };
    const tail = this.validAfter ? null : this.tailStatus(p, fileBytes);
    if (tail === 'clean') return { status: 'clean', firstBadOffset: null, ...base, stoppedAt: { offset: p.offset, reason: 'stale-chunk' } };
    if (tail) return { status: tail, firstBadOffset: p.recordStart, ...base, detail: `${p.message} at ${p.offset}` };
    return {
      status: 'corrupt',
      firstBadOffset: p.offset,
      ...base,
      validRecordsAfter: this.validAfter,
      corruption: { kind: p.kind, offset: p.offset, message: p.message },
      detail: `${p.message} at ${p.offset}`,
    };
  }

  /**
   * Whether the first problem is explained as the end of the log (nothing valid follows it):
   * - a cut header, a length past EOF, a record open at EOF: torn-tail;
   * - zeros from the problem to EOF: zeroed-tail;
   * - a bad checksum on the final chunk: torn-tail if only block padding follows it (the file size
   *   covers a write whose bytes did not all land; Pebble: "no evidence of corruption", unexpected
   *   EOF), or if everything from a 512-byte sector boundary inside the chunk to EOF is zero (a write
   *   that stopped at a sector over preallocated space); otherwise corrupt (LevelDB: checksum
   *   mismatch): a complete chunk followed by zeros or other bytes is damage, not a torn write;
   * - a chunk of another log: stale bytes of a recycled file. At a record start that is the log's
   *   end (Pebble stops there): clean, `stoppedAt`. Inside a record: torn-tail.
   */
  private tailStatus(p: Problem, fileBytes: number): 'clean' | 'torn-tail' | 'zeroed-tail' | null {
    const L = this.lastNonZeroEnd;
    switch (p.tail) {
      case 'truncated':
        return 'torn-tail';
      case 'zero':
        return L <= p.offset ? 'zeroed-tail' : null;
      case 'stale':
        return p.recordStart === p.offset ? 'clean' : 'torn-tail';
      case 'checksum': {
        if (L > p.chunkEnd) return null;
        const blockEnd = p.offset - (p.offset % BLOCK_SIZE) + BLOCK_SIZE;
        if (p.chunkEnd === fileBytes || (fileBytes === blockEnd && fileBytes - p.chunkEnd < p.hs)) return 'torn-tail';
        const z = Math.ceil(Math.max(L, p.hdrEnd) / SECTOR) * SECTOR;
        return z < p.chunkEnd ? 'torn-tail' : null;
      }
      default:
        return null;
    }
  }
}
