// The host's own word on what runbooks may touch here: RUNBOOK_SERVICES_FILE. Runbook input comes
// from people and bots that the host does not trust; this file comes from the host's operator. It
// names every service a run may stop or start (and exactly how), the folders data paths must lie
// under, and how approvals are verified. Re-read when it changes, so an edit needs no restart; a
// plan made before the edit drifts, and its steps refuse to act on the new entry.
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { describeIssues } from '../workflows/inputs';
import { approvalPolicySchema } from '../trust/policy';
import { absolutePath, hostService, serviceName } from '../workflows/service-spec';

export const hostFileSchema = z.strictObject({
  trust: z.enum(['signed', 'development']).default('signed')
    .describe('signed: approvals must carry an SSH signature this host verifies; development: unsigned approvals are accepted (npm start)'),
  allowInlineServices: z.boolean().default(false)
    .describe('development only: accept whole service specs in runbook input (argv, env, pidfile, URLs)'),
  dataRoots: z.array(absolutePath).default([])
    .describe('data paths in runbook input (tableDir, lfsRepo, quarantineDir…) must resolve, symlinks followed, under one of these'),
  services: z.record(serviceName, hostService).default({}),
  containerEngines: z.strictObject({
    docker: z.array(z.string().min(1).max(4096)).min(1).max(32).optional(),
    podman: z.array(z.string().min(1).max(4096)).min(1).max(32).optional(),
  }).default({}).describe('how this host runs each container engine CLI, program and global options, e.g. ["podman", "--root", "/srv/containers"]; default: the bare name'),
  approvals: approvalPolicySchema.optional(),
});

export type HostFile = z.output<typeof hostFileSchema>;

export class HostFileError extends Error {
  override name = 'HostFileError' as const;
}

/** A host without a services file lets runbooks touch nothing, and accepts only signed approvals. */
const EMPTY: HostFile = hostFileSchema.parse({});

export function parseHostFile(data: unknown, path: string): HostFile {
  const parsed = hostFileSchema.safeParse(data);
  if (!parsed.success) throw new HostFileError(`services file ${path}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

let cached: { path: string; stamp: string; file: HostFile } | undefined;

export function hostFilePath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.RUNBOOK_SERVICES_FILE || undefined;
}

/** The current services file (RUNBOOK_SERVICES_FILE), read again whenever it changed on disk. */
export async function loadHostFile(path = hostFilePath()): Promise<HostFile> {
  if (!path) return EMPTY;
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw new HostFileError(`services file ${path}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const stamp = `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}`;
  if (cached?.path === path && cached.stamp === stamp) return cached.file;
  let data: unknown;
  try {
    data = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new HostFileError(`services file ${path}: not JSON: ${(err as Error).message}`);
  }
  const file = parseHostFile(data, path);
  cached = { path, stamp, file };
  return file;
}

/**
 * Rewrites the services file through `change` (temp file, then rename: a worker never reads half a
 * file). For the development host file that `npm start` writes, its demos and the tests; a
 * production host's file is its operator's.
 */
export async function updateHostFile(path: string, change: (file: z.input<typeof hostFileSchema>) => z.input<typeof hostFileSchema>): Promise<void> {
  const current = await readFile(path, 'utf8').then((text) => JSON.parse(text) as z.input<typeof hostFileSchema>, () => ({}));
  const next = change(current);
  parseHostFile(next, path);
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
  await rename(temp, path);
}
