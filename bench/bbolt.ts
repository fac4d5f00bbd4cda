// doctor-bbolt benchmark (issue 10): our bbolt checker on a ~1 GiB bbolt file written by the real
// bbolt library (storectl bbolt-write, etcd-like: no persisted freelist, a few buckets, 1 KiB
// values), against the real `bbolt check` (the pinned v1.4.3 CLI) on the same file. Both run as
// child processes, so process start is in both: ours is `node --import tsx
// bench/bbolt-check-child.ts <file>`, which also reports its own peak RSS (VmHWM after the check).
// Every run is checked: ours healthy with exactly the keys bbolt-write wrote, per bucket; bbolt's
// "OK" with exit 0. The file is built once into bench/.scratch and reused while its description
// matches.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { bboltCliPath } from '../src/engines/bbolt/bbolt-cli';
import { writeBbolt, type WriteBboltOptions, type WrittenBbolt } from '../src/engines/bbolt/storectl-bbolt';
import type { Variant } from './harness';

export const OURS = 'ours: checkBbolt (node child)';
/** The extra timing the child reports: checkBbolt alone, without node and tsx starting. */
export const OURS_CHECK = `${OURS}:check`;
export const BBOLT = 'bbolt check (v1.4.3 CLI)';

/**
 * The db: about 1 GiB at 4 KiB pages (bbolt splits leaves at half a page, so two 1 KiB values a
 * leaf: ~2.2 KiB of file a key), etcd-like (NoFreelistSync: no freelist page; bbolt rebuilds it at
 * open by walking the whole tree), 4 top-level buckets, and 1,000 values of 2 pages + 1 KiB so
 * leaves with overflow pages are in the walk too. bbolt-write also writes a `gone-…` twin of every
 * 10th key and deletes it in later transactions, so the file has free pages.
 */
export const DB: WriteBboltOptions & Required<Pick<WriteBboltOptions, 'keys' | 'buckets' | 'valueBytes' | 'largeValues' | 'noFreelist' | 'pageSize'>> = {
  keys: 460_000,
  buckets: 4,
  valueBytes: 1024,
  largeValues: 1000,
  noFreelist: true,
  pageSize: 4096,
};

/** Below this much free space in bench/.scratch the file is not built and the section is skipped. */
export const MIN_FREE_BYTES = 3 * 2 ** 30;

const SCRATCH = fileURLToPath(new URL('./.scratch/', import.meta.url));
const REPO = fileURLToPath(new URL('../', import.meta.url));
const CHILD = fileURLToPath(new URL('./bbolt-check-child.ts', import.meta.url));

/** What the child prints (bench/bbolt-check-child.ts). */
interface ChildReport {
  healthy: boolean;
  fileBytes: number;
  findings: number;
  firstFindings: string[];
  pagesVisited: number;
  buckets: number;
  keys: number;
  bucketKeys: Record<string, number>;
  freePages: number | null;
  checkMs: number;
  peakRssBytes: number;
  rssSource: 'VmHWM' | 'maxRSS';
}

/** A peak RSS measured from outside a process. */
export interface RssFigure {
  bytes: number | null;
  /** How: "/usr/bin/time" (getrusage, exact), "VmHWM polled" (a lower bound), or why there is none. */
  how: string;
}

export interface BboltCase {
  path: string;
  bytes: number;
  options: typeof DB;
  written: WrittenBbolt;
  /** 0 when the file from an earlier run was reused. */
  buildMs: number;
  /** From our first check: page units walked and free pages (reused file or not, the same each run). */
  pagesVisited: number;
  freePages: number | null;
  bboltVersion: string;
  variants: Variant[];
  /** Our child's own peak RSS (VmHWM), every run (warm-up included), in bytes. */
  oursRss: number[];
  rssSource: string;
  /** One untimed run of each, measured from outside: bbolt's peak RSS, and ours as a cross-check of VmHWM. */
  outsideRss: () => Promise<{ bbolt: RssFigure; ours: RssFigure }>;
}

