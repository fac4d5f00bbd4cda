// Small file system steps the LFS copy is made of: exclusive temp files, whole reads and writes,
// fsync of files and directories, and undoing a `mkdir -p`. Engine code: node:fs only.
import { fsync, mkdirSync, openSync, read, readSync, rmdirSync, unlinkSync, write, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Read and write unit for object copies and hashing. */
export const CHUNK = 1024 * 1024;

/**
 * Long copies and hashes report how far they are at least this often (in bytes): 64 chunks, a
 * second or less of I/O on any disk a restore would run on, so a heartbeat can follow it.
 */
export const PROGRESS_BYTES = 64 * CHUNK;

/** Files up to this size are read, hashed and written from one buffer with synchronous calls; larger ones are streamed. */
export const SMALL_OBJECT = CHUNK;

/** Unlink `path` if it is there: whether it was removed. */
export const rmQuietly = (path: string): boolean => {
  try {
    unlinkSync(path);
    return true;
  } catch {
    return false; // already gone
  }
};

/** Create the temp file exclusively, making its directory (`mkdir -p`) only if it is missing. */
export function createTemp(tmp: string, dir: string): { fd: number; madeDir?: string } {
  try {
    return { fd: openSync(tmp, 'wx', 0o644) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const madeDir = mkdirSync(dir, { recursive: true });
  try {
    return { fd: openSync(tmp, 'wx', 0o644), madeDir };
  } catch (err) {
    if (madeDir) removeMadeDirs(dir, madeDir);
    throw err;
  }
}

/** Undo `mkdir -p`: remove `dir` and its parents up to and including `firstMade`, if empty. */
export function removeMadeDirs(dir: string, firstMade: string): void {
  for (let d = dir; d.length >= firstMade.length; d = dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
    if (d === firstMade) return;
  }
}

/** Read from the start of `fd` until `buf` is full or the file ends; the number of bytes read. */
export function readFully(fd: number, buf: Buffer): number {
  let pos = 0;
  while (pos < buf.length) {
    const n = readSync(fd, buf, pos, buf.length - pos, pos);
    if (n === 0) break;
    pos += n;
  }
  return pos;
}

export function writeFully(fd: number, bytes: Buffer): void {
  let pos = 0;
  while (pos < bytes.length) pos += writeSync(fd, bytes, pos, bytes.length - pos, pos);
}

export const readAt = (fd: number, buf: Buffer, position: number) =>
  new Promise<number>((resolve, reject) => read(fd, buf, 0, buf.length, position, (err, n) => (err ? reject(err) : resolve(n))));

export async function writeAllAt(fd: number, chunk: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < chunk.length) {
    done += await new Promise<number>((resolve, reject) =>
      write(fd, chunk, done, chunk.length - done, position + done, (err, n) => (err ? reject(err) : resolve(n))),
    );
  }
}

/** fsync in the thread pool (several run at once): resolves to the error, if any, never rejects. */
export function fsyncFd(fd: number): Promise<unknown> {
  return new Promise((resolve) => fsync(fd, (err) => resolve(err ?? undefined)));
}

/**
 * fsync by path: a file's bytes, or a directory's entries (the names created, linked or renamed in
 * it). File systems that cannot sync a directory (EISDIR, EINVAL, EPERM) are let be.
 */
export async function fsyncPath(path: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
    await fh.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM') throw err;
  } finally {
    await fh?.close();
  }
}

/** After a create, link or rename in `dir`: its entries are durable once this resolves. */
export const fsyncDir = fsyncPath;

/** A function to call with the bytes done so far; it calls `report` each time PROGRESS_BYTES more are done. */
export function progressEvery(report: ((bytes: number) => void) | undefined): (bytes: number) => void {
  if (!report) return () => {};
  let last = 0;
  return (bytes) => {
    if (bytes - last < PROGRESS_BYTES) return;
    last = bytes;
    report(bytes);
  };
}
