// Faults survived on the production topology, during a seed-scale lanceRestore addressed to host
// alpha (the seed's shape at its real bytes: 386 rows, 295 data files of about 680 KB missing, their
// LFS objects present; the table under alpha's data root). Each fault lands mid-restore, shown by
// the heartbeat (k of 295 files done) and the disk (some files in place, not all) at the fault:
//   - the Temporal server SIGKILLed and started again on the same database;
//   - alpha's worker SIGKILLed and started again;
//   - PostgreSQL stopped for 20 s and started.
// After each, the run completes (Succeeded; compensation is not the outcome for any of them: the
// restore resumes), its report is whole, every restored file is byte for byte its LFS object, and
// no file was copied twice but the one in flight at the fault: the complete copies staged in temp
// files (not in place) when the worker died are placed by the retry as they are. Evidence from the
// disk and inotify (test/helpers/restore-evidence.ts).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { startRunbook } from '../../src/client';
import { buildLanceIncident, type LanceIncident } from '../../src/demo/lance-incident';
import { diagnoseLance } from '../../src/engines/lance/doctor';
import { useCluster } from '../helpers/cluster';
import { assertWholeReport, FAULTS, injectFault, POSTGRES_DOWN_MS, progressResumedAt, runWindow, seconds, settle, type FaultKind } from '../helpers/faults';
import {
  assertCopiedOnceButInFlight,
  assertMatchesLfsObjects,
  assertNoTempFiles,
  assertNotRewritten,
  copyIncident,
  restoredNow,
  waitForRestored,
  watchCopies,
  type RestoredNow,
} from '../helpers/restore-evidence';

/** The seed's data files were 678,741 B each. */
const SEED_ROW_BYTES = 678_741;
const FILES = 295;
/**
 * Pause after each restored file: the restore lasts about 295 × pause, long enough for the fault to
 * land mid-restore; PostgreSQL's 20 s outage is spanned by a slower restore.
 */
const PAUSE_MS: Record<FaultKind, number> = { 'server-kill': 40, 'worker-kill': 40, 'postgres-stop': 100 };

const bed = useCluster();
const log = (line: string) => process.stderr.write(`faults-lance: ${line}\n`);

/** Built once, by the first test (once the cluster runs), outside alpha's data roots; each test restores its own copy under them. */
let seed: Promise<LanceIncident> | undefined;
const seedIncident = () =>
  (seed ??= buildLanceIncident({ dir: join(bed.cluster.dir, 'lance-seed'), versions: 'seed', rowBytes: SEED_ROW_BYTES }).then((built) => {
    log(`seed-scale incident built in ${seconds(built.timings.totalMs)}`);
    return built;
  }));

