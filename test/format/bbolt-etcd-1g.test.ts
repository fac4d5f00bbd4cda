// The case "a 1 GB db written by etcd itself reports nothing": a real etcd (Debian's 3.4,
// test/helpers/etcd) writes ≈1 GiB of keys through its own API and stops; the checker finds nothing
// in the > 1 GB db and readEtcdDb counts every key written. Timings go to the test's diagnostics.
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checkBbolt, readEtcdDb } from '../../src/format/bbolt/index';
import { makeEtcd, putKeys, served, type TestEtcd } from '../helpers/etcd';

/** etcd keeps the WAL (as large as the data) beside the db: both, with room to spare. */
const NEEDED_BYTES = 3 * 2 ** 30;
/**
 * A KeyValue of a 12,000-byte value and its 17-byte revision key fills a 3-page (12 KiB) page unit
 * almost exactly; 100 of them (one transaction) stay under etcd's 1.5 MiB request limit.
 */
const VALUE_BYTES = 12_000;
/** 90,000 × 12,000 bytes ≈ 1.006 GiB of values: a db of ≈ 1.1 GB. */
const KEYS = 90_000;

let work: string | undefined;
let etcd: TestEtcd | undefined;
after(async () => {
  await etcd?.kill();
  if (work) await rm(work, { recursive: true, force: true });
});

const free = async (dir: string) => {
  const fs = await statfs(dir);
  return fs.bavail * fs.bsize;
};

test('a 1 GB db written by etcd itself: the checker reports nothing, readEtcdDb counts every key', { timeout: 600_000 }, async (t) => {
  const available = await free(tmpdir());
  if (available < NEEDED_BYTES) {
    t.skip(`${(available / 2 ** 30).toFixed(1)} GiB free under ${tmpdir()}: the 1 GB etcd case needs 3 GiB`);
    return;
  }
  work = await mkdtemp(join(tmpdir(), 'bbolt-etcd-1g-'));
  // The default quota (2 GiB) would do; 4 GiB keeps the NOSPACE alarm out of the picture.
  etcd = await makeEtcd(work, 'default', ['--quota-backend-bytes', String(4 * 2 ** 30)]);
  await etcd.start();

  const started = performance.now();
  await putKeys(etcd.url, KEYS, { prefix: '/registry/k', valueBytes: VALUE_BYTES, inFlight: 4 });
  const writeMs = performance.now() - started;
  const before = await served(etcd.url);
  assert.equal(before.keys, KEYS);
  const stopping = performance.now();
  await etcd.stop();
  const stopMs = performance.now() - stopping;

  const size = (await stat(etcd.db)).size;
  assert.ok(size >= 1_000_000_000, `db of ${size} bytes`);

  const checking = performance.now();
  const report = await checkBbolt(etcd.db);
  const checkMs = performance.now() - checking;
  assert.equal(report.healthy, true, JSON.stringify(report.findings.slice(0, 3)));
  assert.deepEqual(report.findings, []);
  assert.equal(report.findingsDropped, 0);

  const reading = performance.now();
  const state = await readEtcdDb(etcd.db);
  const readMs = performance.now() - reading;
  assert.equal(state.report.healthy, true);
  assert.equal(state.liveKeys, KEYS);
  assert.equal(state.revisions, KEYS, 'one revision a key: nothing overwritten');
  assert.equal(state.revision, before.revision);
  assert.equal(state.undecodable, 0);

  t.diagnostic(`db ${size} bytes (${(size / 2 ** 30).toFixed(2)} GiB), ${KEYS} keys of ${VALUE_BYTES} bytes`);
  t.diagnostic(`write ${(writeMs / 1000).toFixed(1)} s (${(KEYS * VALUE_BYTES / 2 ** 20 / (writeMs / 1000)).toFixed(0)} MiB/s), stop ${(stopMs / 1000).toFixed(1)} s, checkBbolt ${(checkMs / 1000).toFixed(2)} s, readEtcdDb ${(readMs / 1000).toFixed(2)} s`);
});
