// An example input for every runbook, shown by `runbook describe` and checked against the schema by
// the tests. serviceRestart's restarts the demo HTTP service that `npm start` declares.
import type { EtcdRecoverRequest, EtcdSnapshotRequest, FullBackupRequest, VerifyBackupRequest, LanceRestoreRequest, LogStoreRecoverRequest, RunbookType, ServiceRestartRequest } from '../workflows/inputs';

export function exampleInput(runbook: RunbookType): ServiceRestartRequest | LanceRestoreRequest | LogStoreRecoverRequest | EtcdRecoverRequest | EtcdSnapshotRequest | FullBackupRequest | VerifyBackupRequest {
  switch (runbook) {
    case 'serviceRestart':
      return { mode: 'apply', approval: 'required', service: 'demo-api', checks: ['root'] } satisfies ServiceRestartRequest;
    case 'lanceRestore':
      return {
        mode: 'apply',
        approval: 'required',
        tableDir: '/srv/app/db/images.lance',
        strategy: 'auto',
        expectedRows: 386,
        service: 'images-api',
      } satisfies LanceRestoreRequest;
    case 'logStoreRecover':
      return { mode: 'apply', approval: 'required', dir: '/srv/app/data/index.db', engine: 'goleveldb', policy: 'rebuild', service: 'index-api' } satisfies LogStoreRecoverRequest;
    case 'etcdRecover':
      return {
        mode: 'apply',
        approval: 'required',
        dataDir: '/var/lib/etcd/default.etcd',
        member: 'default',
        clientUrl: 'http://127.0.0.1:2379',
        snapshotDir: '/var/backups/etcd',
        service: 'etcd',
      } satisfies EtcdRecoverRequest;
    case 'etcdSnapshot':
      return { mode: 'apply', approval: 'auto', clientUrl: 'http://127.0.0.1:2379', member: 'default', snapshotDir: '/var/backups/etcd', keep: 7 } satisfies EtcdSnapshotRequest;
    case 'fullBackup':
      return {
        mode: 'apply',
        approval: 'auto',
        target: '/mnt/backup/app',
        targetFsType: 'cifs',
        sqlite: ['/srv/app/data/app.db'],
        volumes: ['/srv/app/uploads'],
        compose: { project: 'app', file: '/srv/app/compose.yaml' },
        includeImages: true,
        engine: 'docker',
        keep: 7,
      } satisfies FullBackupRequest;
    case 'verifyBackup':
      return { mode: 'plan', pack: '/mnt/backup/app/backup-20261201T020000Z' } satisfies VerifyBackupRequest;
  }
}
