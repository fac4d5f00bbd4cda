// fullBackup on a real Temporal Schedule, made by the real `runbook schedule backup` command; the
// real dev server and worker, a real sqlite database and real folders. Triggered run by run: each
// writes a complete pack (manifest.json, every file as hashed) and retention keeps the newest 2.
// Bad CLI input exits 2 naming the field and creates no schedule; the runs show in `runbook list`.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client, ScheduleHandle } from '@temporalio/client';
import { execa } from 'execa';
import type { Config } from '../../src/config';
import type { RunbookReport } from '../../src/workflows/report';
import { runCli, shown } from '../helpers/cli';
import { triggerAndWait } from '../helpers/schedule';
import { startWorker, testClient, testConfig } from '../helpers/temporal';

let config: Config;
let client: Client;
let worker: { stop(): Promise<void> };
let root: string;
let db: string;
let uploads: string;
let target: string;
let schedule: ScheduleHandle | undefined;

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');
const packs = async () => (await readdir(target)).sort();
const evidence = (report: RunbookReport, id: string) => report.steps.find((s) => s.id === id)?.evidence as Record<string, any>;
const listed = async () => JSON.parse((await runCli(config, ['schedule', 'list', '--json'])).stdout) as Array<{ scheduleId: string; runbook: string; target: string; timing: string }>;