for (const kind of FAULTS) {
  test(`lanceRestore on alpha, ${kind} mid-restore: the run completes, report whole, files byte-identical to the LFS objects, none copied twice but the one in flight`, { timeout: 300_000 }, async () => {
    const { alpha, beta } = bed.hosts;
    const incident = await copyIncident(await seedIncident(), join(alpha.dataRoot, `images-${kind}`));
    const copies = watchCopies(incident);
    const pids = { server: bed.cluster.server.pid, alpha: alpha.pid, beta: beta.pid };
    const run = await startRunbook(bed.client, bed.config, 'lanceRestore', {
      mode: 'apply',
      approval: 'auto',
      strategy: 'full-restore',
      tableDir: incident.tableDir,
      expectedRows: 386,
      restorePauseMs: PAUSE_MS[kind],
      host: 'alpha',
      hostWaitTimeout: '5m',
    }, { requestedBy: 'alice', origin: 'test' });
    const seen = await waitForRestored(bed.client, run.workflowId, 40, 120_000);
    let atFault: RestoredNow | undefined;
    const fault = await injectFault(bed, kind, alpha, async () => {
      atFault = await restoredNow(incident);
    });
    const resumedAt = await progressResumedAt(run.handle);
    const finished = await settle(run.handle);
    const window = await runWindow(run.handle);
    copies.close();
    // The run: whole, verified at the seed's version and rows.
    const report = assertWholeReport(finished, ['resolve', 'diagnose', 'snapshot', 'restore', 'verify']);
    const restore = report.steps.find((s) => s.id === 'restore')!;
    const evidence = restore.evidence as { restored: number; resumedAfter: number; copiedThisAttempt: number; tempFilesAdopted: number };
    assert.equal(evidence.restored, FILES);
    assert.deepEqual(report.steps.find((s) => s.id === 'verify')!.evidence, { version: 421, countRows: 386, scannedRows: 386 });

    // The fault landed mid-run: mid-restore by the heartbeat and by the disk, inside the run's open interval.
    assert.ok(seen.done > 0 && seen.done < FILES, `heartbeat before the fault: ${seen.done} of ${FILES}`);
    assert.ok(atFault && atFault.restored.size > 0 && atFault.restored.size < FILES, `files in place at the fault: ${atFault?.restored.size} of ${FILES}`);
    assert.ok(window.start < fault.at && fault.recoveredAt < window.close!, 'the run was open from before the fault until after recovery');
    if (kind === 'server-kill') {
      assert.ok(fault.newPid && fault.newPid !== fault.oldPid, `another server process (${fault.oldPid} → ${fault.newPid})`);
    } else if (kind === 'worker-kill') {
      assert.ok(restore.attempts >= 2, `the restore was retried on alpha's new worker (attempts ${restore.attempts})`);
      assert.ok(fault.newPid && fault.newPid !== fault.oldPid, `alpha's worker ${fault.oldPid} → ${fault.newPid}`);
      assert.ok(evidence.resumedAfter >= seen.done, `the retry resumed after the heartbeated files (${evidence.resumedAfter} ≥ ${seen.done})`);
    } else {
      assert.ok(fault.downMs >= POSTGRES_DOWN_MS, `PostgreSQL was down ${fault.downMs} ms`);
      assert.ok(fault.probes! >= 15 && fault.refused === fault.probes, `every connection to PostgreSQL refused while it was down (${fault.refused} of ${fault.probes})`);
      assert.deepEqual({ server: bed.cluster.server.pid, alpha: alpha.pid, beta: beta.pid }, pids, 'the server and both workers rode it out: same processes');
    }

    // The disk: no file in place at the fault rewritten, nothing copied twice but the one in flight;
    // the copies staged when the worker died adopted by the retry, not made again.
    await assertNotRewritten(incident, atFault!);
    const twice = assertCopiedOnceButInFlight(incident, copies, atFault!);
    if (restore.attempts === 1) assert.deepEqual(twice, [], 'one attempt: nothing copied twice');
    if (kind === 'worker-kill') {
      assert.ok(atFault!.staged.size > 1, `the kill left staged copies for the retry to adopt (${atFault!.staged.size})`);
      if (restore.attempts === 2) assert.equal(evidence.tempFilesAdopted + twice.length, atFault!.staged.size, `every copy staged when the worker died adopted (${evidence.tempFilesAdopted}) or copied again (${twice.length})`);
    }
    await assertNoTempFiles(incident);
    await assertMatchesLfsObjects(incident);
    assert.equal((await diagnoseLance(incident.tableDir)).healthy, true);

    log(`${kind}: fault at ${seen.done}/${FILES} heartbeated (${atFault!.restored.size} in place); down ${seconds(fault.downMs)}; run stalled ${seconds(resumedAt - fault.at)} (fault → next progress the server showed); restore attempts ${restore.attempts} (last resumed after ${evidence.resumedAfter}, copied ${evidence.copiedThisAttempt}, adopted ${evidence.tempFilesAdopted ?? 0} of ${atFault!.staged.size} staged); ${twice.length} files copied twice (in flight); run ${seconds(window.close! - window.start)} start to close`);
    await incident.cleanup();
  });
}
