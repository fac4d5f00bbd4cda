// The bbolt checker on a real etcd's db (Debian's etcd 3.4): clean after etcd wrote and stopped, and
// with the seed's damage made in it (a branch of the `key` bucket pointed back at its root), which
// the checker reports as a cycle while etcd itself then refuses to start with the seed's panic.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import { checkBbolt } from '../../src/format/bbolt/index';
import { freePort } from '../../src/platform/dev-server';
import { bucketTree, setBranchChild } from '../helpers/bbolt-damage';
import { waitFor } from '../helpers/service';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'bbolt-etcd-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A single-member etcd on loopback ports, its data in `dataDir`. */
async function startEtcd(dataDir: string): Promise<{ process: ResultPromise; url: string }> {
  const [client, peer] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const etcd = execa('etcd', [
    '--name', 'default', '--data-dir', dataDir,
    '--listen-client-urls', url, '--advertise-client-urls', url,
    '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', `default=${peerUrl}`,
  ], { reject: false, all: true });
  return { process: etcd, url };
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

test('a real etcd db: clean after etcd wrote 2,000 keys and stopped; with the seed\'s cycle, reported, and etcd panics as in the seed', { timeout: 180_000 }, async () => {
  const dataDir = join(work, 'default.etcd');
  const etcd = await startEtcd(dataDir);
  await waitFor('etcd to serve', async () => (await fetch(`${etcd.url}/health`).then((r) => r.ok, () => false)), 60_000);
  // Through etcd's gRPC gateway: one HTTP request a key, 1 KiB values, so the `key` bucket has branch pages.
  for (let i = 0; i < 2_000; i++) {
    const res = await fetch(`${etcd.url}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: b64(`/registry/k${String(i).padStart(5, '0')}`), value: b64('v'.repeat(1024)) }) });
    assert.equal(res.status, 200);
  }
  etcd.process.kill('SIGTERM');
  await etcd.process;

  const db = join(dataDir, 'member', 'snap', 'db');
  const clean = await checkBbolt(db);
  assert.equal(clean.healthy, true, JSON.stringify(clean.findings.slice(0, 3)));
  assert.equal(clean.metas.every((m) => m.freelist === null), true, 'etcd keeps no freelist');
  const keyBucket = clean.stats.bucketKeys.find((b) => b.bucket === 'key');
  assert.ok(keyBucket && keyBucket.keys >= 2_000, `the key bucket holds every revision: ${JSON.stringify(keyBucket)}`);

  const tree = await bucketTree(db, 'key');
  const branch = tree.pages.find((p) => p.kind === 'branch' && p.parent === tree.root) ?? tree.pages.find((p) => p.id === tree.root)!;
  assert.equal(branch.kind, 'branch');
  await setBranchChild(db, tree.pageSize, branch.id, 0, tree.root);
  const damaged = await checkBbolt(db);
  const cycle = damaged.findings.find((f) => f.code === 'cycle');
  assert.ok(cycle, JSON.stringify(damaged.findings.slice(0, 3)));
  assert.equal(cycle.cycle?.[0], tree.root);

  const again = await startEtcd(dataDir);
  const ended = await Promise.race([again.process, new Promise<'running'>((r) => setTimeout(() => r('running'), 30_000))]);
  if (ended === 'running') again.process.kill('SIGKILL');
  assert.notEqual(ended, 'running', 'etcd must not start on the damaged db');
  assert.match(String((ended as { all?: string }).all), /freepages: failed to get all reachable pages \(page \d+: multiple references/);
});
