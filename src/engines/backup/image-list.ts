// Which images a compose project uses, asked three ways in order, because the seed's backup lost its
// images when the first way failed and the fallback matched `proj_` while compose names containers
// `proj-api-1`: `compose config --images`, then containers carrying the compose project label, then
// containers whose name starts with `<project>-` or `<project>_`. Every attempt is recorded with its
// count and error so the caller can log which source gave how many; an empty list is returned as
// such, and the caller decides that it is a failure.
import { resolve } from 'node:path';
import { checkArg, commandText, ContainerInputError, parseJsonRecords, runCli, type ContainerCli } from './container-cli';

export type ImageSource = 'compose-config' | 'label' | 'name-prefix';

export interface ImageListAttempt {
  source: ImageSource;
  /** What was run (credentials masked); absent when the attempt could not be made. */
  command?: string;
  /** Images this source gave (0 when it failed). */
  count: number;
  /** Why it gave none: the CLI's failure, or what was missing. */
  error?: string;
}

export interface ProjectImages {
  /** Unique image refs (or IDs, for a container whose image lost its tag), in the order found. */
  images: string[];
  /** The source the list came from; `none` when every attempt gave nothing. */
  source: ImageSource | 'none';
  /** Every attempt made, in order, up to the first that gave images. */
  attempts: ImageListAttempt[];
}

export interface ListOptions {
  /** The compose project name: `-p` for compose, the label's value, the name prefix. */
  project?: string;
  /** The compose file (`-f`), resolved to an absolute path. */
  composeFile?: string;
  signal?: AbortSignal;
  /** Per CLI call; default 2 minutes. */
  timeoutMs?: number;
}

/** The label compose (docker compose v2, podman-compose) puts on every container it creates. */
export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';

const unique = (items: string[]) => [...new Set(items)];

export async function listProjectImages(cli: ContainerCli, options: ListOptions): Promise<ProjectImages> {
  const { project, composeFile, signal, timeoutMs = 120_000 } = options;
  if (project === undefined && composeFile === undefined) throw new ContainerInputError('listing project images: give a compose project name, a compose file, or both');
  if (project !== undefined) checkArg('compose project name', project);
  if (composeFile !== undefined && (typeof composeFile !== 'string' || composeFile === '')) {
    throw new ContainerInputError(`compose file ${JSON.stringify(composeFile)}: must be a non-empty path`);
  }
  const run = { signal, timeoutMs };
  const attempts: ImageListAttempt[] = [];

  // An attempt's failure is recorded, never thrown: the next source may still answer. A cancel is thrown.
  async function attempt(source: ImageSource, args: string[], read: (stdout: string) => string[]): Promise<string[]> {
    const command = commandText(cli, args);
    try {
      const images = unique(read(await runCli(cli, args, run)));
      attempts.push({ source, command, count: images.length, ...(images.length === 0 && source === 'compose-config' ? { error: 'printed no images' } : {}) });
      return images;
    } catch (err) {
      if ((err as Error).name === 'AbortError' || (err as Error).name === 'ContainerInputError') throw err;
      attempts.push({ source, command, count: 0, error: (err as Error).message });
      return [];
    }
  }
  const found = (images: string[], source: ImageSource): ProjectImages => ({ images, source, attempts });

  // An absolute path never starts with "-", and "-" alone would mean stdin to compose.
  const fileArgs = composeFile === undefined ? [] : ['-f', resolve(composeFile)];
  const projectArgs = project === undefined ? [] : ['-p', project];
  const fromCompose = await attempt('compose-config', ['compose', ...fileArgs, ...projectArgs, 'config', '--images'], (out) =>
    out.split('\n').map((l) => l.trim()).filter(Boolean),
  );
  if (fromCompose.length > 0) return found(fromCompose, 'compose-config');

  if (project === undefined) {
    // Compose's default project name comes from the file's folder, `name:` or COMPOSE_PROJECT_NAME:
    // guessing it could match another project's containers, so without a name nothing is matched.
    for (const source of ['label', 'name-prefix'] as const) attempts.push({ source, count: 0, error: 'no compose project name given to match containers by' });
    return { images: [], source: 'none', attempts };
  }

  const psArgs = ['ps', '-a', '--format', 'json'];
  const byLabel = ['ps', '-a', '--filter', `label=${COMPOSE_PROJECT_LABEL}=${project}`, '--format', 'json'];
  const fromLabel = await attempt('label', byLabel, (out) => containers(cli, byLabel, out).map((c) => c.image));
  if (fromLabel.length > 0) return found(fromLabel, 'label');

  // Compose v2 names containers `<project>-<service>-1`, compose v1 and podman-compose `<project>_<service>_1`.
  const prefixes = [`${project}-`, `${project}_`];
  const fromNames = await attempt('name-prefix', psArgs, (out) =>
    containers(cli, psArgs, out)
      .filter((c) => c.names.some((n) => prefixes.some((p) => n.startsWith(p))))
      .map((c) => c.image),
  );
  return fromNames.length > 0 ? found(fromNames, 'name-prefix') : { images: [], source: 'none', attempts };
}

interface ContainerSummary {
  names: string[];
  image: string;
}

/**
 * Containers from `ps --format json`. podman: `Names` is an array, `Image` the ref it was created
 * from, `ImageID` bare hex. docker: `Names` is one comma-separated string, `Image` the ref or, when
 * the tag moved on, the image ID.
 */
function containers(cli: ContainerCli, args: string[], stdout: string): ContainerSummary[] {
  return parseJsonRecords(cli, args, stdout).map((record) => {
    const rawNames = record.Names;
    const names = (Array.isArray(rawNames) ? rawNames : typeof rawNames === 'string' ? rawNames.split(',') : [])
      .filter((n): n is string => typeof n === 'string')
      .map((n) => n.trim().replace(/^\//, ''));
    const image = typeof record.Image === 'string' && record.Image ? record.Image : typeof record.ImageID === 'string' ? record.ImageID : '';
    return { names, image };
  }).filter((c) => c.image !== '');
}
