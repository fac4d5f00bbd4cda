// etcdctl (ETCDCTL_API=3; Debian's etcd-client 3.4, or the binary ETCDCTL names) as a small typed
// API: save a snapshot of a running etcd, read a snapshot file's status, restore one into a new data
// dir, and ask what etcd serves. Every call has a timeout and takes an AbortSignal; a failure names
// the command and ends with etcdctl's own last words. Engine code: execa only, no Temporal.
//
// What 3.4.23 does, measured (test/engines/etcdctl.test.ts pins it):
// - `snapshot save F` writes `F.part`, then renames it to F; the file is the backend's bbolt bytes
//   followed by their 32-byte sha256. Against an endpoint nobody serves it never ends by itself
//   (--dial-timeout does not stop it): hence the timeout, and `servedState` first to fail fast.
// - `get --count-only` does not exist in 3.4: the JSON answer's `count` is the range's total
//   whatever `--limit`, so `--keys-only --limit 1` counts without reading the values.
// - `snapshot status F -w json` prints {"hash","revision","totalKey","totalSize"}; totalKey counts
//   etcd's own keys too (every revision of every bucket), not what `get` serves.
import { randomBytes } from 'node:crypto';
import { lstat, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { execa } from 'execa';
import { z } from 'zod';
import { AbortError } from '../../format/logstore/errors';

/** ETCDCTL, else `etcdctl` on PATH. */
export function etcdctlPath(): string {
  return process.env.ETCDCTL || 'etcdctl';
}

/** etcdctl failed, timed out or could not be run. The message names the command and its last stderr lines. */
export class EtcdctlError extends Error {
  override name = 'EtcdctlError' as const;
  constructor(
    readonly args: string[],
    /** etcdctl's last stderr lines (its "Error: …" line when it printed one). */
    readonly stderrTail: string,
    readonly exitCode: number | undefined,
    readonly timedOut: boolean,
  ) {
    super(`etcdctl ${args.join(' ')}: ${timedOut ? 'timed out' : exitCode === undefined ? 'did not run' : `exit ${exitCode}`}${stderrTail ? `: ${stderrTail}` : ''}`);
  }
}

/** A restore refused before etcdctl ran: its data dir exists. */
export class EtcdRestoreRefusedError extends Error {
  override name = 'EtcdRestoreRefusedError' as const;
}

export interface EtcdctlOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

const TAIL_LINES = 5;
const TAIL_CHARS = 2000;

/** The "Error: …" line if etcdctl printed one, else its last few stderr lines. */
function tailOf(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const error = lines.filter((l) => l.startsWith('Error: ')).at(-1);
  const tail = error ?? lines.slice(-TAIL_LINES).join(' | ');
  return tail.length > TAIL_CHARS ? `…${tail.slice(-TAIL_CHARS)}` : tail;
}

async function run(args: string[], { signal, timeoutMs }: EtcdctlOptions, defaultTimeoutMs: number): Promise<string> {
  const r = await execa(etcdctlPath(), args, {
    env: { ETCDCTL_API: '3' },
    reject: false,
    stdin: 'ignore',
    cancelSignal: signal,
    timeout: timeoutMs ?? defaultTimeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.isCanceled) throw new AbortError(`etcdctl ${args.join(' ')}`, signal?.reason);
  if (r.failed) throw new EtcdctlError(args, tailOf(typeof r.stderr === 'string' ? r.stderr : '') || (r.exitCode === undefined ? r.shortMessage ?? '' : ''), r.exitCode, r.timedOut);
  return typeof r.stdout === 'string' ? r.stdout : '';
}

function parse<T>(args: string[], stdout: string, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    throw new EtcdctlError(args, `printed no JSON: ${stdout.slice(0, 200)}`, 0, false);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new EtcdctlError(args, `unexpected JSON (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}): ${stdout.slice(0, 200)}`, 0, false);
  return parsed.data;
}

const count = z.number().int().nonnegative();

/**
 * `etcdctl snapshot save file` against `url`: etcd streams its backend into `file` (via `file.part`).
 * Default timeout 30 minutes: a db of gigabytes over a slow link, or an endpoint nobody serves.
 */
export async function snapshotSave(url: string, file: string, opts: EtcdctlOptions = {}): Promise<void> {
  try {
    await run(['--endpoints', url, 'snapshot', 'save', file], opts, 30 * 60_000);
  } catch (err) {
    // etcdctl's own half-written `file.part`, made by this call (killed etcdctl leaves it).
    const part = `${file}.part`;
    if ((await lstat(part).catch(() => undefined))?.isFile()) await rm(part, { force: true });
    throw err;
  }
}

export interface SnapshotStatus {
  /** etcd's hash of the db's bucket contents (crc32), as `snapshot status` prints it. */
  hash: number;
  revision: number;
  /** Every entry of every bucket, etcd's own included. */
  totalKey: number;
  totalSize: number;
}

const statusOutput = z.object({ hash: count, revision: count, totalKey: count, totalSize: count });

/** `etcdctl snapshot status file -w json`: opens the file read-only. */
export async function snapshotStatus(file: string, opts: EtcdctlOptions = {}): Promise<SnapshotStatus> {
  const args = ['snapshot', 'status', file, '-w', 'json'];
  return parse(args, await run(args, opts, 10 * 60_000), statusOutput);
}

export interface RestoreOptions extends EtcdctlOptions {
  /** The new data dir; refused if anything exists there. */
  dataDir: string;
  /** The member's --name. */
  member: string;
  /** Its --initial-advertise-peer-urls; the cluster is this one member. */
  peerUrl: string;
  /** For a db copied out of a data dir (no sha256 trailer): `--skip-hash-check`. */
  skipHashCheck?: boolean;
}

/**
 * `etcdctl snapshot restore file` into `dataDir` as a single-member cluster. Built in a new folder
 * beside it and renamed into place only when etcdctl succeeded, so `dataDir` is either absent or
 * complete; refused (EtcdRestoreRefusedError) when `dataDir` exists.
 */
export async function snapshotRestore(file: string, opts: RestoreOptions): Promise<void> {
  const { dataDir, member, peerUrl, skipHashCheck, ...rest } = opts;
  if (await lstat(dataDir).then(() => true, () => false)) throw new EtcdRestoreRefusedError(`refusing to restore ${file} into ${dataDir}: it exists`);
  const building = join(dirname(dataDir), `.${basename(dataDir)}.restore-${randomBytes(4).toString('hex')}`);
  const args = ['snapshot', 'restore', file, '--data-dir', building, '--name', member, '--initial-cluster', `${member}=${peerUrl}`, '--initial-advertise-peer-urls', peerUrl, ...(skipHashCheck ? ['--skip-hash-check'] : [])];
  try {
    await run(args, rest, 30 * 60_000);
    if (await lstat(dataDir).then(() => true, () => false)) throw new EtcdRestoreRefusedError(`refusing to restore ${file} into ${dataDir}: it appeared during the restore`);
    await rename(building, dataDir);
  } finally {
    await rm(building, { recursive: true, force: true }); // ours, made above; gone after the rename
  }
}

const getOutput = z.object({ header: z.object({ revision: z.union([count, z.string().regex(/^\d+$/).transform(Number)]) }), count: count.optional() });

/**
 * What etcd at `url` serves: its live keys (`get "" --prefix`, counted without reading values) and
 * its current revision. etcdctl gives up after 5 s (its --command-timeout); ours is 30 s.
 */
export async function servedState(url: string, opts: EtcdctlOptions = {}): Promise<{ keys: number; revision: number }> {
  const args = ['--endpoints', url, '--dial-timeout', '3s', '--command-timeout', '5s', 'get', '', '--prefix', '--keys-only', '--limit', '1', '-w', 'json'];
  const out = parse(args, await run(args, opts, 30_000), getOutput);
  return { keys: out.count ?? 0, revision: out.header.revision };
}
