// etcdSnapshot on a real Temporal Schedule, made by the real `runbook schedule etcd-snapshot`
// command, against a real etcd (Debian's 3.4) holding keys; the real dev server and worker. The
// schedule is triggered run by run: each saves a snapshot our checker passes, and pruning keeps the
// newest K that check clean, deletes only this runbook's older files and nothing else in the folder.
// A run whose snapshot fails the check, and one whose etcd is stopped, end Failed in `runbook list`
// with every good snapshot still there.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client, ScheduleHandle } from '@temporalio/client';
import { startRunbook, waitForReport } from '../../src/client';
import type { Config } from '../../src/config';
import { snapshotRestore } from '../../src/engines/etcd/etcdctl';
import { checkSnapshotFile } from '../../src/engines/etcd/snapshots';
import { checkBbolt } from '../../src/format/bbolt/index';
import { listRuns } from '../../src/runs';
import type { RunbookReport } from '../../src/workflows/report';
import { runCli, shown } from '../helpers/cli';
import { makeEtcd, putKeys, saveSnapshot, type TestEtcd } from '../helpers/etcd';
import { triggerAndWait as triggerScheduled } from '../helpers/schedule';
import { startWorker, testClient, testConfig } from '../helpers/temporal';

let config: Config;
let client: Client;
let worker: { stop(): Promise<void> };
let root: string;
let etcd: TestEtcd;
let dir: string;
let schedule: ScheduleHandle;
let scheduleId: string;

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');
const OURS = /^etcd-default-\d{8}T\d{6}\.\d{3}Z\.db$/;
/** This runbook's snapshots in the folder (regular files: the planted symlink has the pattern too), newest first. */
const ours = async () => (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && OURS.test(e.name)).map((e) => e.name).sort().reverse();
const evidence = (report: RunbookReport, id: string) => report.steps.find((s) => s.id === id)?.evidence as Record<string, any>;

// Planted before the first run: none of them is this runbook's to touch.
const OLD_GOOD = 'etcd-default-20200101T000000.000Z.db'; // a real snapshot with our pattern: pruned once K newer are good
const planted: Record<string, string> = {
  'notes.txt': 'the operator\'s notes',
  'etcd-other-20200101T000000.000Z.db': 'another member\'s snapshot',
  'etcd-default-before-upgrade.db': 'a snapshot taken by hand',
  'etcd-default-20190101T000000.000Z.db.bak': 'not the pattern',
};
const LINK = 'etcd-default-20180101T000000.000Z.db'; // our pattern, but a symlink: never followed, never deleted

const triggerAndWait = () => triggerScheduled(client, schedule);

