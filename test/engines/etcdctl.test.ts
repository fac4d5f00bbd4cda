// The etcdctl wrapper against a real etcd (Debian's etcd-server 3.4, started on loopback ports) with
// keys written through its API: what it serves, a snapshot saved and read back, a snapshot restored
// into a new data dir that a second real etcd then serves, and the failures an operator meets (no
// etcd there, a file that is no snapshot, a data dir that exists, a cancel, a missing binary).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AbortError } from '../../src/format/logstore/errors';
import { checkBbolt } from '../../src/format/bbolt/index';
import { freePort } from '../../src/platform/dev-server';
import { EtcdctlError, EtcdRestoreRefusedError, servedState, snapshotRestore, snapshotSave, snapshotStatus } from '../../src/engines/etcd/etcdctl';
import { makeEtcd, putKeys, type TestEtcd } from '../helpers/etcd';
import { fresh, useScratch } from '../helpers/log-stores';

useScratch('etcdctl-');

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const running: TestEtcd[] = [];
let etcd: TestEtcd;

describe('etcdctl wrapper', () => {
  before(async () => {
    etcd = await makeEtcd(fresh());
    running.push(etcd);
    await etcd.start();
    await putKeys(etcd.url, 250, { valueBytes: 100 });
  });
  after(async () => {
    for (const e of running) await e.kill();
  });

  test('servedState: the live keys and the revision etcd serves (3 transactions of at most 100 puts after revision 1)', async () => {
    assert.deepEqual(await servedState(etcd.url), { keys: 250, revision: 4 });
  });

  test('snapshotSave: a bbolt file our checker passes, followed by the sha256 of its bytes; status reads its revision; nothing left beside it', async () => {
    const dir = fresh();
    await mkdir(dir);
    const file = join(dir, 'snap.db');
    await snapshotSave(etcd.url, file);
    const bytes = await readFile(file);
    const report = await checkBbolt(file);
    assert.equal(report.healthy, true, JSON.stringify(report.findings));
    assert.equal(bytes.length % report.pageSize, 32, 'the db, then a 32-byte trailer');
    assert.equal(bytes.subarray(-32).toString('hex'), sha256(bytes.subarray(0, -32)));
    const status = await snapshotStatus(file);
    assert.equal(status.revision, 4);
    assert.ok(status.totalKey >= 250, `${status.totalKey}`);
    assert.equal(status.totalSize, bytes.length - 32);
    assert.equal(sha256(await readFile(file)), sha256(bytes), 'status only reads the file');
    assert.deepEqual(await readdir(dir), ['snap.db']);
  });

  test('snapshotRestore: a new data dir that a second real etcd serves with every key; an existing data dir is refused and left as it was', async () => {
    const dir = fresh();
    await mkdir(dir);
    const file = join(dir, 'snap.db');
    await snapshotSave(etcd.url, file);
    const second = await makeEtcd(fresh(), 'restored');
    running.push(second);
    await snapshotRestore(file, { dataDir: second.dataDir, member: second.member, peerUrl: second.peerUrl });
    await second.start();
    assert.deepEqual(await servedState(second.url), { keys: 250, revision: 4 });

    const taken = join(dir, 'taken');
    await mkdir(taken);
    await writeFile(join(taken, 'operator-file'), 'mine');
    await assert.rejects(snapshotRestore(file, { dataDir: taken, member: 'x', peerUrl: second.peerUrl }), (err: Error) => err instanceof EtcdRestoreRefusedError && err.message.includes(taken));
    assert.deepEqual(await readdir(taken), ['operator-file']);
    assert.deepEqual((await readdir(dir)).sort(), ['snap.db', 'taken'], 'no half-built data dir is left');
  });

  test('a restore that fails leaves no data dir and names the command and etcdctl\'s words', async () => {
    const dir = fresh();
    await mkdir(dir);
    const notSnapshot = join(dir, 'not.db');
    await writeFile(notSnapshot, Buffer.alloc(8192, 7));
    const dataDir = join(dir, 'new.etcd');
    await assert.rejects(snapshotRestore(notSnapshot, { dataDir, member: 'm', peerUrl: 'http://127.0.0.1:1' }), (err: Error) => {
      assert.ok(err instanceof EtcdctlError, String(err));
      assert.match(err.message, /^etcdctl snapshot restore .*not\.db .*exit \d+: \S/);
      return true;
    });
    assert.deepEqual(await readdir(dir), ['not.db']);
  });

  test('no etcd at the URL: servedState fails within its timeout naming the command; a save is stopped by its timeout and by a cancel', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    await assert.rejects(servedState(nobody), (err: Error) => err instanceof EtcdctlError && err.message.startsWith(`etcdctl --endpoints ${nobody} `) && /exit \d+: Error: /.test(err.message));
    assert.ok(Date.now() - started < 30_000);

    const dir = fresh();
    await mkdir(dir);
    await assert.rejects(snapshotSave(nobody, join(dir, 'a.db'), { timeoutMs: 1500 }), (err: Error) => err instanceof EtcdctlError && err.timedOut && err.message.includes(`etcdctl --endpoints ${nobody} snapshot save`) && err.message.includes('timed out'));
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error('run cancelled')), 500);
    await assert.rejects(snapshotSave(nobody, join(dir, 'b.db'), { signal: abort.signal }), (err: Error) => err instanceof AbortError && /run cancelled/.test(err.message));
    assert.deepEqual(await readdir(dir), [], "no snapshot file, and no etcdctl's .part left behind");
  });

  test('ETCDCTL names the binary; a missing one is an error that says so', async () => {
    const saved = process.env.ETCDCTL;
    process.env.ETCDCTL = '/nonexistent/etcdctl';
    try {
      await assert.rejects(servedState(etcd.url), (err: Error) => err instanceof EtcdctlError && err.message.includes('did not run') && err.message.includes('/nonexistent/etcdctl'));
    } finally {
      if (saved === undefined) delete process.env.ETCDCTL;
      else process.env.ETCDCTL = saved;
    }
  });
});
