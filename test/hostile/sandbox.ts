// The hostile-input corpus's witness: a sandbox folder (what a case may legitimately point at), an
// `outside` folder beside it (where escapes would land), and a sentinel process (what a hostile
// pidfile would make us signal). `expectUntouched` runs one hostile case and proves that nothing
// moved: both trees hash the same, no file appeared next to them, no process carrying the case's
// marker was started, and the sentinel is alive and received no signal.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

export interface Sandbox {
  /** The folder a case may name (data roots, tables, pidfiles of declared services live here). */
  root: string;
  /** Beside `root`: the target of every escape a case attempts. */
  outside: string;
  /** A string hostile argv and names carry, so a process they started can be found. */
  marker: string;
  /** A live process that must never be signalled; its pid goes into hostile pidfiles. */
  sentinel: { pid: number; signals: string[] };
  cleanup(): Promise<void>;
}

const WATCHED_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT', 'SIGCONT'];

/** sha256 over every entry under `dir`: relative path, type, mode, size, content or link target. */
export async function treeDigest(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const entries = (await readdir(dir, { recursive: true })).sort();
  for (const name of entries) {
    const path = join(dir, name);
    const info = await lstat(path).catch(() => undefined);
    if (!info) continue; // vanished between listing and lstat: the next digest will differ anyway
    hash.update(`${name}\0${info.mode}\0${info.size}\0`);
    if (info.isSymbolicLink()) hash.update(`link:${await readlink(path)}`);
    else if (info.isFile()) hash.update(await readFile(path));
    hash.update('\n');
  }
  return hash.digest('hex');
}

async function startSentinel(marker: string): Promise<{ child: ChildProcess; signals: string[] }> {
  const signals: string[] = [];
  const script = `for (const s of ${JSON.stringify(WATCHED_SIGNALS)}) process.on(s, () => console.log(s)); console.log('ready'); setInterval(() => {}, 1e6);`;
  const child = spawn(process.execPath, ['-e', script, `sentinel-${marker}`], { stdio: ['ignore', 'pipe', 'ignore'] });
  let ready: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  // Signals before its handlers exist would kill it: wait for its first line.
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    for (const line of text.split('\n').filter(Boolean)) {
      if (line === 'ready') ready();
      else signals.push(line);
    }
  });
  await isReady;
  return { child, signals };
}

export async function makeSandbox(name: string): Promise<Sandbox> {
  const base = await realpath(await mkdtemp(join(tmpdir(), `hostile-${name}-`)));
  const root = join(base, 'sandbox');
  const outside = join(base, 'outside');
  await mkdir(root);
  await mkdir(outside);
  const marker = `HOSTILE${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const { child, signals } = await startSentinel(marker);
  return {
    root,
    outside,
    marker,
    sentinel: { pid: child.pid!, signals },
    async cleanup() {
      child.kill('SIGKILL');
      await rm(base, { recursive: true, force: true });
    },
  };
}

/** Pids whose command line carries `marker`, except `except`. */
export async function processesWith(marker: string, except: number[] = []): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || except.includes(pid) || pid === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(marker)) found.push(pid);
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `hostileCase` and asserts it changed nothing: the sandbox and `outside` trees are
 * byte-identical, no entry appeared beside them or in the temp folder under the marker's name, no
 * process with the marker started, and the sentinel is alive and got no signal. Returns the case's
 * own result (typically the refusal) for the caller to check.
 */
export async function expectUntouched<T>(sb: Sandbox, hostileCase: () => Promise<T>): Promise<T> {
  const base = join(sb.root, '..');
  const before = { sandbox: await treeDigest(sb.root), outside: await treeDigest(sb.outside), beside: (await readdir(base)).sort() };
  const result = await hostileCase();
  // A signal is delivered asynchronously: give the sentinel's stdout a moment to report it.
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(await treeDigest(sb.root), before.sandbox, 'the sandbox changed');
  assert.equal(await treeDigest(sb.outside), before.outside, 'a file outside the sandbox changed');
  assert.deepEqual((await readdir(base)).sort(), before.beside, 'a file appeared beside the sandbox');
  assert.deepEqual((await readdir(tmpdir())).filter((f) => f.includes(sb.marker)), [], 'a file named after the marker appeared in the temp folder');
  assert.deepEqual(await processesWith(sb.marker, [sb.sentinel.pid]), [], 'a process carrying the marker was started');
  assert.ok(alive(sb.sentinel.pid), 'the sentinel process was killed');
  assert.deepEqual(sb.sentinel.signals, [], 'the sentinel process was signalled');
  return result;
}
