// How the inspection reads the disk: synchronously (see YIELD_MS), whole manifests into one reused
// buffer, and what is at a path (absent, a directory, a file, a git-LFS pointer text). Engine code:
// node:fs only.
import { type Stats, closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { LFS_POINTER_MAX_BYTES, LFS_POINTER_PREFIX } from '../../format/lfs/pointer';

export type FileState = { kind: 'missing' } | { kind: 'dir' } | { kind: 'file'; size: number; pointer: boolean };

/**
 * The inspection does its file system work synchronously (reads, lstat, stat, a pointer file's
 * head): on local disks each call takes microseconds, where going through libuv's thread pool
 * costs tens of them in callbacks and promises (measured on a 1,000-version table, 2 cores: async
 * reads with 8 at a time made the whole inspection 1.3x slower, async reads and stats 16 at a time
 * 2x). It gives the event loop a turn every YIELD_MS, so heartbeats, progress and cancellation
 * still get through.
 */
const YIELD_MS = 10;

export class Pacer {
  #since = performance.now();

  /** True once the event loop has waited YIELD_MS; then `await pacer.yield()`. */
  due(): boolean {
    return performance.now() - this.#since >= YIELD_MS;
  }

  async yield(): Promise<void> {
    await new Promise<void>((done) => setImmediate(done));
    this.#since = performance.now();
  }
}

/**
 * Reads whole files into one buffer, reused from file to file: a long history is tens of MB of
 * manifests, read once and dropped. Safe because the parser keeps no view of its input.
 */
export class FileReader {
  #buffer = Buffer.allocUnsafe(64 * 1024);

  /** The bytes of the file at `path` (as many as its size when opened), valid until the next read. */
  read(path: string): Buffer {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size > this.#buffer.length) this.#buffer = Buffer.allocUnsafe(Math.max(size, 2 * this.#buffer.length));
      let read = 0;
      while (read < size) {
        const n = readSync(fd, this.#buffer, read, size - read, read);
        if (n === 0) break;
        read += n;
      }
      return this.#buffer.subarray(0, read);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * What is at `abs` (following symlinks; `known` is its stat when the caller has it). With
 * `pointerCheck`, a file small enough to be a git-LFS pointer has its head read.
 */
export function probeFile(abs: string, pointerCheck: boolean, known?: Stats): FileState {
  let info = known;
  if (!info) {
    try {
      info = statSync(abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
      throw err;
    }
  }
  if (info.isDirectory()) return { kind: 'dir' };
  if (!info.isFile()) return { kind: 'missing' };
  let pointer = false;
  if (pointerCheck && info.size >= LFS_POINTER_PREFIX.length && info.size < LFS_POINTER_MAX_BYTES) {
    const fd = openSync(abs, 'r');
    try {
      const head = Buffer.alloc(LFS_POINTER_PREFIX.length);
      const bytesRead = readSync(fd, head, 0, head.length, 0);
      pointer = head.toString('latin1', 0, bytesRead) === LFS_POINTER_PREFIX;
    } finally {
      closeSync(fd);
    }
  }
  return { kind: 'file', size: info.size, pointer };
}

/** Non-directory entries under `dir`, relative and `/`-separated; [] when `dir` is absent. */
export async function listFiles(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return entries.filter((e) => !e.isDirectory()).map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'));
}
