// Data paths from runbook input are untrusted: each must resolve, symlinks followed, under one of
// the folders the host's services file declares. Checked by every step that takes a path, on the
// host that holds it, because only the host sees its symlinks and only its file is trusted.
import { realpath } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { loadHostFile } from './host-file';

export class OutsideDataRootsError extends Error {
  override name = 'OutsideDataRootsError' as const;
}

/** The real path of `path`; for a path that does not exist yet, its nearest existing ancestor's. */
export async function realPathOf(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(await realPathOf(parent), basename(path));
  }
}

const within = (path: string, root: string) => path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);

/**
 * Refuses unless every given path lies under a declared data root once symlinks are resolved.
 * `paths` maps input field names to paths (undefined ones are skipped), so the refusal names the
 * field: `tableDir /srv/other/t.lance resolves to /srv/other/t.lance, outside this host's data roots`.
 */
export async function requireUnderDataRoots(paths: Record<string, string | undefined>): Promise<void> {
  const { dataRoots } = await loadHostFile();
  const roots = await Promise.all(dataRoots.map(realPathOf));
  for (const [field, path] of Object.entries(paths)) {
    if (path === undefined) continue;
    if (!path.startsWith('/')) throw new OutsideDataRootsError(`${field} ${path}: must be an absolute path`);
    const real = await realPathOf(path);
    if (!roots.some((root) => within(real, root))) {
      const shown = real === path ? '' : ` resolves to ${real},`;
      throw new OutsideDataRootsError(`${field} ${path}:${shown} outside this host's data roots (${dataRoots.length ? dataRoots.join(', ') : 'none declared: set dataRoots in the services file'})`);
    }
  }
}