describe('etcdSnapshot on a schedule', () => {
  before(async () => {
    config = testConfig('etcd-snapshot');
    client = await testClient(config);
    worker = await startWorker(config);
    root = await mkdtemp(join(tmpdir(), 'etcd-snapshot-'));
    etcd = await makeEtcd(join(root, 'etcd'));
    await etcd.start();
    await putKeys(etcd.url, 300, { valueBytes: 200 });
    dir = join(root, 'backups');
    await mkdir(dir);
    for (const [name, text] of Object.entries(planted)) await writeFile(join(dir, name), text);
    await saveSnapshot(etcd.url, join(dir, OLD_GOOD));
    await writeFile(join(root, 'precious.db'), 'outside the folder');
    await symlink(join(root, 'precious.db'), join(dir, LINK));
  });
  after(async () => {
    await schedule?.delete().catch(() => undefined);
    await worker.stop();
    await client.connection.close();
    await etcd.kill();
    await rm(root, { recursive: true, force: true });
  });

  test('runbook schedule etcd-snapshot refuses bad input with exit 2, naming the field, and creates nothing', async () => {
    const base = ['schedule', 'etcd-snapshot', '--client-url', 'http://127.0.0.1:2379', '--snapshot-dir', join(root, 'never')];
    const cases: Array<[string[], RegExp]> = [
      [['schedule', 'etcd-snapshot', '--client-url', 'ftp://etcd:2379', '--snapshot-dir', join(root, 'never')], /clientUrl: must be an etcd client URL/],
      [['schedule', 'etcd-snapshot', '--client-url', 'http://127.0.0.1:2379', '--snapshot-dir', 'backups'], /snapshotDir: /],
      [[...base, '--keep', '0'], /keep: /],
      [[...base, '--keep', 'seven'], /keep: /],
      [[...base, '--member', 'a b'], /member: must be an etcd member name/],
      [[...base, '--every', '5x'], /--every "5x": must be/],
      [[...base, '--every', '1h', '--cron', '0 * * * *'], /--every and --cron/],
      [['schedule', 'etcd-snapshot', '--client-url', 'http://127.0.0.1:2379'], /--snapshot-dir/],
    ];
    for (const [args, said] of cases) {
      const r = await runCli(config, args);
      assert.equal(r.exitCode, 2, shown(r));
      assert.match(r.stderr, said, shown(r));
    }
    const list = await runCli(config, ['schedule', 'list', '--json']);
    assert.equal(list.exitCode, 0, shown(list));
    assert.ok(!(JSON.parse(list.stdout) as Array<{ target: string }>).some((s) => s.target.endsWith(join(root, 'never'))), list.stdout);
  });

  test('triggered runs save checked snapshots and keep the newest 2 that check clean; nothing else in the folder is touched', async () => {
    const created = await runCli(config, ['schedule', 'etcd-snapshot', '--client-url', etcd.url, '--snapshot-dir', dir, '--keep', '2', '--cron', '0 0 1 1 *', '--as', 'alice']);
    assert.equal(created.exitCode, 0, shown(created));
    scheduleId = created.stdout.trim();
    const target = `${hostname()}/etcd-snapshot:${dir}`;
    assert.equal(scheduleId, `etcdSnapshot:${target}`);
    schedule = client.schedule.getHandle(scheduleId);
    const again = await runCli(config, ['schedule', 'etcd-snapshot', '--client-url', etcd.url, '--snapshot-dir', dir, '--cron', '0 0 1 1 *']);
    assert.equal(again.exitCode, 3, `a second schedule of one ID is refused: ${shown(again)}`);
    const listed = JSON.parse((await runCli(config, ['schedule', 'list', '--json'])).stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(listed.find((s) => s.scheduleId === scheduleId), { scheduleId, runbook: 'etcdSnapshot', target, timing: 'cron 0 0 1 1 *', paused: false, nextRun: listed.find((s) => s.scheduleId === scheduleId)!.nextRun });

    const oldSha = await sha256(join(dir, OLD_GOOD));
    const plantedSha = Object.fromEntries(await Promise.all(Object.keys(planted).map(async (f) => [f, await sha256(join(dir, f))])));
    const saved: string[] = [];
    for (let run = 1; run <= 3; run++) {
      const { workflowId, report, error } = await triggerAndWait();
      assert.equal(report?.outcome, 'Succeeded', `run ${run}: ${error}`);
      assert.match(workflowId, new RegExp(`^etcdSnapshot:${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`));
      assert.deepEqual(report!.steps.map((s) => s.id), ['resolve', 'list', 'save', 'prune']);
      const file = evidence(report!, 'save').file as string;
      saved.push(file.slice(dir.length + 1));
      assert.ok(report!.notes.some((n) => n.startsWith(`saved ${file}: `) && n.includes('etcd served 300 keys at revision 4')), report!.notes.join('\n'));
      const deleted = evidence(report!, 'prune').deleted.first as Array<{ name: string; sha256: string }>;
      if (run === 1) assert.deepEqual(deleted, [], 'two good ones (the new and the planted old one) are within keep 2');
      if (run === 2) assert.deepEqual(deleted.map((d) => [d.name, d.sha256]), [[OLD_GOOD, oldSha]], 'the old one goes, with its sha256 in the report');
      if (run === 3) assert.deepEqual(deleted.map((d) => d.name), [saved[0]]);
    }
    assert.deepEqual(await ours(), [saved[2], saved[1]], 'only the newest 2 are kept');
    for (const name of await ours()) {
      const check = await checkSnapshotFile(join(dir, name));
      assert.equal(check.healthy, true, `${name}: ${check.problems.join('; ')}`);
      assert.equal(check.trailer, 'ok');
    }
    // The newest restores into a data dir whose db our checker passes.
    const restored = join(root, 'restored.etcd');
    await snapshotRestore(join(dir, saved[2]!), { dataDir: restored, member: 'default', peerUrl: etcd.peerUrl });
    assert.equal((await checkBbolt(join(restored, 'member', 'snap', 'db'))).healthy, true);
    for (const [name, sha] of Object.entries(plantedSha)) assert.equal(await sha256(join(dir, name)), sha, `${name} untouched`);
    assert.equal(await readlink(join(dir, LINK)), join(root, 'precious.db'), 'the symlink is still there');
    assert.equal(await readFile(join(root, 'precious.db'), 'utf8'), 'outside the folder');

    const runs = await listRuns(client, { runbook: 'etcdSnapshot', target });
    assert.equal(runs.filter((r) => r.origin === 'schedule' && r.outcome === 'Succeeded').length, 3, JSON.stringify(runs));
  });

  test('plan mode (a manual run under the plain ID): lists the snapshots and what pruning would delete, changes nothing', async () => {
    const before = await readdir(dir);
    const run = await startRunbook(client, config, 'etcdSnapshot', { mode: 'plan', clientUrl: etcd.url, snapshotDir: dir, keep: 2 }, { requestedBy: 'alice', origin: 'test' });
    const { report, error } = await waitForReport(run.handle);
    assert.equal(report?.outcome, 'Planned', error);
    const [newest, older] = await ours();
    assert.match(report!.plan!.summary, /2 snapshots of default there; it serves 300 keys at revision 4/);
    assert.ok(report!.plan!.actions.some((a) => a.includes(`now that would be: ${older}`)), report!.plan!.actions.join('\n'));
    assert.ok(report!.plan!.actions.some((a) => a.includes("leave the folder's 5 other entries alone")), report!.plan!.actions.join('\n'));
    assert.equal((report!.plan!.observations as { newest: string }).newest, newest);
    assert.deepEqual(await readdir(dir), before);
  });

  test('a snapshot that fails the check, and a stopped etcd: the runs end Failed in `runbook list --status Failed`; every good snapshot stays', async () => {
    const good = await ours();
    const goodSha = await Promise.all(good.map((f) => sha256(join(dir, f))));
    // etcdctl, then damage: both meta pages' checksums of what it saved (page size 4096).
    const wrapper = join(root, 'etcdctl-damaging');
    await writeFile(wrapper, [
      '#!/bin/sh',
      'etcdctl "$@" || exit $?',
      'if [ "$3" = snapshot ] && [ "$4" = save ]; then',
      '  printf "\\377" | dd of="$5" bs=1 seek=72 conv=notrunc 2>/dev/null',
      '  printf "\\377" | dd of="$5" bs=1 seek=4168 conv=notrunc 2>/dev/null',
      'fi',
      '',
    ].join('\n'));
    await chmod(wrapper, 0o755);
    process.env.ETCDCTL = wrapper;
    let bad: Awaited<ReturnType<typeof triggerAndWait>>;
    try {
      bad = await triggerAndWait();
    } finally {
      delete process.env.ETCDCTL;
    }
    assert.equal(bad.report?.outcome, 'Failed', bad.error);
    assert.match(bad.error ?? '', /fails its check \(.+\); it is kept as .+\.db\.bad, findings in .+\.db\.bad\.json/);
    const badFiles = (await readdir(dir)).filter((f) => f.endsWith('.db.bad') || f.endsWith('.db.bad.json'));
    assert.equal(badFiles.length, 2, badFiles.join(', '));
    const findings = JSON.parse(await readFile(join(dir, badFiles.find((f) => f.endsWith('.json'))!), 'utf8')) as { healthy: boolean; problems: string[] };
    assert.equal(findings.healthy, false);
    assert.ok(findings.problems.length > 0);
    assert.ok(!(await readdir(dir)).some((f) => f.endsWith('.part')), 'no half-saved file is left');

    await etcd.stop();
    const down = await triggerAndWait();
    assert.equal(down.report?.outcome, 'Failed', down.error);
    assert.match(down.error ?? '', new RegExp(`etcd at ${etcd.url} does not answer`));

    const failed = await runCli(config, ['list', '--runbook', 'etcdSnapshot', '--status', 'Failed', '--json']);
    assert.equal(failed.exitCode, 0, shown(failed));
    const ids = (JSON.parse(failed.stdout) as Array<{ workflowId: string; origin: string }>).filter((r) => r.origin === 'schedule').map((r) => r.workflowId);
    assert.ok(ids.includes(bad.workflowId) && ids.includes(down.workflowId), `${ids.join(', ')}`);
    assert.deepEqual(await ours(), good, 'the good snapshots are all still there');
    assert.deepEqual(await Promise.all(good.map((f) => sha256(join(dir, f)))), goodSha);

    const deleted = await runCli(config, ['schedule', 'delete', scheduleId]);
    assert.equal(deleted.exitCode, 0, shown(deleted));
    const gone = await runCli(config, ['schedule', 'trigger', scheduleId]);
    assert.equal(gone.exitCode, 2, shown(gone));
    assert.match(gone.stderr, /no schedule/);
  });
});
