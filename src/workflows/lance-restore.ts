// Runbook: a Lance table whose newest manifest needs data files that are missing from disk
// (incident 000: images.lance v421 needed 386 files, 295 were gone; their LFS objects were not).
// diagnose → approval → stop backend → snapshot metadata → restore from LFS | fall back → verify
// → start backend → smoke checks → report.
import { ApplicationFailure } from '@temporalio/workflow';
import type { LanceDiagnosis } from '../engines/lance/doctor';
import type { LanceRestoreInput } from './inputs';
import { runRunbook, type Runbook } from './kit';
import type { RunbookReport } from './report';

type Strategy = 'full-restore' | 'fallback' | 'nothing-to-do';

interface LancePlanFacts {
  strategy: Strategy;
  lfsRepo: string;
  quarantine: string;
  diagnosis: Omit<LanceDiagnosis, 'versions' | 'orphans'>;
}

function chooseStrategy(asked: LanceRestoreInput['strategy'], d: LanceDiagnosis): Strategy {
  if (d.healthy) return 'nothing-to-do';
  if (asked !== 'auto') return asked;
  return d.unrestorable.length === 0 ? 'full-restore' : 'fallback';
}

const parentOf = (path: string) => path.replace(/\/+$/, '').replace(/\/[^/]*$/, '') || '/';
const nameOf = (path: string) => path.replace(/\/+$/, '').replace(/^.*\//, '');

/** A timestamped folder for this run, beside the table (same filesystem, so moves are renames). */
function quarantineFor(rb: Runbook, input: LanceRestoreInput): string {
  const stamp = new Date(Date.now()).toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return `${input.quarantineDir ?? `${parentOf(input.tableDir)}/.runbook-quarantine`}/${nameOf(input.tableDir)}-${stamp}-${rb.runId.slice(0, 8)}`;
}

export async function lanceRestore(input: LanceRestoreInput): Promise<RunbookReport> {
  return runRunbook<LanceRestoreInput>('lanceRestore', input, {
    async plan(rb, input) {
      const diagnosis = await rb.step('diagnose', (a) => a.diagnoseLance({ tableDir: input.tableDir, lfsRepo: input.lfsRepo }));
      const strategy = chooseStrategy(input.strategy, diagnosis);
      const { versions: _versions, orphans: _orphans, ...summary } = diagnosis;
      const facts: LancePlanFacts = { strategy, lfsRepo: diagnosis.lfsRepo, quarantine: quarantineFor(rb, input), diagnosis: summary };
      const current = diagnosis.versions.find((v) => v.version === diagnosis.currentVersion);
      const complete = diagnosis.versions.find((v) => v.version === diagnosis.latestCompleteVersion);
      const rowsLost = (current?.rows ?? 0) - (complete?.rows ?? 0);
      const backend = input.service ? [`stop ${input.service.name} and wait until it is down`] : [];
      const restart = input.service ? [`start ${input.service.name} and wait until healthy`, ...input.smokeChecks.map((c) => `smoke check: GET ${c.url} expects ${c.expectStatus}`)] : [];
      const snapshot = `copy _versions/, _transactions/, _deletions/ with a sha256 list to ${facts.quarantine}/snapshot`;
      const actions =
        strategy === 'nothing-to-do'
          ? ['nothing: every file the current version needs is present']
          : strategy === 'full-restore'
            ? [...backend, snapshot, `restore ${diagnosis.restorable.length} missing data files from git-LFS objects (sha256 and size verified)`, `verify version ${diagnosis.currentVersion}: ${input.expectedRows ?? current?.rows} rows counted and every fragment scanned`, ...restart]
            : [...backend, snapshot, `move manifests of versions ${diagnosis.brokenVersions.join(', ')} and their transaction files to ${facts.quarantine}/versions (never deleted)`, `verify version ${diagnosis.latestCompleteVersion} (${complete?.rows} rows): ${rowsLost} rows of version ${diagnosis.currentVersion} will no longer be served`, ...restart];
      if (strategy === 'full-restore' && diagnosis.unrestorable.length) {
        actions.push(`cannot work: ${diagnosis.unrestorable.length} missing files have no verified LFS object`);
      }
      return {
        summary: `${input.tableDir}: version ${diagnosis.currentVersion} ${diagnosis.healthy ? 'is complete' : `misses ${diagnosis.missingCount} files`}; strategy ${strategy}`,
        actions,
        observations: facts,
        // Falling back loses rows: a person decides that even when the input says approval "auto".
        requiresApproval: strategy === 'fallback' && input.strategy === 'auto',
      };
    },

    async apply(rb, input, plan) {
      const { strategy, lfsRepo, quarantine, diagnosis } = plan.observations as LancePlanFacts;
      if (strategy === 'nothing-to-do') return;
      const { tableDir, service } = input;
      // Refuse before touching anything when the chosen repair cannot work.
      if (strategy === 'full-restore' && diagnosis.unrestorable.length) {
        throw ApplicationFailure.create({ type: 'SafetyViolation', nonRetryable: true, message: `full restore impossible: ${diagnosis.unrestorable.map((u) => `${u.path}: ${u.reason}`).slice(0, 5).join('; ')}${diagnosis.unrestorable.length > 5 ? ` (and ${diagnosis.unrestorable.length - 5} more)` : ''}` });
      }
      if (strategy === 'fallback' && diagnosis.latestCompleteVersion === null) {
        throw ApplicationFailure.create({ type: 'SafetyViolation', nonRetryable: true, message: 'fallback impossible: no version of the table is complete' });
      }

      if (service) {
        await rb.step('stop backend', (a) => a.stopService(service), { mutates: true });
        rb.onFailureUndo('start backend again', (a) => a.startService(service));
        await rb.step('wait until backend is down', (a) => a.waitServiceDown(service, input.waitDownSeconds));
      }
      await rb.step('snapshot metadata', (a) => a.snapshotLanceMetadata({ tableDir, destination: `${quarantine}/snapshot` }));

      if (strategy === 'full-restore') {
        await rb.step('restore files from LFS', (a) => a.restoreLanceFiles({ tableDir, lfsRepo, files: diagnosis.restorable, replacedDir: `${quarantine}/replaced`, pauseMs: input.restorePauseMs }), { mutates: true });
        await rb.step('verify table', (a) => a.verifyLanceTable({ tableDir, expectVersion: diagnosis.currentVersion, expectedRows: input.expectedRows }));
      } else {
        const moved = await rb.step('quarantine broken versions', (a) => a.quarantineLanceVersions({ tableDir, destination: `${quarantine}/versions`, versions: diagnosis.brokenVersions }), { mutates: true });
        const undo = rb.onFailureUndo('move quarantined files back', (a) => a.returnQuarantinedFiles({ moves: moved.filesMoved }));
        const verified = await rb.step('verify table', (a) => a.verifyLanceTable({ tableDir, expectVersion: diagnosis.latestCompleteVersion ?? -1, expectedRows: input.expectedRows }));
        undo.drop(`version ${verified.version} verified (${verified.scannedRows} rows scanned)`);
        rb.notes.push(`${diagnosis.currentRows - verified.countRows} rows of version ${diagnosis.currentVersion} are no longer served; its files are in ${quarantine}/versions`);
      }

      if (service) {
        await rb.step('start backend', (a) => a.startService(service), { mutates: true });
        await rb.step('wait until backend is healthy', (a) => a.waitServiceHealthy(service, input.health, input.waitHealthySeconds));
      }
      if (input.smokeChecks.length) await rb.step('smoke checks', (a) => a.runSmokeChecks(input.smokeChecks));
    },
  });
}
