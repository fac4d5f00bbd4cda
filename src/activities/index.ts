// Every activity the worker registers. Workflows import this module as types only.
export { runSmokeChecks } from './http-checks';
export { describeService, startService, stopService, waitServiceDown, waitServiceHealthy } from './service';
export { diagnoseLance, quarantineLanceVersions, restoreLanceFiles, returnQuarantinedFiles, snapshotLanceMetadata, verifyLanceTable } from './lance';
export { claimHolder, resolveResources } from './resources';
