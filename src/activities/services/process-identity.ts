// Who a pid is: its start time and argv from /proc, and the pidfile format that records them. A pid
// alone can be reused by the kernel, and a pidfile can be edited; pid + start time + argv can't be
// matched by another process, so the exec adapter signals only a process that matches all three.
import { constants } from 'node:fs';
import { lstat, open, readFile } from 'node:fs/promises';

/** What the exec adapter writes to its pidfile, and what a live process must match to be ours. */
export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot, as a string (it can exceed 2^53). */
  startTime: string;
  argv: string[];
}

export interface ProcStat {
  /** R, S, D, Z, T… (field 3). */
  state: string;
  /** Process group (field 5). */
  pgid: number;
  startTime: string;
}

/**
 * Parses /proc/<pid>/stat. Field 2, comm, is in parentheses and may itself hold spaces and `)`,
 * so the fields after it start after the LAST `)`.
 */
export function parseStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const rest = text.slice(close + 1).trim().split(/\s+/); // rest[0] is field 3
  const state = rest[0];
  const pgid = Number(rest[2]);
  const startTime = rest[19];
  if (!state || !Number.isInteger(pgid) || !startTime || !/^\d+$/.test(startTime)) return undefined;
  return { state, pgid, startTime };
}

/** The stat of a live pid, or undefined if there is none (gone, or a zombie unless `zombie` is set). */
export async function readStat(pid: number, { zombie = false } = {}): Promise<ProcStat | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  const stat = text === undefined ? undefined : parseStat(text);
  return stat && (zombie || (stat.state !== 'Z' && stat.state !== 'X')) ? stat : undefined;
}

/** argv as the kernel shows it: NUL-separated, with a NUL after the last argument. */
export async function readArgv(pid: number): Promise<string[] | undefined> {
  const text = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const parts = text.split('\0');
  if (parts.at(-1) === '') parts.pop();
  return parts;
}

export const sameArgv = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((arg, i) => arg === b[i]);

/** What a pidfile holds. Only `ours` can ever lead to a signal. */
export type PidFileContents =
  | { kind: 'ours'; identity: ProcessIdentity }
  /** A bare pid, as older versions wrote: no start time, so it can't be told from a reused pid. */
  | { kind: 'legacy'; pid: number }
  | { kind: 'unknown'; reason: string };

export function parsePidFile(text: string): PidFileContents {
  const trimmed = text.trim();
  if (/^\d{1,10}$/.test(trimmed)) {
    const pid = Number(trimmed);
    return pid > 1 ? { kind: 'legacy', pid } : { kind: 'unknown', reason: `pid ${pid} is not a service` };
  }
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return { kind: 'unknown', reason: 'neither our JSON format nor a bare pid' };
  }
  const v = value as Partial<ProcessIdentity> | null;
  if (
    v === null || typeof v !== 'object' || Array.isArray(v) ||
    !Number.isSafeInteger(v.pid) || (v.pid as number) <= 1 ||
    typeof v.startTime !== 'string' || !/^\d+$/.test(v.startTime) ||
    !Array.isArray(v.argv) || v.argv.length === 0 || !v.argv.every((a) => typeof a === 'string')
  ) {
    return { kind: 'unknown', reason: 'JSON without a valid pid, startTime and argv' };
  }
  return { kind: 'ours', identity: { pid: v.pid as number, startTime: v.startTime, argv: v.argv } };
}

export const formatPidFile = (identity: ProcessIdentity) => `${JSON.stringify({ pid: identity.pid, startTime: identity.startTime, argv: identity.argv })}\n`;

/** Larger than any pidfile we write (argv included); a bigger file is not ours. */
const MAX_PIDFILE_BYTES = 256 * 1024;

/** A pidfile as found on disk. `absent` and `file` are the only kinds a write may replace (`file` only if ours). */
export type PidFileState =
  | { kind: 'absent' }
  | { kind: 'file'; contents: PidFileContents }
  | { kind: 'refused'; reason: string };

