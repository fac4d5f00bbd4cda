// logStoreRecover on stores written by the real engines (goleveldb, Pebble through storectl), damaged
// on disk the way incidents 003 and 004 were, with a real HTTP service that owns the store; the real
// dev server and worker. After each repair the real engine counts the keys.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { execa } from 'execa';
import { getProgress, startRunbook, waitForReport } from '../../src/client';
import { serviceControl } from '../../src/activities/services/index';
import { scanStore, storectlPath, type StoreEngine } from '../../src/engines/logstore/storectl';
import { freePort } from '../../src/platform/dev-server';
import type { LogStoreRecoverRequest } from '../../src/workflows/inputs';
import type { RunbookReport } from '../../src/workflows/report';
import { appendTornRecord, damageTableBlock, flipManifestByte, tearLastManifestRecord, tearWal } from '../helpers/log-store-damage';
import { writeCppLevelDb, writeStore } from '../helpers/log-stores';
import { declareService, get, waitFor } from '../helpers/service';
import { treeDigest } from '../hostile/sandbox';
import { answerCurrentPlan, useTestBed } from '../helpers/temporal';

const bed = useTestBed('logstore');

const storeApi = fileURLToPath(new URL('../../demo/logstore-api.mjs', import.meta.url));


interface Scene {
  dir: string;
  api: string;
  written: { keys: number; digest: string };
  input: LogStoreRecoverRequest;
}

type Writer = (dir: string) => Promise<{ keys: number; digest: string }>;
const goleveldb = (shape: Parameters<typeof writeStore>[2]): Writer => (dir) => writeStore('goleveldb', dir, shape);

/** A store written by an engine, damaged by `damage`, and its service running (declared as `store-api-<port>`). */
async function scene(engine: StoreEngine, write: Writer, damage: (dir: string) => Promise<unknown>, service = true): Promise<Scene> {
  const root = await mkdtemp(join(tmpdir(), 'logstore-'));
  bed.cleanups.push(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'index.db');
  const written = await write(dir);
  await damage(dir);
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const input: LogStoreRecoverRequest = { mode: 'apply', approval: 'auto', dir, engine };
  if (!service) return { dir, api, written, input };
  const spec = {
    adapter: 'exec' as const,
    name: `store-api-${port}`,
    start: [process.execPath, storeApi, '--engine', engine, '--dir', dir, '--port', String(port), '--storectl', storectlPath()],
    pidFile: join(root, 'store-api.pid'),
    logFile: join(root, 'store-api.log'),
  };
  const { name, ...entry } = spec;
  await declareService(name, { ...entry, health: { url: `${api}/health` }, checks: { keys: { url: `${api}/api/keys`, expectStatus: 200, retries: 2, delayMs: 200 } } });
  await serviceControl({ ...spec, stopTimeoutSeconds: 10 }).start();
  bed.cleanups.push(() => serviceControl({ ...spec, stopTimeoutSeconds: 5 }).stop());
  await waitFor('the store service', async () => 'status' in (await get(`${api}/health`)));
  return { dir, api, written, input: { ...input, service: name } };
}

const start = (input: LogStoreRecoverRequest) => startRunbook(bed.client, bed.config, 'logStoreRecover', input, { requestedBy: 'alice', origin: 'test' });

async function apiKeys(api: string): Promise<{ status: number; keys?: number }> {
  const answer = await get(`${api}/api/keys`);
  if (!('status' in answer)) throw new Error(`service did not answer: ${answer.error}`);
  return { status: answer.status, ...(answer.status === 200 ? { keys: JSON.parse(answer.body).keys } : {}) };
}

/** Runs to the end, approving the plan as bob when it asks. */
async function runToEnd(input: LogStoreRecoverRequest): Promise<{ report?: RunbookReport; error?: string; plan: string[] }> {
  const run = await start(input);
  let plan: string[] = [];
  await waitFor('the plan', async () => {
    const progress = await getProgress(bed.client, run.workflowId).catch(() => undefined);
    if (progress?.plan) plan = progress.plan.actions;
    if (progress?.outcome === 'AwaitingApproval') await answerCurrentPlan(bed.client, run.workflowId, 'bob');
    return progress?.plan !== undefined && progress.outcome !== 'AwaitingApproval';
  }, 120_000);
  return { ...(await waitForReport(run.handle)), plan };
}

