// A real single-member etcd (Debian's etcd 3.4) for tests: declared as an exec service in the test
// worker's services file (so runbooks stop and start it the way a host would), on loopback ports,
// holding keys written through its own API. etcdctl reads what it serves.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { serviceControl } from '../../src/activities/services/index';
import { freePort } from '../../src/platform/dev-server';
import { declareService, get, waitFor } from './service';

export interface TestEtcd {
  /** The service's name in the services file (`etcd-<port>`). */
  name: string;
  member: string;
  dataDir: string;
  url: string;
  peerUrl: string;
  spec: { adapter: 'exec'; name: string; start: string[]; pidFile: string; logFile: string; stopTimeoutSeconds: number };
  start(): Promise<void>;
  /** SIGTERM, as the services file's exec adapter stops it; etcd commits its backend on the way out. */
  stop(): Promise<void>;
  db: string;
}

/** An etcd with its data in `<root>/<member>.etcd`, declared, not started. */
export async function makeEtcd(root: string, member = 'default'): Promise<TestEtcd> {
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
    ],
    pidFile: join(root, `${name}.pid`),
    logFile: join(root, `${name}.log`),
    stopTimeoutSeconds: 20,
  };
  const { name: _n, ...entry } = spec;
  await declareService(name, { ...entry, health: { url: `${url}/health`, expectStatus: 200, bodyMatch: '"health":"true"' } });
  const control = serviceControl(spec);
  return {
    name, member, dataDir, url, peerUrl, spec,
    db: join(dataDir, 'member', 'snap', 'db'),
    async start() {
      await control.start();
      await waitFor(`etcd ${url} to be healthy`, async () => {
        const answer = await get(`${url}/health`);
        return 'status' in answer && answer.status === 200;
      }, 60_000);
    },
    async stop() {
      await control.stop();
    },
  };
}

const b64 = (b: string | Buffer) => Buffer.from(b).toString('base64');

/**
 * Writes `count` keys `<prefix>00000…` through etcd's gRPC gateway, 100 puts a transaction (etcd's
 * default limit is 128 operations), values of `valueBytes`. Each transaction is one revision.
 */
export async function putKeys(url: string, count: number, { prefix = '/registry/k', valueBytes = 1024, from = 0 } = {}): Promise<void> {
  for (let i = from; i < from + count; i += 100) {
    const success = [];
    for (let j = i; j < Math.min(i + 100, from + count); j++) {
      success.push({ request_put: { key: b64(`${prefix}${String(j).padStart(6, '0')}`), value: b64(`${j}:`.padEnd(valueBytes, 'v')) } });
    }
    const res = await fetch(`${url}/v3/kv/txn`, { method: 'POST', body: JSON.stringify({ success }) });
    if (res.status !== 200) throw new Error(`etcd txn: ${res.status} ${await res.text()}`);
  }
}

/** What etcd serves, as etcdctl reports it: live keys and the store's revision. */
export async function served(url: string): Promise<{ keys: number; revision: number }> {
  const { stdout } = await execa('etcdctl', ['--endpoints', url, 'get', '', '--prefix', '--count-only', '-w', 'json'], { env: { ETCDCTL_API: '3' } });
  const out = JSON.parse(stdout) as { header: { revision: number }; count?: number };
  return { keys: out.count ?? 0, revision: Number(out.header.revision) };
}

/** `etcdctl snapshot save` of the running etcd into `file`. */
export async function saveSnapshot(url: string, file: string): Promise<void> {
  await execa('etcdctl', ['--endpoints', url, 'snapshot', 'save', file], { env: { ETCDCTL_API: '3' } });
}
