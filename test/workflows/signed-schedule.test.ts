// A schedule signed once by its creator: every run of it counts as hers on a host in signed trust,
// months later too, but only for that schedule ID and that input. Real ssh-keygen keys, the real
// `runbook schedule backup --key` command, a real Temporal Schedule, the real worker.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client, ScheduleHandle } from '@temporalio/client';
import type { Config } from '../../src/config';
import { updateHostFile } from '../../src/host/host-file';
import { runCli, shown } from '../helpers/cli';
import { triggerAndWait } from '../helpers/schedule';
import { testServicesFile } from '../helpers/service';
import { startWorker, testClient, testConfig } from '../helpers/temporal';
import { approvalKeys, keyRing, type ApprovalKeys, type KeyRing } from '../trust/keys';

describe('signed schedules (host in signed trust)', () => {
  let config: Config;
  let client: Client;
  let worker: { stop(): Promise<void> };
  let ring: KeyRing;
  let keys: ApprovalKeys;
  let root: string;
  let hostFileBefore: unknown;
  const schedules: ScheduleHandle[] = [];

  before(async () => {
    ring = await keyRing();
    const cast = await approvalKeys(ring);
    keys = cast.keys;
    await updateHostFile(testServicesFile(), (file) => {
      hostFileBefore = structuredClone(file);
      return { ...file, trust: 'signed', approvals: { allowedSigners: cast.allowedSigners, people: { alice: { identities: ['alice'], runbooks: ['*'] } } } };
    });
    config = testConfig('signed-schedule');
    client = await testClient(config);
    worker = await startWorker(config);
    root = await mkdtemp(join(tmpdir(), 'signed-schedule-'));
    await mkdir(join(root, 'uploads'));
    await writeFile(join(root, 'uploads', 'one.txt'), 'one\n');
  });
  after(async () => {
    for (const s of schedules) await s.delete().catch(() => undefined);
    await worker?.stop();
    await client?.connection.close();
    await updateHostFile(testServicesFile(), (file) => ({ ...(hostFileBefore as object), services: file.services }));
    await ring?.close();
    await rm(root, { recursive: true, force: true });
  });

  /** `runbook schedule backup` of root/uploads into root/<name> as alice, with `args` (a key, or none). */
  async function scheduleBackup(name: string, args: string[]): Promise<{ handle: ScheduleHandle; stderr: string }> {
    await mkdir(join(root, name));
    // A cron not due during the test (02:00 on 1 January): the runs are the triggered ones.
    const made = await runCli(config, ['schedule', 'backup', '--target', join(root, name), '--volume', join(root, 'uploads'), '--cron', '0 2 1 1 *', '--as', 'alice', '--id', `signed-schedule-${name}`, ...args], { env: { HOME: root } });
    assert.equal(made.exitCode, 0, shown(made));
    const handle = client.schedule.getHandle(made.stdout.trim());
    schedules.push(handle);
    return { handle, stderr: made.stderr };
  }

  test('signed with alice\'s key: each run is alice\'s, verified, with her key; the same signed action under another schedule ID is not', { timeout: 180_000 }, async () => {
    const { handle: signed } = await scheduleBackup('signed', ['--key', keys.alice.file]);
    for (const run of [1, 2]) {
      const { report, error } = await triggerAndWait(client, signed);
      assert.equal(report?.outcome, 'Succeeded', `run ${run}: ${error}`);
      assert.equal(report!.triggeredBy, 'alice', `run ${run} is recorded as alice's`);
      assert.deepEqual({ verified: report!.requester?.verified, fingerprint: report!.requester?.fingerprint }, { verified: true, fingerprint: keys.alice.fingerprint });
    }

    // Someone who can create schedules copies the signed action, signature and all, under an ID of theirs.
    const { action, spec } = await signed.describe();
    const copy = await client.schedule.create({ scheduleId: 'signed-schedule-copied', spec, action });
    schedules.push(copy);
    const { report, error } = await triggerAndWait(client, copy);
    assert.equal(report?.outcome, 'Succeeded', error);
    assert.equal(report!.triggeredBy, 'unverified:alice', 'a signature made for another schedule does not count');
    assert.match(report!.requester?.reason ?? '', /signature/);
  });

  test('unsigned (no --key, no default key): each run is recorded as unverified:alice, and the CLI says so', { timeout: 180_000 }, async () => {
    const { handle: unsigned, stderr } = await scheduleBackup('unsigned', []);
    assert.match(stderr, /no signing key .*the request is unsigned, so the run records its requester as unverified/);
    const { report, error } = await triggerAndWait(client, unsigned);
    assert.equal(report?.outcome, 'Succeeded', error);
    assert.equal(report!.triggeredBy, 'unverified:alice');
    assert.equal(report!.requester?.reason, 'unsigned');
  });
});
