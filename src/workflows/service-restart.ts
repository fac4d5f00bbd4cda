// Runbook: restart a service and prove it is back.
// stop → wait until down → start → wait healthy → smoke checks → report.
import type { ServiceRestartInput } from './inputs';
import type { RunbookReport } from './report';
import { runRunbook } from './run';

export async function serviceRestart(input: ServiceRestartInput): Promise<RunbookReport> {
  return runRunbook<ServiceRestartInput>('serviceRestart', input, {
    async plan(rb, { service, health, smokeChecks, waitDownSeconds, waitHealthySeconds }) {
      const status = await rb.step('diagnose', `diagnose ${service.name}`, (a) => a.describeService(service));
      return {
        summary: `restart ${service.adapter} service ${service.name} on ${rb.host} (now ${status.running ? `running${status.pid ? `, pid ${status.pid}` : ''}` : 'stopped'})`,
        actions: [
          `stop ${service.name}${status.running ? '' : ' (already stopped: nothing to do)'}`,
          `wait up to ${waitDownSeconds}s until it is down`,
          `start ${service.name}`,
          `wait up to ${waitHealthySeconds}s until ${health ? `GET ${health.url} answers ${health.expectStatus}` : 'it is running'}`,
          ...smokeChecks.map((c) => `smoke check: GET ${c.url} expects ${c.expectStatus}${c.bodyMatch ? ` and /${c.bodyMatch}/` : ''}`),
        ],
        observations: { running: status.running, pid: status.pid ?? null },
      };
    },

    async apply(rb, { service, health, smokeChecks, waitDownSeconds, waitHealthySeconds }) {
      rb.onFailure('start-again', `start ${service.name} again`, (a) => a.startService(service));
      await rb.step('stop', `stop ${service.name}`, (a) => a.stopService(service), { mutates: true });
      await rb.step('wait-down', `wait until ${service.name} is down`, (a) => a.waitServiceDown(service, waitDownSeconds));
      await rb.step('start', `start ${service.name}`, (a) => a.startService(service), { mutates: true });
      await rb.step('wait-healthy', `wait until ${service.name} is healthy`, (a) => a.waitServiceHealthy(service, health, waitHealthySeconds));
      if (smokeChecks.length) await rb.step('smoke', 'smoke checks', (a) => a.runSmokeChecks(smokeChecks));
    },
  });
}
