// Runbook: a Lance table whose newest manifest needs data files that are missing from disk
// (incident 000: images.lance v421 needed 386 files, 295 were gone; their LFS objects were not).
// diagnose → approval → stop backend → snapshot metadata → restore from LFS | fall back → verify
// → start backend → smoke checks → report.
import { ApplicationFailure } from '@temporalio/workflow';
import type { LanceFacts } from '../activities/lance';
import type { LanceRestoreInput } from './inputs';
import type { RunbookReport } from './report';
import { runRunbook } from './run';
import { checkActions, healthyAction, startAction, stopAction } from './service-plan';
import { refName, type ServiceView } from './service-spec';

type Strategy = 'full-restore' | 'fallback' | 'nothing-to-do';

function chooseStrategy(asked: LanceRestoreInput['strategy'], d: LanceFacts): Strategy {
  if (d.healthy || d.missingCount === 0) return 'nothing-to-do';
  if (asked !== 'auto') return asked;
  return d.unrestorable.count === 0 ? 'full-restore' : 'fallback';
}

const firstFew = (items: Array<{ path: string; reason: string }>, count: number) =>
  `${items.map((u) => `${u.path}: ${u.reason}`).join('; ')}${count > items.length ? ` (and ${count - items.length} more)` : ''}`;

export async function lanceRestore(input: LanceRestoreInput): Promise<RunbookReport> {
  return runRunbook<LanceRestoreInput>('lanceRestore', input, {
    async plan(rb, input) {
      const d = await rb.step('diagnose', `diagnose ${input.tableDir}`, (a) => a.diagnoseLance({ tableDir: input.tableDir, lfsRepo: input.lfsRepo }), { heartbeatTimeout: '2m' });
      const strategy = chooseStrategy(input.strategy, d);
      const quarantine = rb.quarantineFor(input.tableDir, input.quarantineDir);
      const rowsLost = d.currentRows - (d.latestCompleteRows ?? 0);
      const backendService = input.service;
      const described = backendService ? await rb.step('diagnose-backend', `diagnose ${refName(backendService)}`, (a) => a.describeService(backendService, input.checks)) : undefined;
      const view = described?.view;
      const backend = view ? [stopAction(view), `wait up to ${input.waitDownSeconds}s until it is down`] : [];
      const restart = view ? [startAction(view), healthyAction(view, input.waitHealthySeconds), ...checkActions(view)] : [];
      const snapshot = `copy _versions/, _transactions/, _deletions/ with a sha256 list to ${quarantine}/snapshot`;
      const actions =
        strategy === 'nothing-to-do'
          ? ['nothing: every file the current version needs is present']
          : strategy === 'full-restore'
            ? [...backend, snapshot, `restore ${d.restorable.count} missing data files from git-LFS objects (sha256 and size verified; list: ${d.restorable.file ?? 'above'}, sha256 ${d.restorable.sha256})`, `verify version ${d.currentVersion}: ${input.expectedRows ?? d.currentRows} rows counted and every fragment scanned`, ...restart]
            : [...backend, snapshot, `move ${d.brokenFiles.count} manifests and transaction files of ${d.brokenVersions.count} broken versions (${d.brokenVersions.first.join(', ')}${d.brokenVersions.count > d.brokenVersions.first.length ? ', …' : ''}) to ${quarantine}/versions (never deleted)`, `verify version ${d.latestCompleteVersion} (${d.latestCompleteRows} rows): ${rowsLost} rows of version ${d.currentVersion} will no longer be served`, ...restart];
      if (strategy === 'full-restore' && d.unrestorable.count) actions.push(`cannot work: ${d.unrestorable.count} missing files have no verified LFS object`);
      return {
        summary: `${input.tableDir}: version ${d.currentVersion} ${d.missingCount ? `misses ${d.missingCount} files` : 'is complete'}; strategy ${strategy}`,
        actions,
        observations: { strategy, ...d, ...(view ? { service: view } : {}) },
        // Falling back loses rows: a person decides that even when the input says approval "auto".
        requiresApproval: strategy === 'fallback' && input.strategy === 'auto',
      };
    },

    async apply(rb, input, plan) {
      const { strategy, service, ...d } = plan.observations as LanceFacts & { strategy: Strategy; service?: ServiceView };
      if (strategy === 'nothing-to-do') return;
      const { tableDir } = input;
      const backend = service?.handle;
      const quarantine = rb.quarantineFor(input.tableDir, input.quarantineDir);
      // Refuse before touching anything when the chosen repair cannot work.
      if (strategy === 'full-restore' && d.unrestorable.count) {
        throw ApplicationFailure.create({ type: 'SafetyViolation', nonRetryable: true, message: `full restore impossible: ${firstFew(d.unrestorable.first, d.unrestorable.count)}` });
      }
      if (strategy === 'fallback' && d.latestCompleteVersion === null) {
        throw ApplicationFailure.create({ type: 'SafetyViolation', nonRetryable: true, message: 'fallback impossible: no version of the table is complete' });
      }

      if (service && backend) {
        rb.onFailure('start-backend-again', `start ${service.name} again`, (a) => a.startService(backend));
        await rb.step('stop-backend', `stop ${service.name}`, (a) => a.stopService(backend), { mutates: true });
        await rb.step('wait-backend-down', `wait until ${service.name} is down`, (a) => a.waitServiceDown(backend, input.waitDownSeconds));
      }
      await rb.step('snapshot', 'snapshot metadata', (a) => a.snapshotLanceMetadata({ tableDir, destination: `${quarantine}/snapshot` }));

      if (strategy === 'full-restore') {
        await rb.step('restore', 'restore files from LFS', (a) => a.restoreLanceFiles({ tableDir, lfsRepo: d.lfsRepo, files: d.restorable, replacedDir: `${quarantine}/replaced`, pauseMs: input.restorePauseMs }), { mutates: true, startToCloseTimeout: '12h' });
        await rb.step('verify', 'verify table', (a) => a.verifyLanceTable({ tableDir, expectVersion: d.currentVersion, expectedRows: input.expectedRows }), { heartbeatTimeout: '5m' });
      } else {
        const undo = rb.onFailure('return-quarantined', 'move quarantined files back', (a) => a.returnQuarantinedFiles({ destination: `${quarantine}/versions` }));
        await rb.step('quarantine', 'quarantine broken versions', (a) => a.quarantineLanceVersions({ tableDir, destination: `${quarantine}/versions`, files: d.brokenFiles }), { mutates: true });
        const verified = await rb.step('verify', 'verify table', (a) => a.verifyLanceTable({ tableDir, expectVersion: d.latestCompleteVersion ?? -1, expectedRows: input.expectedRows }), { heartbeatTimeout: '5m' });
        undo.drop(`version ${verified.version} verified (${verified.scannedRows} rows scanned)`);
        rb.notes.push(`${d.currentRows - verified.countRows} rows of version ${d.currentVersion} are no longer served; its files are in ${quarantine}/versions`);
      }

      if (service && backend) {
        await rb.step('start-backend', `start ${service.name}`, (a) => a.startService(backend), { mutates: true });
        await rb.step('wait-backend-healthy', `wait until ${service.name} is healthy`, (a) => a.waitServiceHealthy(backend, input.waitHealthySeconds));
        if (Object.keys(service.checks).length) await rb.step('smoke', 'smoke checks', (a) => a.runSmokeChecks(backend));
      }
    },
  });
}
