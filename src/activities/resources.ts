// What a run claims: its resources as this host sees them (symlinks resolved), and who holds a claim.
import { realpath } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Context } from '@temporalio/activity';
import type { Resource } from '../workflows/targets';

/** A path that does not exist yet is named by its parent's real path. */
async function realPathOf(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(await realPathOf(parent), basename(path));
  }
}

/** The claim keys of `resources` on this host: a table reached through a symlink is the same table. */
export async function resolveResources(resources: Resource[]): Promise<string[]> {
  return Promise.all(
    resources.map(async (r) => {
      if (r.kind !== 'path' || !r.path) return r.key;
      return `${r.key.slice(0, r.key.length - r.path.length)}${await realPathOf(r.path)}`;
    }),
  );
}

/** Which run holds a claim (runs on any worker: it only asks Temporal). */
export async function claimHolder(claimWorkflowId: string): Promise<string> {
  const description = await Context.current().client.workflow.getHandle(claimWorkflowId).describe();
  const holder = (description.memo as { holder?: unknown } | undefined)?.holder;
  return typeof holder === 'string' ? holder : 'another run';
}
