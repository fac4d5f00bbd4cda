// Every activity the worker registers. Workflows import this module as types only.
export { describeService, runSmokeChecks, startService, stopService, waitServiceDown, waitServiceHealthy } from './service';
export { diagnoseLance, quarantineLanceVersions, restoreLanceFiles, returnQuarantinedFiles, snapshotLanceMetadata, verifyLanceTable } from './lance';
export { diagnoseLogStore, recoverLogStoreCopy, restoreLogTails, snapshotLogStore, swapLogStore, truncateLogTails, unswapLogStore, verifyLogStore } from './logstore';
export { buildEtcdCandidate, copyEtcdMember, diagnoseEtcd, swapEtcdMember, unswapEtcdMember, verifyEtcdServes } from './etcd';
export { listEtcdSnapshots, pruneEtcdSnapshots, saveEtcdSnapshot } from './etcd-snapshot';
export { backupImages, backupSqlite, backupVolume, finishPack, planBackup, pruneBackups, startPack } from './backup';
export { verifyPack } from './verify-backup';
export { claimHolder, resolveResources } from './resources';
export { verifyApproval, verifyRequest } from './trust';
