// Runbook: a backup is one only if it restores. Every file of a fullBackup pack hashed again against
// its manifest, every sqlite copy restored and integrity-checked, images.tar loaded into a separate
// podman storage with the manifest's image IDs. Read-only: the verdict is the plan, and a pack that
// does not hold fails the run, naming each file and why.
import { ApplicationFailure } from '@temporalio/workflow';
import type { VerifyBackupInput } from './inputs';
import type { RunbookReport } from './report';
import { runRunbook } from './run';

export async function verifyBackup(input: VerifyBackupInput): Promise<RunbookReport> {
  return runRunbook<VerifyBackupInput>('verifyBackup', input, {
    async plan(rb, { pack }) {
      const v = await rb.step('verify', `verify ${pack}: hashes, sqlite restore, image load`, (a) => a.verifyPack({ pack }), { heartbeatTimeout: '5m', startToCloseTimeout: '24h' });
      if (v.problems.length) {
        throw ApplicationFailure.create({ type: 'VerificationFailed', nonRetryable: true, message: `${pack} does not restore: ${v.problems.join('; ')}`, details: [v] });
      }
      return {
        summary: `${pack} restores: ${v.files} files (${v.bytes} bytes) match manifest.json, ${v.sqliteChecked} sqlite databases pass integrity_check after restore, ${v.imagesLoaded} images load with their IDs`,
        actions: ['nothing to change: verification is read-only'],
        observations: v,
      };
    },
    async apply() {
      // Read-only runbook: the plan is the whole verification.
    },
  });
}
