// Runbook: restart a service and prove it is back.
// stop → wait until down → start → wait healthy → smoke checks → report.
// The service is the host's: its services file says how to stop and start it and what to check.
import type { ServiceRestartInput } from './inputs';
import type { RunbookReport } from './report';
import { runRunbook } from './run';
import { checkActions, healthyAction, startAction, stopAction } from './service-plan';
import { refName, type ServiceView } from './service-spec';

export async function serviceRestart(input: ServiceRestartInput): Promise<RunbookReport> {
  return runRunbook<ServiceRestartInput>('serviceRestart', input, {
    async plan(rb, { service, checks, waitDownSeconds, waitHealthySeconds }) {
      const { view, status } = await rb.step('diagnose', `diagnose ${refName(service)}`, (a) => a.describeService(service, checks));
      return {
        summary: `restart ${view.adapter} service ${view.name} on ${rb.host} (now ${status.running ? `running${status.pid ? `, pid ${status.pid}` : ''}` : 'stopped'})`,
        actions: [
          `${stopAction(view)}${status.running ? '' : ' (already stopped: nothing to do)'}`,
          `wait up to ${waitDownSeconds}s until it is down`,
          startAction(view),
          healthyAction(view, waitHealthySeconds),
          ...checkActions(view),
        ],
        observations: { running: status.running, pid: status.pid ?? null, service: view },
      };
    },

    async apply(rb, { waitDownSeconds, waitHealthySeconds }, plan) {
      const { service } = plan.observations as { service: ServiceView };
      const { handle, name } = service;
      rb.onFailure('start-again', `start ${name} again`, (a) => a.startService(handle));
      await rb.step('stop', `stop ${name}`, (a) => a.stopService(handle), { mutates: true });
      await rb.step('wait-down', `wait until ${name} is down`, (a) => a.waitServiceDown(handle, waitDownSeconds));
      await rb.step('start', `start ${name}`, (a) => a.startService(handle), { mutates: true });
      await rb.step('wait-healthy', `wait until ${name} is healthy`, (a) => a.waitServiceHealthy(handle, waitHealthySeconds));
      if (Object.keys(service.checks).length) await rb.step('smoke', 'smoke checks', (a) => a.runSmokeChecks(handle));
    },
  });
}
