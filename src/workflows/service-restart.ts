// Runbook: restart a service and prove it is back.
// stop → wait until down → start → wait healthy → smoke checks → report.
import type { ServiceRestartInput } from './inputs';
import { runRunbook } from './kit';
import type { RunbookReport } from './report';

export async function serviceRestart(input: ServiceRestartInput): Promise<RunbookReport> {
  return runRunbook<ServiceRestartInput>('serviceRestart', input, {
    async plan(rb, { service, health, smokeChecks, waitDownSeconds, waitHealthySeconds }) {
      const status = await rb.step('diagnose', (a) => a.describeService(service));
      return {
        summary: `restart ${service.adapter} service ${service.name} on ${rb.host} (now ${status.running ? `running${status.pid ? `, pid ${status.pid}` : ''}` : 'stopped'})`,
        actions: [
          `stop ${service.name}${status.running ? '' : ' (already stopped: nothing to do)'}`,
          `wait up to ${waitDownSeconds}s until it is down`,
          `start ${service.name}`,
          `wait up to ${waitHealthySeconds}s until ${health ? `GET ${health.url} answers ${health.expectStatus}` : 'it is running'}`,
          ...smokeChecks.map((c) => `smoke check: GET ${c.url} expects ${c.expectStatus}${c.bodyMatch ? ` and /${c.bodyMatch}/` : ''}`),
        ],
        observations: status,
      };
    },

    async apply(rb, { service, health, smokeChecks, waitDownSeconds, waitHealthySeconds }) {
      await rb.step('stop', (a) => a.stopService(service), { mutates: true });
      rb.onFailureUndo('start again after failure', (a) => a.startService(service));
      await rb.step('wait until down', (a) => a.waitServiceDown(service, waitDownSeconds));
      await rb.step('start', (a) => a.startService(service), { mutates: true });
      await rb.step('wait healthy', (a) => a.waitServiceHealthy(service, health, waitHealthySeconds));
      if (smokeChecks.length) await rb.step('smoke checks', (a) => a.runSmokeChecks(smokeChecks));
    },
  });
}
