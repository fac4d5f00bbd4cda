// Record reader for LevelDB/Pebble logs (WALs and MANIFESTs): bytes in, a LogVerdict out, records
// handed to `onRecord` as they complete. The work is done by LogScanner (scanner.ts), once, for both
// entry points. formats.md sections 4–5.
//
// Rules for the cases the engines disagree on (each has a test in logstore-records.test.ts):
// - Zero header (type 0, length 0): in a full block, padding when under 11 bytes are left, or under
//   19 and all zero (Pebble's rule; LevelDB skips any). Otherwise, and always in the short last
//   block, zeros: `zeroed-tail` when zeros run to EOF, else `corrupt`/`zeroed`.
// - Bad checksum on the final chunk with nothing valid after it: `torn-tail` when only block padding
//   follows it, or when everything from a 512-byte sector boundary inside it to EOF is zero (a write
//   that did not all land); otherwise `corrupt`/`checksum` (a complete chunk with damaged bytes).
// - A length past EOF is a torn write only while the chunk would still fit its block; a length no
//   writer could have written (past the block) is `corrupt`/`length` even at EOF.
// - Recyclable and WAL-sync chunks must carry the log number (`logNumber`, else the first valid
//   chunk's: pass it for WALs, from the file name, or a recycled file's stale first chunk is taken as
//   the log's). At a record start, log number + 1 is Pebble's EOF trailer, and another log's chunk
//   with no valid chunk of this log after it is a recycled file's stale region: both `clean`, with
//   `stoppedAt` (Pebble reads them as EOF). Another log's chunk inside a record, nothing valid after:
//   `torn-tail`. With valid chunks after: `corrupt`/`log-number`.
// - Orphans: MIDDLE/LAST without FIRST, or FULL/FIRST while a record is open, are `corrupt`/
//   `orphan-chunk` (LevelDB: "partial record without end"; Pebble skips them silently).
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { AbortError } from './errors';
import { LogScanner } from './scanner';
import type { LogRecord, LogVerdict } from './types';

export { BLOCK_SIZE, encodeLog, encodeRecord, eofTrailer, maskCrc, maskedCrc32c, unmaskCrc, type EncodeOptions, type HeaderFormat } from './chunk';

/** Bytes per read: a multiple of the block size, large enough that syscalls do not dominate. */
export const READ_SIZE = 4 * 1024 * 1024;

export interface ScanBytesOptions {
  /** Each complete record before the first problem. Payloads are views into `bytes` (not copies). */
  onRecord?: (r: LogRecord) => void;
  /** The log's file number (recyclable/WAL-sync chunks carry its low 32 bits). */
  logNumber?: number;
}

export interface ScanFileOptions {
  /** Each complete record before the first problem; payloads are copies. */
  onRecord?: (r: LogRecord) => void;
  logNumber?: number;
  /** Checked between reads: AbortError once aborted. */
  signal?: AbortSignal;
  /** After each read, with the bytes read so far. */
  onProgress?: (bytesRead: number) => void;
}

/** Classifies a whole log held in memory. */
export function scanLogBytes(bytes: Buffer, opts: ScanBytesOptions = {}): LogVerdict {
  const scanner = new LogScanner({ onRecord: opts.onRecord, logNumber: opts.logNumber });
  scanner.push(bytes);
  return scanner.finish(bytes.length);
}

/**
 * Opens `path` read-only; a symlink at `path` (swapped in after a caller checked the name, say) is
 * refused by the kernel (O_NOFOLLOW: ELOOP), never followed.
 */
async function openNoFollow(path: string): Promise<FileHandle> {
  try {
    return await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new Error(`${path} is a symlink; refusing to follow it`, { cause: err });
    throw err;
  }
}

/**
 * Classifies a log file, reading it in READ_SIZE pieces (the next read runs while the current piece
 * is scanned) so a 1 GB WAL is never held whole. Stops reading once nothing more can change the
 * verdict (a valid record after a problem, an EOF trailer). Refuses a symlink at `path`.
 */
export async function scanLogFile(path: string, opts: ScanFileOptions = {}): Promise<LogVerdict> {
  const fh = await openNoFollow(path);
  let pending: Promise<number> | null = null;
  try {
    const size = (await fh.stat()).size;
    const scanner = new LogScanner({ onRecord: opts.onRecord, logNumber: opts.logNumber, copyPayloads: true });
    const bufs = [Buffer.allocUnsafe(READ_SIZE), Buffer.allocUnsafe(READ_SIZE)];
    /** Fills `buf` from `position` unless EOF comes first: only the file's last piece is short. */
    const readFull = async (buf: Buffer, position: number): Promise<number> => {
      let n = 0;
      while (n < buf.length) {
        const { bytesRead } = await fh.read(buf, n, buf.length - n, position + n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      return n;
    };
    let read = 0;
    let which = 0;
    pending = readFull(bufs[0]!, 0);
    for (;;) {
      const n: number = await pending!;
      pending = null;
      if (opts.signal?.aborted) throw new AbortError(`scan ${path}`, opts.signal.reason);
      read += n;
      if (n === READ_SIZE) pending = readFull(bufs[which ^ 1]!, read);
      if (n > 0) scanner.push(bufs[which]!, n);
      opts.onProgress?.(read);
      if (n < READ_SIZE || scanner.done) break;
      which ^= 1;
    }
    // Stopped early: the verdict covers the file as it was when opened.
    return scanner.finish(scanner.done ? Math.max(size, read) : read);
  } finally {
    // Never close the handle under a read still in flight.
    await pending?.catch(() => 0);
    await fh.close();
  }
}
