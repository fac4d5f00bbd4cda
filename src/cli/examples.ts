// An example input for every runbook, shown by `runbook describe` and checked against the schema by
// the tests. serviceRestart's restarts this checkout's demo HTTP service, as `npm start` suggests.
import { fileURLToPath } from 'node:url';
import type { LanceRestoreRequest, RunbookType, ServiceRestartRequest } from '../workflows/inputs';

const root = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

export function exampleInput(runbook: RunbookType): ServiceRestartRequest | LanceRestoreRequest {
  switch (runbook) {
    case 'serviceRestart':
      return {
        mode: 'apply',
        approval: 'required',
        service: {
          adapter: 'exec',
          name: 'demo-api',
          start: [process.execPath, `${root}/demo/http-service.mjs`, '--port', '8091'],
          pidFile: `${root}/var/demo/demo-api.pid`,
          logFile: `${root}/var/demo/demo-api.log`,
        },
        health: { url: 'http://127.0.0.1:8091/health', expectStatus: 200 },
        smokeChecks: [{ url: 'http://127.0.0.1:8091/', expectStatus: 200, bodyMatch: '"pid"' }],
      } satisfies ServiceRestartRequest;
    case 'lanceRestore':
      return {
        mode: 'apply',
        approval: 'required',
        tableDir: '/srv/app/db/images.lance',
        strategy: 'auto',
        expectedRows: 386,
        service: { adapter: 'systemd', name: 'images-api.service' },
        health: { url: 'http://127.0.0.1:8000/health' },
        smokeChecks: [{ url: 'http://127.0.0.1:8000/api/images', expectStatus: 200 }],
      } satisfies LanceRestoreRequest;
  }
}
