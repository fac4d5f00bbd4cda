// Every runbook the worker serves. Workflow code: deterministic, no Node built-ins, activity types only.
export { serviceRestart } from './service-restart';
export { lanceRestore } from './lance-restore';
export { logStoreRecover } from './log-store-recover';
export { etcdRecover } from './etcd-recover';
export { etcdSnapshot } from './etcd-snapshot';
export { fullBackup } from './full-backup';
export { verifyBackup } from './verify-backup';
export { runbookClaim } from './claims';
