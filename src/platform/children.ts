// Child processes of the one-machine cluster (PostgreSQL's tools, compose's scripts, the Temporal
// server, the UI): each writes to its own log file in the cluster folder, and a failure names the
// step and ends with the last lines that child wrote, so nobody has to go looking.
import { closeSync, openSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { execa, type ResultPromise } from 'execa';

export interface ChildOptions {
  /** The child's whole environment: nothing is inherited, so what it runs with is known. */
  env: Record<string, string>;
  cwd?: string;
  /** Run as this user (root starting PostgreSQL, which refuses to run as root). */
  uid?: number;
  gid?: number;
  /** Its own process group: a terminal's Ctrl-C then reaches only us, and we stop it in order. */
  detached?: boolean;
}

/** The last `lines` lines of a log file, or a note that there is none. */
export async function lastLines(file: string, lines = 20): Promise<string> {
  const text = (await readFile(file, 'utf8').catch(() => '')).trimEnd();
  // Lines are cut at 500 characters: a Go stack trace on one JSON line would bury the others.
  return text ? text.split('\n').slice(-lines).map((l) => (l.length > 500 ? `${l.slice(0, 500)}…` : l)).join('\n') : `(${file} is empty)`;
}

/** An error naming the step, why it failed and the child's last output lines. */
export async function stepError(step: string, why: string, log: string): Promise<Error> {
  return new Error(`${step} failed: ${why}; last lines of ${log}:\n${await lastLines(log)}`);
}

/** Starts `file args` with stdout and stderr appended to `log`. The caller owns the process. */
export function spawnLogged(log: string, file: string, args: string[], options: ChildOptions): ResultPromise {
  // The child writes to the file itself (no pipe through us), so its log outlives a dead parent.
  // execa passes any open fd through; its types name only 3-9.
  const fd = openSync(log, 'a') as 3;
  try {
    return execa(file, args, { ...options, extendEnv: false, stdin: 'ignore', stdout: fd, stderr: fd, reject: false, cleanup: true });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
}

/** Runs a step to completion; throws the step's error unless it exits 0 within `timeoutMs`. */
export async function runStep(step: string, log: string, file: string, args: string[], options: ChildOptions & { timeoutMs?: number }): Promise<void> {
  const { timeoutMs = 120_000, ...rest } = options;
  const child = spawnLogged(log, file, args, rest);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const result = await child;
  clearTimeout(timer);
  if (result.exitCode === 0) return;
  const why = timedOut ? `no result within ${timeoutMs / 1000}s` : result.signal ? `killed by ${result.signal}` : `exit code ${result.exitCode}`;
  throw await stepError(step, why, log);
}

/** Polls `probe` until it returns true; throws the step's error when `child` exits or time runs out. */
export async function waitUntil(step: string, log: string, probe: () => Promise<boolean>, options: { child?: ResultPromise; timeoutMs?: number } = {}): Promise<void> {
  const { child, timeoutMs = 120_000 } = options;
  let exited: string | undefined;
  void child?.then((r) => (exited = r.signal ? `it was killed by ${r.signal}` : `it exited with code ${r.exitCode}`));
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    if (exited) throw await stepError(step, exited, log);
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = `: ${(err as Error).message}`;
    }
    if (Date.now() > deadline) throw await stepError(step, `not ready after ${timeoutMs / 1000}s${lastError}`, log);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Ends what an earlier run of this folder, killed before it could stop its children, left running:
 * the pid in `pidFile`, if `isOurs(pid)` (a pid may have been reused since).
 */
export async function endLeftover(pidFile: string, isOurs: (pid: number) => Promise<boolean>): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!(pid > 1) || !(await isOurs(pid).catch(() => false))) return;
  process.kill(pid, 'SIGKILL');
  while (await stat(`/proc/${pid}`).then(() => true, () => false)) await new Promise((r) => setTimeout(r, 50));
}

/** For endLeftover: the process runs `binary`. */
export const runsBinary = (binary: string) => async (pid: number) => (await realpath(`/proc/${pid}/exe`)) === (await realpath(binary));

/** For endLeftover: the process's environment holds `entry` (NAME=value). */
export const hasEnv = (entry: string) => async (pid: number) => (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').includes(entry);
