// What a run claims: its resources as this host sees them (symlinks resolved, service names
// expanded to what they drive), and who holds a claim.
import { activityInfo, Context } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { realPathOf } from '../host/data-roots';
import { resolveService } from '../host/services';
import { claimWorkflowId, claimWorkflowType, releaseSignalName, splitHostTaskQueue } from '../workflows/names';
import { pathResource, type Resource } from '../workflows/targets';

/**
 * The claim keys of `resources` on this host: a table reached through a symlink is the same table,
 * and two service names that drive one pidfile, unit or container are one service.
 */
export async function resolveResources(resources: Resource[]): Promise<string[]> {
  const keys = await Promise.all(
    resources.map(async (r): Promise<string[]> => {
      const host = r.key.split(':')[1];
      if (r.kind === 'path' && r.path) return [`${r.key.slice(0, r.key.length - r.path.length)}${await realPathOf(r.path)}`];
      if (r.kind === 'service' && r.service !== undefined) {
        const { spec } = await resolveService(r.service);
        const driven = spec.adapter === 'exec' ? `path:${host}:${await realPathOf(spec.pidFile)}` : `service:${host}:${spec.adapter === 'container' ? spec.engine : 'systemd'}/${spec.name}`;
        return [r.key, driven];
      }
      return [r.key];
    }),
  );
  return [...new Set(keys.flat())];
}

/** Which run holds a claim (runs on any worker: it only asks Temporal). */
export async function claimHolder(claimWorkflowId: string): Promise<string> {
  const description = await Context.current().client.workflow.getHandle(claimWorkflowId).describe();
  const holder = (description.memo as { holder?: unknown } | undefined)?.holder;
  return typeof holder === 'string' ? holder : 'another run';
}

/** A claim taken by a step lasts at most this long should its worker die before releasing it. */
const STEP_CLAIM_TIMEOUT = '1h';

/**
 * Runs `work` holding the claim a run would take on `path` (verifyBackup holds the pack it reads):
 * when another run holds it, `work` does not run and its holder is returned. The claim is the same
 * runbookClaim workflow a run starts, started by this step, released when `work` ends; a retry of
 * this step finds the claim its own run took and goes on.
 */
export async function whileHolding<T>(path: string, work: () => Promise<T>): Promise<{ done: T } | { heldBy: string }> {
  const info = activityInfo();
  const { taskQueue, host } = splitHostTaskQueue(info.taskQueue);
  const [resource] = await resolveResources([pathResource(host, path)]);
  const holder = info.workflowExecution?.workflowId ?? `step ${info.activityId}`;
  const workflowId = claimWorkflowId(resource!);
  const { client } = Context.current();
  try {
    await client.workflow.start(claimWorkflowType, { workflowId, taskQueue, args: [{ resource, holder }], memo: { holder, resource }, workflowExecutionTimeout: STEP_CLAIM_TIMEOUT });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const owner = await claimHolder(workflowId);
    if (owner !== holder) return { heldBy: owner };
  }
  try {
    return { done: await work() };
  } finally {
    await client.workflow.getHandle(workflowId).signal(releaseSignalName).catch(() => undefined);
  }
}
