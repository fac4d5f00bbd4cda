// What a run claims: its resources as this host sees them (symlinks resolved, service names
// expanded to what they drive), and who holds a claim.
import { Context } from '@temporalio/activity';
import { realPathOf } from '../host/data-roots';
import { resolveService } from '../host/services';
import type { Resource } from '../workflows/targets';

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
