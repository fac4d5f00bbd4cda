// Durability of fullBackup (issue 11): the worker (its own process) is killed with SIGKILL while
// podman saves a ~400 MB image into the pack; a new worker resumes the run once the step's heartbeat
// timeout has passed (5 min), the images step runs again, and the target ends with exactly one pack,
// named complete only with its manifest, holding nothing but the manifest's files (no `.part`, no
// podman staging under images.tar.tmp), which verifyBackup proves loads with the same image IDs.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { getProgress, startRunbook, waitForReport } from '../../src/client';
import type { Config } from '../../src/config';
import { sha256File } from '../../src/activities/files';
import { makePodman } from '../helpers/podman';
import { waitFor } from '../helpers/service';
import { testClient, testConfig } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

let config: Config;
let client: Client;
let root: string;
const workers: WorkerProcess[] = [];

before(async () => {
  config = testConfig('backup-crash');
  client = await testClient(config);
  root = await mkdtemp(join(tmpdir(), 'backup-crash-'));
});
after(async () => {
  for (const w of workers) w.process.kill('SIGKILL');
  await client.connection.close();
  await rm(root, { recursive: true, force: true });
});

/** Every entry under `dir`, as paths relative to it (folders end in `/`). */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.map((e) => `${join(e.parentPath, e.name).slice(dir.length + 1)}${e.isDirectory() ? '/' : ''}`).sort();
}

test('a worker killed with SIGKILL during the image save: the run resumes, one complete pack whose files match its manifest, nothing partial named complete, verifyBackup loads the images', { timeout: 900_000 }, async () => {
  const podman = await makePodman(join(root, 'podman'));
  // One random layer of ~400 MB: podman stages it (about 1 s) then streams it for a few seconds more,
  // so the kill lands after the step's first heartbeat (at 64 MiB) and before the archive is whole.
  const bigId = await podman.image('localhost/crash-api:1', 400e6);
  const smallId = await podman.image('localhost/crash-worker:1', 1 << 20);
  await podman.container('crash-api-1', 'localhost/crash-api:1', 'crash');
  await podman.container('crash-worker-1', 'localhost/crash-worker:1', 'crash');
  const ids = [bigId, smallId].map((id) => (id.startsWith('sha256:') ? id : `sha256:${id}`)).sort();

  const db = join(root, 'app.db');
  await execa('sqlite3', [db, 'CREATE TABLE t(id INTEGER PRIMARY KEY, pad BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 500) INSERT INTO t(pad) SELECT randomblob(1000) FROM n;']);
  const volume = join(root, 'uploads');
  await mkdir(join(volume, 'a'), { recursive: true });
  await writeFile(join(volume, 'a', 'one.bin'), Buffer.alloc(200_000, 3));
  const target = join(root, 'target');
  await mkdir(target);

  const first = await spawnWorker(config, workers);
  const run = await startRunbook(client, config, 'fullBackup', { mode: 'apply', approval: 'auto', target, sqlite: [db], volumes: [volume], compose: { project: 'crash' }, includeImages: true, engine: 'podman' }, { requestedBy: 'cron', origin: 'test' });
  const beat = await waitFor('the images step to report a heartbeat', async () => {
    const step = (await getProgress(client, run.workflowId).catch(() => undefined))?.steps.find((s) => s.id === 'images');
    return step?.state === 'running' && step.lastHeartbeat ? step : undefined;
  }, 300_000);
  first.process.kill('SIGKILL');
  assert.equal((await first.process).signal, 'SIGKILL');
  const partial = (await readdir(target)).filter((n) => n.startsWith('.partial-'));
  assert.equal(partial.length, 1, `the pack is still partial at the kill: ${partial.join(', ')} (heartbeat ${JSON.stringify(beat.lastHeartbeat)})`);
  assert.ok(!(await readdir(join(target, partial[0]!))).includes('images.tar'), 'the kill landed before the archive was whole');

  await spawnWorker(config, workers);
  const { report, error } = await waitForReport(run.handle);
  assert.equal(report?.outcome, 'Succeeded', error);
  const imagesStep = report!.steps.find((s) => s.id === 'images')!;
  assert.ok(imagesStep.attempts >= 2, `the save ran again after the kill (attempts: ${imagesStep.attempts})`);

  // Exactly one pack, renamed complete: nothing left under the partial name, nothing else.
  const names = await readdir(target);
  assert.equal(names.length, 1, `one entry in the target: ${names.join(', ')}`);
  assert.match(names[0]!, /^backup-\d{8}T\d{6}\.\d{3}Z$/);
  assert.equal(`.partial-${names[0]}`, partial[0], 'the partial folder was renamed, not left beside the pack');
  const pack = join(target, names[0]!);
  const manifest = JSON.parse(await readFile(join(pack, 'manifest.json'), 'utf8')) as { files: Array<{ path: string; bytes: number; sha256: string }>; images: Array<{ id: string }> };
  const images = manifest.files.find((f) => f.path === 'images.tar');
  assert.ok(images, JSON.stringify(manifest.files));
  assert.ok(images.bytes > 400e6, `images.tar holds the big layer: ${images.bytes} bytes`);
  for (const f of manifest.files) assert.equal(await sha256File(join(pack, f.path)), f.sha256, `${f.path}: the pack holds what the manifest names`);
  assert.deepEqual(manifest.images.map((i) => i.id).sort(), ids);
  // Nothing but the manifest's files: no images.tar.part, no podman staging (images.tar.tmp/).
  assert.deepEqual(await tree(pack), ['manifest.json', 'sqlite/', 'volumes/', ...manifest.files.map((f) => f.path)].sort());

  const verified = await waitForReport((await startRunbook(client, config, 'verifyBackup', { mode: 'plan', pack }, { requestedBy: 'alice', origin: 'test' })).handle);
  assert.equal(verified.report?.outcome, 'Planned', verified.error);
  assert.match(verified.report!.plan!.summary, /restores: 3 files .* 1 sqlite databases pass integrity_check after restore, 2 images load with their IDs/);
});
