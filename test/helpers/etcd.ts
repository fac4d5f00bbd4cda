// A real single-member etcd (Debian's etcd 3.4) for tests: declared as an exec service in the test
// worker's services file (so runbooks stop and start it the way a host would), on loopback ports,
// holding keys written through its own API. etcdctl reads what it serves.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { serviceControl } from '../../src/activities/services/index';
import { freePort } from '../../src/platform/dev-server';
import { declareService, get, pidInFile, waitFor } from './service';

export interface TestEtcd {
  /** The service's name in the services file (`etcd-<port>`). */
  name: string;
  member: string;
  dataDir: string;
  url: string;
  peerUrl: string;
  spec: { adapter: 'exec'; name: string; start: string[]; pidFile: string; logFile: string; stopTimeoutSeconds: number };
  /** Starts it through the exec adapter and waits until /health says healthy. */
  start(): Promise<void>;
  /** SIGTERM, as the services file's exec adapter stops it; etcd commits its backend on the way out. */
  stop(): Promise<void>;
  /** SIGKILL to its process group if it still runs: for a test's cleanup after a failure. */
  kill(): Promise<void>;
  db: string;
}

// The exec adapter heartbeats and sleeps through the activity context: run it in a mock one.
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const activity = new MockActivityEnvironment(undefined, { logger: quiet });

/**
 * An etcd with its data in `<root>/<member>.etcd`, declared, not started. `extraArgs` go after the
 * helper's own (`--quota-backend-bytes …`, `--snapshot-count …`).
 */
export async function makeEtcd(root: string, member = 'default', extraArgs: string[] = []): Promise<TestEtcd> {
  await mkdir(root, { recursive: true });
  const [client, peer] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const dataDir = join(root, `${member}.etcd`);
  const name = `etcd-${client}`;
  const spec = {
    adapter: 'exec' as const,
    name,
    start: [
      'etcd', '--name', member, '--data-dir', dataDir,
      '--listen-client-urls', url, '--advertise-client-urls', url,
      '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', `${member}=${peerUrl}`,
      ...extraArgs,
    ],
    pidFile: join(root, `${name}.pid`),
    logFile: join(root, `${name}.log`),
    stopTimeoutSeconds: 20,
  };
  const { name: _n, ...entry } = spec;
  // etcd 3.4's /health answers {"health":"true","reason":""} once it has a leader.
  await declareService(name, { ...entry, health: { url: `${url}/health`, expectStatus: 200, bodyMatch: '"health":"true"' } });
  const control = serviceControl(spec);
  return {
    name, member, dataDir, url, peerUrl, spec,
    db: join(dataDir, 'member', 'snap', 'db'),
    async start() {
      await activity.run(() => control.start());
      await waitFor(`etcd ${url} to be healthy (log: ${spec.logFile})`, async () => {
        const answer = await get(`${url}/health`);
        return 'status' in answer && answer.status === 200 && answer.body.includes('"health":"true"');
      }, 60_000);
    },
    async stop() {
      await activity.run(() => control.stop());
    },
    async kill() {
      const pid = pidInFile(await readFile(spec.pidFile, 'utf8').catch(() => ''));
      if (pid === undefined || pid <= 1) return;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // not running
      }
    },
  };
}

const b64 = (b: string | Buffer) => Buffer.from(b).toString('base64');

/** The key putKeys writes for number `j`. */
export const keyName = (prefix: string, j: number) => `${prefix}${String(j).padStart(6, '0')}`;

/** One POST to etcd's gRPC gateway (JSON, bytes as base64); throws unless 200. */
async function gateway<T>(url: string, path: string, body: object): Promise<T> {
  const res = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`etcd ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/**
 * Writes `count` keys `<prefix>00000…` (keyName) through etcd's gRPC gateway, 100 puts a transaction
 * (etcd's default limit is 128 operations), values of `valueBytes`, `inFlight` transactions at a
 * time. Each transaction is one revision. 100 values must fit etcd's 1.5 MiB request limit.
 */
export async function putKeys(url: string, count: number, { prefix = '/registry/k', valueBytes = 1024, from = 0, inFlight = 1 } = {}): Promise<void> {
  const end = from + count;
  let next = from;
  const worker = async () => {
    while (next < end) {
      const i = next;
      next = Math.min(i + 100, end);
      const success = [];
      for (let j = i; j < next; j++) success.push({ request_put: { key: b64(keyName(prefix, j)), value: b64(`${j}:`.padEnd(valueBytes, 'v')) } });
      const out = await gateway<{ succeeded?: boolean }>(url, '/v3/kv/txn', { success });
      if (!out.succeeded) throw new Error(`etcd txn at key ${i}: not succeeded: ${JSON.stringify(out)}`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, inFlight) }, worker));
}

/** Deletes keys in [key, rangeEnd) (just `key` without rangeEnd) in one revision; returns how many. */
export async function deleteRange(url: string, key: string, rangeEnd?: string): Promise<number> {
  const out = await gateway<{ deleted?: string }>(url, '/v3/kv/deleterange', { key: b64(key), ...(rangeEnd ? { range_end: b64(rangeEnd) } : {}) });
  return Number(out.deleted ?? 0);
}

/** Compacts at `revision` and waits until the backend has dropped the old revisions (physical). */
export async function compact(url: string, revision: number): Promise<void> {
  await gateway(url, '/v3/kv/compaction', { revision: String(revision), physical: true });
}

const etcdctl = (url: string, args: string[]) => execa('etcdctl', ['--endpoints', url, ...args], { env: { ETCDCTL_API: '3' } });

/**
 * What etcd serves, as etcdctl reports it: live keys and the store's revision. etcdctl 3.4 has no
 * --count-only: `count` in the JSON answer is the range's total whatever the limit.
 */
export async function served(url: string): Promise<{ keys: number; revision: number }> {
  const { stdout } = await etcdctl(url, ['get', '', '--prefix', '--keys-only', '--limit', '1', '-w', 'json']);
  const out = JSON.parse(stdout) as { header: { revision: number }; count?: number };
  return { keys: out.count ?? 0, revision: Number(out.header.revision) };
}

/** Every live key etcd serves, as latin1 strings (one char a byte, as readEtcdDb's keys). */
export async function servedKeys(url: string): Promise<Set<string>> {
  const { stdout } = await etcdctl(url, ['get', '', '--prefix', '--keys-only', '-w', 'json']);
  const out = JSON.parse(stdout) as { kvs?: { key: string }[] };
  return new Set((out.kvs ?? []).map((kv) => Buffer.from(kv.key, 'base64').toString('latin1')));
}

/** `etcdctl snapshot save` of the running etcd into `file`. */
export async function saveSnapshot(url: string, file: string): Promise<void> {
  await etcdctl(url, ['snapshot', 'save', file]);
}