describe('fullBackup on a schedule (runbook schedule backup)', () => {
  before(async () => {
    config = testConfig('backup-schedule');
    client = await testClient(config);
    worker = await startWorker(config);
    root = await mkdtemp(join(tmpdir(), 'backup-schedule-'));
    db = join(root, 'app.db');
    await execa('sqlite3', [db, 'CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT); INSERT INTO t(body) VALUES (\'one\'), (\'two\'), (\'three\');']);
    uploads = join(root, 'uploads');
    await mkdir(join(uploads, 'a'), { recursive: true });
    await writeFile(join(uploads, 'a', 'one.bin'), Buffer.alloc(100_000, 7));
    await writeFile(join(uploads, 'two.txt'), 'two\n');
    target = join(root, 'target');
    await mkdir(target);
  });
  after(async () => {
    await schedule?.delete().catch(() => undefined);
    await worker.stop();
    await client.connection.close();
    await rm(root, { recursive: true, force: true });
  });

  // Each field's own rules are the schema's (test/hostile/runbook-input.test.ts): these show the options reach it as those fields.
  test('bad input exits 2 naming the field (a relative --target, --keep 0, an unknown engine, a relative second --volume, nothing to back up, images without a project) and creates no schedule', async () => {
    const never = join(root, 'never');
    const cases: Array<[string[], RegExp]> = [
      [['--target', 'backups', '--sqlite', db], /invalid fullBackup input: target: must be an absolute path/],
      [['--target', never, '--sqlite', db, '--keep', '0'], /invalid fullBackup input: keep: /],
      [['--target', never, '--sqlite', db, '--engine', 'lxc'], /invalid fullBackup input: engine: /],
      [['--target', never, '--volume', join(root, 'a'), '--volume', 'b'], /invalid fullBackup input: volumes\.1: must be an absolute path/],
      [['--target', never], /invalid fullBackup input: sqlite: nothing to back up/],
      [['--target', never, '--include-images'], /invalid fullBackup input: compose: includeImages needs compose\.project or compose\.file/],
      [['--target', never, '--sqlite', db, '--every', '1w'], /--every "1w": must be/],
      [['--sqlite', db], /--target/],
    ];
    for (const [args, said] of cases) {
      const r = await runCli(config, ['schedule', 'backup', ...args]);
      assert.equal(r.exitCode, 2, `${args.join(' ')}: ${shown(r)}`);
      assert.match(r.stderr, said, shown(r));
    }
    assert.ok(!(await listed()).some((s) => s.target.includes(root)), 'no schedule was made');
  });

  test('without --every or --cron the backup runs every 24h', async () => {
    const made = await runCli(config, ['schedule', 'backup', '--target', target, '--sqlite', db, '--id', 'nightly-default-test']);
    assert.equal(made.exitCode, 0, shown(made));
    try {
      assert.equal(made.stdout.trim(), 'nightly-default-test');
      assert.deepEqual((await listed()).find((s) => s.scheduleId === 'nightly-default-test')?.timing, 'every 24h');
    } finally {
      const deleted = await runCli(config, ['schedule', 'delete', 'nightly-default-test']);
      assert.equal(deleted.exitCode, 0, shown(deleted));
    }
  });

  test('triggered twice: two complete packs with manifest.json; a third with --keep 2 leaves the newest 2; the runs are listed Succeeded', { timeout: 300_000 }, async () => {
    // A cron that is not due during the test (02:00 on 1 January): the runs are the triggered ones.
    const created = await runCli(config, ['schedule', 'backup', '--target', target, '--sqlite', db, '--volume', uploads, '--keep', '2', '--cron', '0 2 1 1 *', '--as', 'alice']);
    assert.equal(created.exitCode, 0, shown(created));
    const runTarget = `${hostname()}/backup:${target}`;
    const scheduleId = created.stdout.trim();
    assert.equal(scheduleId, `fullBackup:${runTarget}`);
    assert.match(created.stderr, new RegExp(`failed runs: npx runbook list --runbook fullBackup --target '${runTarget}' --status Failed`));
    schedule = client.schedule.getHandle(scheduleId);
    const row = (await listed()).find((s) => s.scheduleId === scheduleId);
    assert.deepEqual([row?.runbook, row?.target, row?.timing], ['fullBackup', runTarget, 'cron 0 2 1 1 *']);

    const runs: string[] = [];
    const made: string[] = [];
    for (let run = 1; run <= 3; run++) {
      const { workflowId, report, error } = await triggerAndWait(client, schedule);
      assert.equal(report?.outcome, 'Succeeded', `run ${run}: ${error}`);
      assert.ok(workflowId.startsWith(`${scheduleId}-`), workflowId);
      runs.push(workflowId);
      made.push((evidence(report!, 'finish').pack as string).slice(target.length + 1));
      if (run === 2) {
        assert.deepEqual(await packs(), made, 'two complete packs, nothing else');
        for (const pack of made) {
          const manifest = JSON.parse(await readFile(join(target, pack, 'manifest.json'), 'utf8')) as { pack: string; files: Array<{ path: string; source: string; bytes: number; sha256: string }> };
          assert.equal(manifest.pack, pack);
          assert.deepEqual(manifest.files.map((f) => [f.path, f.source]), [['sqlite/0-app.db', db], ['volumes/0-uploads.tar', uploads]]);
          for (const f of manifest.files) assert.equal(await sha256(join(target, pack, f.path)), f.sha256, `${pack}/${f.path} is what the manifest says`);
          const { stdout } = await execa('sqlite3', [join(target, pack, 'sqlite', '0-app.db'), 'PRAGMA integrity_check; SELECT group_concat(body) FROM t;']);
          assert.deepEqual(stdout.split('\n'), ['ok', 'one,two,three']);
        }
      }
      if (run === 3) assert.deepEqual(evidence(report!, 'prune').deleted.map((d: { pack: string }) => d.pack), [made[0]]);
      // Pack names have one-second resolution: the next run starts in another second.
      await new Promise((resolve) => setTimeout(resolve, 1100));
    }
    assert.match(made[0]!, /^backup-\d{8}T\d{6}\.\d{3}Z$/);
    assert.deepEqual(await packs(), made.slice(1), 'keep 2: the newest two');

    const succeeded = await runCli(config, ['list', '--runbook', 'fullBackup', '--target', runTarget, '--status', 'Succeeded', '--json']);
    assert.equal(succeeded.exitCode, 0, shown(succeeded));
    const rows = JSON.parse(succeeded.stdout) as Array<{ workflowId: string; origin: string }>;
    assert.deepEqual(rows.filter((r) => r.origin === 'schedule').map((r) => r.workflowId).sort(), [...runs].sort());
  });
});