const stepIds = (report: RunbookReport) => report.steps.map((s) => s.id);
const evidence = (report: RunbookReport, id: string) => report.steps.find((s) => s.id === id)?.evidence as Record<string, any>;

describe('logStoreRecover', () => {
  test('torn last record of a many-record MANIFEST: cut back, the engine opens it, every key is there, the service answers 200', async () => {
    const s = await scene('goleveldb', goleveldb({ keys: 20_000, tables: 4 }), appendTornRecord);
    const { report, error, plan } = await runToEnd(s.input);
    assert.equal(report?.outcome, 'Succeeded', error);
    assert.ok(plan.some((a) => /^cut MANIFEST-\d+ from \d+ to \d+ bytes/.test(a)), plan.join('\n'));
    assert.deepEqual(stepIds(report!), ['resolve', 'diagnose', 'diagnose-service', 'stop-service', 'wait-service-down', 'snapshot', 'truncate', 'verify', 'start-service', 'wait-service-healthy', 'smoke']);
    assert.equal(report!.approval, undefined, 'nothing is lost, so approval "auto" stands');
    const cut = evidence(report!, 'truncate');
    assert.ok(cut.bytesRemoved > 0);
    const real = await scanStore('goleveldb', s.dir);
    assert.deepEqual(real, { engine: 'goleveldb', keys: s.written.keys, digest: s.written.digest }, 'every key the engine wrote is served');
    assert.deepEqual(await apiKeys(s.api), { status: 200, keys: s.written.keys });
    // The cut bytes are kept: the snapshot's copy of the MANIFEST is the file before the cut.
    const manifest = cut.truncated[0].file as string;
    const snapshot = evidence(report!, 'snapshot').destination as string;
    assert.equal((await stat(join(snapshot, manifest))).size, cut.truncated[0].fileBytes);
    assert.ok(report!.notes.some((n) => /^bytes truncated: \d+/.test(n)), report!.notes.join('\n'));
  });

  // C++ LevelDB writes a MANIFEST of two records at each open: the files, then the numbers (log,
  // next file, last sequence). goleveldb repeats the numbers in its first record, so only a C++ store
  // is left unopenable by cutting the second; goleveldb, whose format it is, then recovers it.
  test('torn second record of a 2-record MANIFEST (C++ LevelDB): truncation is not enough; strict and rebuild recover every key the engine serves', async () => {
    for (const policy of ['strict', 'rebuild'] as const) {
      const s = await scene('goleveldb', (dir) => writeCppLevelDb(dir, 500), tearLastManifestRecord);
      const { report, error, plan } = await runToEnd({ ...s.input, policy });
      assert.equal(report?.outcome, 'Succeeded', `${policy}: ${error}`);
      const diagnosis = evidence(report!, 'diagnose');
      assert.equal(diagnosis.truncatable, false, 'the doctor says truncation leaves a MANIFEST the engine refuses');
      assert.ok(diagnosis.manifest.missingAfterTruncate.includes('nextFileNumber'), JSON.stringify(diagnosis.manifest));
      assert.equal(diagnosis.predictions.truncate.opens, false, 'and the engine agrees on a scratch copy');
      assert.ok(plan.some((a) => a.startsWith('recover a copy of the snapshot')), plan.join('\n'));
      assert.ok(stepIds(report!).includes('swap'));
      const real = await scanStore('goleveldb', s.dir);
      assert.equal(evidence(report!, 'verify').keys, real.keys, 'the report counts what the engine really serves');
      assert.equal(real.keys, s.written.keys, 'the journal held every key');
      assert.deepEqual(await apiKeys(s.api), { status: 200, keys: s.written.keys });
    }
  });

  test('corruption in the middle of the MANIFEST: truncate-only stops with nothing changed but the snapshot', async () => {
    const s = await scene('goleveldb', goleveldb({ keys: 5_000, tables: 3 }), (dir) => flipManifestByte(dir, 1));
    const before = await treeDigest(s.dir);
    const { report, error } = await runToEnd({ ...s.input, policy: 'truncate-only' });
    assert.equal(report?.outcome, 'Failed');
    assert.match(error ?? '', /corrupt at offset \d+ \(checksum\).*policy truncate-only/);
    assert.equal(await treeDigest(s.dir), before, 'the store is byte for byte what it was');
    assert.ok(stepIds(report!).includes('snapshot'));
    assert.deepEqual(report!.compensations.map((c) => [c.id, c.state]), [['start-service-again', 'completed']], 'the service was started again');
  });

  test('corruption in the middle of the MANIFEST: strict and rebuild recover, losing exactly what the plan counted', async () => {
    for (const policy of ['strict', 'rebuild'] as const) {
      const s = await scene('goleveldb', goleveldb({ keys: 5_000, tables: 3 }), (dir) => flipManifestByte(dir, 1));
      const { report, error, plan } = await runToEnd({ ...s.input, policy });
      assert.equal(report?.outcome, 'Succeeded', `${policy}: ${error}`);
      const { predictions, manifest } = evidence(report!, 'diagnose');
      assert.equal(manifest.status, 'corrupt');
      assert.equal(manifest.corruption.kind, 'checksum');
      const real = await scanStore('goleveldb', s.dir);
      const lost = predictions.readableKeys - real.keys;
      assert.ok(plan.some((a) => a.includes(`; ${lost} of ${predictions.readableKeys} readable keys lost`)), `${policy}: ${plan.join('\n')}`);
      assert.equal(real.keys, s.written.keys, 'Recover reads the tables, not the MANIFEST: every key is back');
      assert.equal(evidence(report!, 'verify').digest, real.digest);
      assert.deepEqual(await apiKeys(s.api), { status: 200, keys: real.keys });
    }
  });

  test('a damaged table block: strict drops the table, rebuild keeps its good keys; each loses exactly what the plan said', async () => {
    const lost: Record<string, number> = {};
    for (const policy of ['strict', 'rebuild'] as const) {
      const s = await scene('goleveldb', goleveldb({ keys: 20_000, tables: 4, valueBytes: 200 }), damageTableBlock);
      const { report, error, plan } = await runToEnd({ ...s.input, policy });
      assert.equal(report?.outcome, 'Succeeded', `${policy}: ${error}`);
      const { predictions } = evidence(report!, 'diagnose');
      assert.equal(predictions.readableKeys, s.written.keys, 'with checksums ignored the engine still reads every key written');
      const real = await scanStore('goleveldb', s.dir);
      lost[policy] = predictions.readableKeys - real.keys;
      assert.ok(plan.some((a) => a.includes(`${lost[policy]} of ${predictions.readableKeys} readable keys lost`)), `${policy}: the plan named the loss the engine shows: ${plan.join('\n')}`);
      assert.ok(report!.approval?.decision === 'approve', 'losing keys needs a person even with approval "auto"');
      assert.deepEqual(await apiKeys(s.api), { status: 200, keys: real.keys });
    }
    assert.ok(lost.strict! > lost.rebuild!, `strict loses the whole table (${lost.strict}), rebuild only the bad block (${lost.rebuild})`);
    assert.ok(lost.rebuild! > 0);
  });

  test('a WAL with a torn tail (goleveldb, and Pebble with recyclable headers): cut back, every complete record served', async () => {
    for (const engine of ['goleveldb', 'pebble'] as const) {
      let tear: Awaited<ReturnType<typeof tearWal>> | undefined;
      const s = await scene(engine, (dir) => writeStore(engine, dir, { keys: 3_000, tables: 1, walKeys: 1_000, batchKeys: 100 }), async (dir) => (tear = await tearWal(dir)), engine === 'goleveldb');
      const { report, error } = await runToEnd(s.input);
      assert.equal(report?.outcome, 'Succeeded', `${engine}: ${error}`);
      const diagnosis = evidence(report!, 'diagnose');
      const wal = diagnosis.damagedLogs.find((l: { file: string }) => l.file === tear!.file);
      assert.equal(wal?.status, 'torn-tail', `${engine}: ${JSON.stringify(diagnosis.damagedLogs)}`);
      assert.equal(wal.validBytes, tear!.validBytes);
      if (engine === 'pebble') assert.equal(wal.headerFormat, 'recyclable');
      const cut = evidence(report!, 'truncate');
      assert.deepEqual(cut.truncated.map((t: { file: string; validBytes: number }) => [t.file, t.validBytes]), [[tear!.file, tear!.validBytes]]);
      // The torn batch never reached the store: the keys of every complete batch are there, that one's are not.
      const real = await scanStore(engine, s.dir);
      assert.equal(real.keys, s.written.keys - 100, `${engine}: one torn batch of 100 keys lost, nothing else`);
      assert.equal(diagnosis.predictions.readableKeys, real.keys, 'and the plan said so: the engine reads nothing more from the torn bytes');
      if (engine === 'goleveldb') assert.deepEqual(await apiKeys(s.api), { status: 200, keys: real.keys });
    }
  });

  test('not a store, and a path escaping through a symlink: clear errors, nothing touched', async () => {
    const root = await mkdtemp(join(tmpdir(), 'logstore-bad-'));
    bed.cleanups.push(() => rm(root, { recursive: true, force: true }));
    const notAStore = join(root, 'plain');
    await writeStore('goleveldb', join(root, 'real'), { keys: 10, tables: 0 });
    await (await import('node:fs/promises')).mkdir(notAStore);
    await (await import('node:fs/promises')).writeFile(join(notAStore, 'notes.txt'), 'hello');
    const plainBefore = await treeDigest(root);
    const first = await waitForReport((await start({ mode: 'apply', approval: 'auto', dir: notAStore, engine: 'goleveldb' })).handle);
    assert.match(first.error ?? '', /not a LevelDB\/Pebble store/);
    const escape = join(root, 'escape');
    await symlink('/etc', escape);
    const second = await waitForReport((await start({ mode: 'apply', approval: 'auto', dir: escape, engine: 'goleveldb' })).handle);
    assert.match(second.error ?? '', /dir .*escape: resolves to \/etc, outside this host's data roots/);
    await rm(escape);
    assert.equal(await treeDigest(root), plainBefore, 'nothing under the folder changed');
  });

  test('a store a live process holds open (its LOCK held) and no service named to stop: the plan says so, the snapshot refuses, nothing changed', async () => {
    const s = await scene('goleveldb', goleveldb({ keys: 2_000, tables: 2 }), appendTornRecord, false);
    // util-linux flock(1): a real process holding a real lock on the store's LOCK, as an engine does.
    const holder = execa('flock', [join(s.dir, 'LOCK'), 'sleep', '120'], { reject: false });
    bed.cleanups.push(async () => holder.kill('SIGKILL'));
    await waitFor('the lock to be held', async () => (await readFile('/proc/locks', 'utf8')).includes(` ${holder.pid} `));
    const before = await treeDigest(s.dir);
    const { report, error, plan } = await runToEnd(s.input);
    assert.equal(report?.outcome, 'Failed');
    assert.ok(plan.some((a) => a.includes('the store is open (pid ')), plan.join('\n'));
    assert.match(error ?? '', new RegExp(`is open: pid \\d+ holds its LOCK; refusing to snapshot it under a running engine`));
    assert.equal(await treeDigest(s.dir), before);
  });

  test('Pebble with a corrupt MANIFEST: no recovery exists, so it stops with the report and the snapshot', async () => {
    const s = await scene('pebble', (dir) => writeStore('pebble', dir, { keys: 5_000, tables: 3 }), (dir) => flipManifestByte(dir, 1), false);
    const before = await treeDigest(s.dir);
    const { report, error } = await runToEnd({ ...s.input, policy: 'rebuild' });
    assert.equal(report?.outcome, 'Failed');
    assert.match(error ?? '', /Pebble has no recovery/);
    assert.equal(await treeDigest(s.dir), before);
    const sums = await readFile(join(evidence(report!, 'snapshot').destination, 'SHA256SUMS'), 'utf8');
    assert.match(sums, /MANIFEST-\d+/);
  });
});