export type BboltCaseOrSkip = BboltCase | { skipped: string };

const GiB = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;

/** The db, written once by bbolt into bench/.scratch (under a temporary name, renamed when whole) and reused. */
async function dbFile(): Promise<{ path: string; bytes: number; written: WrittenBbolt; buildMs: number } | { skipped: string }> {
  const o = DB;
  const path = join(SCRATCH, `bbolt-${o.keys}keys-${o.valueBytes}v-${o.buckets}b-${o.largeValues}l-${o.noFreelist ? 'nofl' : 'fl'}-${o.pageSize}.db`);
  const meta = `${path}.json`;
  try {
    const m = JSON.parse(await readFile(meta, 'utf8')) as { options: typeof DB; bytes: number; written: WrittenBbolt };
    if (JSON.stringify(m.options) === JSON.stringify(o) && (await stat(path)).size === m.bytes) return { path, bytes: m.bytes, written: m.written, buildMs: 0 };
  } catch {
    /* not built yet */
  }
  await mkdir(SCRATCH, { recursive: true });
  const s = await statfs(SCRATCH);
  const free = s.bavail * s.bsize;
  if (free < MIN_FREE_BYTES) return { skipped: `needs ${GiB(MIN_FREE_BYTES)} free in ${SCRATCH} to build the db, df shows ${GiB(free)}` };
  const partial = `${path}.partial`;
  await rm(partial, { force: true });
  const started = performance.now();
  try {
    const written = await writeBbolt(partial, o);
    const bytes = (await stat(partial)).size;
    await rename(partial, path);
    await writeFile(meta, JSON.stringify({ options: o, bytes, written }));
    return { path, bytes, written, buildMs: performance.now() - started };
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

/** Runs the child on `path` and returns its report; throws unless it ran and reported. */
async function runOurs(path: string, prefix: string[] = []): Promise<{ report: ChildReport; stderr: string }> {
  const [cmd, ...args] = [...prefix, process.execPath, '--import', 'tsx', CHILD, path];
  const r = await execa(cmd!, args, { cwd: REPO, reject: false, stdin: 'ignore' });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let report: ChildReport | undefined;
  try {
    report = JSON.parse(last) as ChildReport;
  } catch {
    /* reported below */
  }
  if (r.exitCode !== 0 || !report) throw new Error(`doctor-bbolt: our child failed (exit ${r.exitCode ?? r.signal}): ${(r.stderr || r.stdout).trim().slice(0, 2000)}`);
  return { report, stderr: r.stderr };
}

/** Throws unless our report is healthy and counted exactly the keys bbolt-write wrote, bucket by bucket. */
function checkOurs(r: ChildReport, want: { bytes: number; written: WrittenBbolt; pagesVisited?: number }): void {
  const wantBuckets = JSON.stringify(Object.entries(want.written.buckets).sort());
  const gotBuckets = JSON.stringify(Object.entries(r.bucketKeys).sort());
  const problems = [
    !r.healthy && `not healthy: ${r.findings} finding(s): ${r.firstFindings.join('; ')}`,
    r.findings !== 0 && `${r.findings} finding(s)`,
    r.keys !== want.written.keys && `${r.keys} keys, bbolt-write wrote ${want.written.keys}`,
    gotBuckets !== wantBuckets && `keys per bucket ${gotBuckets}, bbolt-write wrote ${wantBuckets}`,
    r.fileBytes !== want.bytes && `file of ${r.fileBytes} bytes, expected ${want.bytes}`,
    want.pagesVisited !== undefined && r.pagesVisited !== want.pagesVisited && `${r.pagesVisited} pages walked, the first run walked ${want.pagesVisited}`,
  ].filter(Boolean);
  if (problems.length) throw new Error(`doctor-bbolt: our check: ${problems.join('; ')}`);
}

/** `bbolt check <path>`; throws unless it printed OK and exited 0. */
async function runBbolt(path: string, prefix: string[] = []): Promise<{ stderr: string }> {
  const [cmd, ...args] = [...prefix, bboltCliPath(), 'check', path];
  const r = await execa(cmd!, args, { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0 || r.stdout.trim() !== 'OK') {
    throw new Error(`doctor-bbolt: bbolt check did not say OK (exit ${r.exitCode ?? r.signal}): ${`${r.stdout}\n${r.stderr}`.trim().slice(0, 2000)}`);
  }
  return { stderr: r.stderr };
}

/** GNU time's "%M" (KiB) from a run under `/usr/bin/time -f …`, or null when it is not GNU time. */
const TIME = '/usr/bin/time';
const TIME_FORMAT = 'doctor-bbolt-maxrss-kib=%M';
const fromTime = (stderr: string): number | null => {
  const m = /doctor-bbolt-maxrss-kib=(\d+)/.exec(stderr);
  return m ? Number(m[1]) * 1024 : null;
};

/** Without GNU time: VmHWM of the running process read every 5 ms; the last reading is a lower bound. */
export async function polledRss(cmd: string, args: string[], cwd?: string): Promise<RssFigure> {
  if (!existsSync('/proc/self/status')) return { bytes: null, how: 'not measured: neither /usr/bin/time nor /proc' };
  const child = execa(cmd, args, { cwd, reject: false, stdin: 'ignore' });
  let bytes: number | null = null;
  let done = false;
  void child.finally(() => (done = true));
  while (!done && child.pid !== undefined) {
    try {
      const m = /^VmHWM:\s+(\d+) kB$/m.exec(await readFile(`/proc/${child.pid}/status`, 'utf8'));
      if (m) bytes = Number(m[1]) * 1024;
    } catch {
      /* exited between the check and the read */
    }
    await sleep(5);
  }
  await child;
  return { bytes, how: 'VmHWM polled every 5 ms (a lower bound)' };
}

/** The case: the db (built or reused), one verified run of each, and the two timed variants. */
export async function bboltCase(): Promise<BboltCaseOrSkip> {
  const db = await dbFile();
  if ('skipped' in db) return db;
  const { path, bytes, written, buildMs } = db;
  const version = (await execa(bboltCliPath(), ['version'], { reject: false })).stdout.split('\n')[0]?.trim() ?? '?';
  // A first run of each, untimed: fails early on a bad file or a broken checker.
  const first = (await runOurs(path)).report;
  checkOurs(first, { bytes, written });
  await runBbolt(path);
  const oursRss: number[] = [first.peakRssBytes];
  const want = { bytes, written, pagesVisited: first.pagesVisited };
  const ours: Variant = {
    name: OURS,
    run: async () => {
      const { report } = await runOurs(path);
      checkOurs(report, want);
      oursRss.push(report.peakRssBytes);
      return { check: report.checkMs };
    },
  };
  const bbolt: Variant = { name: BBOLT, run: async () => void (await runBbolt(path)) };
  const gnuTime = existsSync(TIME);
  const outsideRss = async (): Promise<{ bbolt: RssFigure; ours: RssFigure }> => {
    if (gnuTime) {
      const b = fromTime((await runBbolt(path, [TIME, '-f', TIME_FORMAT])).stderr);
      const o = await runOurs(path, [TIME, '-f', TIME_FORMAT]);
      checkOurs(o.report, want);
      const ob = fromTime(o.stderr);
      if (b !== null && ob !== null) return { bbolt: { bytes: b, how: '/usr/bin/time (getrusage maxrss)' }, ours: { bytes: ob, how: '/usr/bin/time (getrusage maxrss)' } };
    }
    return {
      bbolt: await polledRss(bboltCliPath(), ['check', path]),
      ours: await polledRss(process.execPath, ['--import', 'tsx', CHILD, path], REPO),
    };
  };
  return {
    path,
    bytes,
    options: DB,
    written,
    buildMs,
    pagesVisited: first.pagesVisited,
    freePages: first.freePages,
    bboltVersion: version,
    variants: [ours, bbolt],
    oursRss,
    rssSource: first.rssSource,
    outsideRss,
  };
}