/**
 * Reads a pidfile without following a symlink (a link to /proc/<pid>/stat would read as that pid) and
 * without blocking on a FIFO; anything but a regular file is refused with the reason.
 */
export async function readPidFile(pidFile: string): Promise<PidFileState> {
  // lstat first: opening a device or FIFO can have effects of its own; O_NOFOLLOW below closes the race.
  const link = await lstat(pidFile).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
  if (!link) return { kind: 'absent' };
  if (link.isSymbolicLink()) return { kind: 'refused', reason: 'is a symlink' };
  if (!link.isFile()) return { kind: 'refused', reason: 'is not a regular file' };
  let fh;
  try {
    fh = await open(pidFile, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'absent' };
    if (code === 'ELOOP') return { kind: 'refused', reason: 'is a symlink' };
    return { kind: 'refused', reason: `cannot be read (${code ?? (err as Error).message})` };
  }
  try {
    const stat = await fh.stat();
    if (!stat.isFile()) return { kind: 'refused', reason: 'is not a regular file' };
    if (stat.size > MAX_PIDFILE_BYTES) return { kind: 'file', contents: { kind: 'unknown', reason: `${stat.size} bytes, larger than any pidfile of ours` } };
    return { kind: 'file', contents: parsePidFile(await fh.readFile('utf8')) };
  } finally {
    await fh.close();
  }
}

/** Is the process `identity` names alive and still that process? The reason when it is not. */
export async function matchLive(identity: ProcessIdentity): Promise<{ ours: true; stat: ProcStat } | { ours: false; alive: boolean; reason: string }> {
  const { pid } = identity;
  // Even an exact record of the worker itself (a forged pidfile) must not make it signal itself.
  if (pid === process.pid) return { ours: false, alive: true, reason: `pid ${pid} is this worker` };
  const stat = await readStat(pid);
  if (!stat) return { ours: false, alive: false, reason: `no live process for pid ${pid}` };
  if (stat.startTime !== identity.startTime) return { ours: false, alive: true, reason: `pid ${pid} is another process (start time differs)` };
  const argv = await readArgv(pid);
  if (!argv || !sameArgv(argv, identity.argv)) {
    const shown = argv ? argv.join(' ').slice(0, 200) : 'unreadable';
    return { ours: false, alive: true, reason: `pid ${pid} is another process (command line differs: ${shown})` };
  }
  return { ours: true, stat };
}

/**
 * The identity of a process just spawned with `argv`. Right after fork the child's cmdline is still
 * the worker's own until it execs; re-read it (within `boundMs`) until it shows `argv` or anything
 * else than the worker's (a `#!` script shows its interpreter first), and record what the kernel
 * shows, so later reads match. If it still shows the worker's at the bound, record `argv`.
 * A program that later rewrites its own argv (setproctitle) will no longer be identified as ours.
 */
export async function identifySpawned(pid: number, argv: string[], boundMs = 1000): Promise<ProcessIdentity | undefined> {
  // A child that already exited is still identified while it is a zombie; once reaped it is gone.
  const stat = await readStat(pid, { zombie: true });
  if (!stat) return undefined;
  const self = await readArgv(process.pid);
  // Without our own cmdline to compare, any view but `argv` may still be the pre-exec one.
  const preExec = (shown: string[]) => (self ? sameArgv(shown, self) : !sameArgv(shown, argv));
  let shown: string[] | undefined;
  for (const deadline = Date.now() + boundMs; ; await new Promise((r) => setTimeout(r, 10))) {
    shown = await readArgv(pid);
    if (shown === undefined) return { pid, startTime: stat.startTime, argv };
    // An empty cmdline is a zombie: it exited already, and will never show argv.
    if (sameArgv(shown, argv) || !preExec(shown) || shown.length === 0 || Date.now() > deadline) break;
  }
  return { pid, startTime: stat.startTime, argv: preExec(shown) || shown.length === 0 ? argv : shown };
}
