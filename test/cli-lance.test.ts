// `runbook doctor lance` and `runbook demo lance` as an operator runs them: the real CLI process on a
// real incident table, exit codes, human and JSON output.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import * as lancedb from '@lancedb/lancedb';
import { execa } from 'execa';
import type { Config } from '../src/config';
import { buildLanceIncident, type LanceIncident } from '../src/demo/lance-incident';
import { pidInFile } from './helpers/service';
import { startWorker, testConfig } from './helpers/temporal';

const root = fileURLToPath(new URL('..', import.meta.url));
let config: Config;
let worker: { stop(): Promise<void> };
let incident: LanceIncident;
let sandbox: string;

const runbook = (args: string[]) =>
  execa(process.execPath, ['bin/runbook.js', ...args], { cwd: root, env: { ...process.env, RUNBOOK_TASK_QUEUE: config.taskQueue }, reject: false });

before(async () => {
  config = testConfig('cli-lance');
  worker = await startWorker(config);
  incident = await buildLanceIncident({ versions: 'seed' });
  sandbox = await mkdtemp(join(tmpdir(), 'demo-lance-'));
});
after(async () => {
  await worker.stop();
  await incident.cleanup();
  const backend = pidInFile(await readFile(join(sandbox, 'images-api.pid'), 'utf8').catch(() => ''));
  if (backend !== undefined && backend > 1) {
    try {
      process.kill(backend);
    } catch {
      // already gone
    }
  }
  await rm(sandbox, { recursive: true, force: true });
});

/** A LanceDB table written by lancedb itself: versions 1, 2, 3 with 2, 4, 6 rows. */
async function threeVersionTable(name: string): Promise<string> {
  const dbDir = join(sandbox, `db-${name}`);
  const db = await lancedb.connect(dbDir);
  const rows = (from: number) => [0, 1].map((k) => ({ id: from + k, name: `img-${from + k}.jpg` }));
  const table = await db.createTable('images', rows(0), { storageOptions: { new_table_enable_v2_manifest_paths: 'false' } });
  await table.add(rows(2));
  await table.add(rows(4));
  table.close();
  db.close();
  return join(dbDir, 'images.lance');
}

describe('runbook doctor lance', () => {
  test('on the incident: exit 1, names version 421, its 295 missing files, all restorable, and the complete version 61', async () => {
    const { exitCode, stdout } = await runbook(['doctor', 'lance', incident.tableDir]);
    assert.equal(exitCode, 1);
    assert.match(stdout, /NOT healthy/);
    assert.match(stdout, /Lance reads version 421 \(386 rows\); 295 files it needs are missing/);
    assert.match(stdout, /newest complete version: 61 \(30 rows\)/);
    assert.match(stdout, /restorable from git-LFS .*: 295; unrestorable: 0/);
  });

  test('--json carries the documented fields', async () => {
    const { exitCode, stdout } = await runbook(['doctor', 'lance', incident.tableDir, '--json']);
    assert.equal(exitCode, 1);
    const d = JSON.parse(stdout);
    assert.equal(d.engine, 'lance');
    assert.equal(d.path, incident.tableDir);
    assert.equal(d.healthy, false);
    assert.equal(d.currentVersion, 421);
    assert.equal(d.latestCompleteVersion, 61);
    const v421 = d.versions.find((v: { version: number }) => v.version === 421);
    assert.deepEqual([v421.rows, v421.complete, v421.missing.length, v421.pointers.length], [386, false, 295, 0]);
    assert.deepEqual(new Set(v421.missing), new Set(incident.missingFiles));
    assert.equal(d.restorable.length, 295);
    assert.ok(d.restorable.every((r: { path: string; oid: string; size: number }) => /^data\/.+\.lance$/.test(r.path) && /^[0-9a-f]{64}$/.test(r.oid) && r.size > 0));
    assert.deepEqual(d.unrestorable, []);
    assert.ok(d.findings.some((f: { code: string }) => f.code === 'CURRENT_VERSION_INCOMPLETE'));
  });

  test('a whole table: exit 0, healthy, no findings', async () => {
    const tableDir = await threeVersionTable('whole');
    const { exitCode, stdout } = await runbook(['doctor', 'lance', tableDir]);
    assert.equal(exitCode, 0, stdout);
    assert.match(stdout, /: healthy\n/);
    assert.doesNotMatch(stdout, /finding/);
  });

  test('the version Lance reads is whole but an older manifest is damaged: a finding, so exit 1 and NOT healthy', async () => {
    const tableDir = await threeVersionTable('damaged');
    await writeFile(join(tableDir, '_versions', '2.manifest'), 'not a manifest at all');
    const human = await runbook(['doctor', 'lance', tableDir]);
    assert.equal(human.exitCode, 1, human.stdout);
    assert.match(human.stdout, /NOT healthy/);
    assert.match(human.stdout, /Lance reads version 3 \(6 rows\)\n/, 'the version Lance reads is complete');
    assert.match(human.stdout, /\[MANIFEST_UNREADABLE\] version 2: /);

    const json = await runbook(['doctor', 'lance', tableDir, '--json']);
    assert.equal(json.exitCode, 1);
    const d = JSON.parse(json.stdout);
    assert.deepEqual([d.healthy, d.currentComplete, d.currentVersion], [false, true, 3]);
    assert.deepEqual(d.findings.map((f: { code: string }) => f.code), ['MANIFEST_UNREADABLE']);
  });

  test('not a Lance table: exit 2 and the reason', async () => {
    const { exitCode, stderr } = await runbook(['doctor', 'lance', sandbox]);
    assert.equal(exitCode, 2);
    assert.match(stderr, /_versions: no such directory/);
  });
});

describe('runbook demo lance', () => {
  test('builds the incident, shows the backend failing, and repairs it end to end', async () => {
    const { exitCode, stdout, stderr } = await runbook(['demo', 'lance', '--dir', sandbox]);
    assert.equal(exitCode, 0, stderr);
    assert.match(stderr, /GET \/api\/images → 500 .*Not found/);
    assert.match(stderr, /service after the run: GET \/api\/images → 200 \{"rows":386,"version":421\}/);
    const [workflowId, ...report] = stdout.split('\n');
    assert.match(workflowId!, /^lanceRestore:.+\/lance:.+images\.lance$/);
    // A short report a person reads at the terminal: counts, not the 295 files.
    const text = report.join('\n');
    assert.match(text, /^Succeeded: lanceRestore on /m, text);
    assert.match(text, /^ +\d+ +diagnose .* +completed +1 .*restorable: 295\b/m, text);
    assert.match(text, /^ +\d+ +restore files from LFS +completed +\d+ .*restored=295\b/m, text);
    assert.match(text, /^ {2}changed +yes/m, text);
    assert.ok(report.length < 40, `${report.length} lines:\n${text}`);
    assert.doesNotMatch(text, /data\/\S+\.lance/, 'no file of the 295 is listed');
  });
});
