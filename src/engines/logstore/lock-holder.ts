// Who has a store open: goleveldb, Pebble and C++ LevelDB all hold a lock on the store's LOCK file
// for as long as it is open, and Linux lists every held lock in /proc/locks with the holder's pid
// and the file's device and inode. A store with a holder must not be cut, copied as a snapshot or
// swapped: the process would go on writing to files that change under it.
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface LockHolder {
  pid: number;
  /** FLOCK, POSIX or OFDLCK, as /proc/locks says. */
  kind: string;
}

/**
 * The processes holding a lock on `<dir>/<file>` (none when there is no such file or no
 * /proc/locks). LevelDB and Pebble lock `LOCK`; bbolt (etcd) flocks its db file itself.
 */
export async function lockHolders(dir: string, file = 'LOCK'): Promise<LockHolder[]> {
  const info = await lstat(join(dir, file), { bigint: true }).catch(() => undefined);
  if (!info?.isFile()) return [];
  const text = await readFile('/proc/locks', 'utf8').catch(() => '');
  // st_dev as glibc encodes it; /proc/locks prints the kernel's major and minor in hex.
  const major = ((info.dev >> 8n) & 0xfffn) | ((info.dev >> 32n) & ~0xfffn);
  const minor = (info.dev & 0xffn) | ((info.dev >> 12n) & ~0xffn);
  const holders: LockHolder[] = [];
  // "1: POSIX  ADVISORY  WRITE 12345 08:01:1234567 0 EOF"; blocked waiters ("-> …") hold nothing.
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+(\S+)\s+\S+\s+\S+\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (!m) continue;
    const [, kind, pid, maj, min, inode] = m;
    if (BigInt(inode!) !== info.ino || BigInt(`0x${maj}`) !== major || BigInt(`0x${min}`) !== minor) continue;
    holders.push({ pid: Number(pid), kind: kind! });
  }
  return holders;
}

export class StoreInUseError extends Error {
  override name = 'StoreInUseError' as const;
}

/** Refuses when any process holds the store's lock file, naming the pids. */
export async function requireNotOpen(dir: string, doing: string, file = 'LOCK'): Promise<void> {
  const holders = await lockHolders(dir, file);
  if (holders.length) {
    const pids = [...new Set(holders.map((h) => h.pid))].join(', ');
    throw new StoreInUseError(`${dir} is open: pid ${pids} holds its ${file}; refusing to ${doing} under a running engine (stop the service that owns it, or name it in "service")`);
  }
}
