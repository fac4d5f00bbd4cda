// Images back out of an archive: their IDs and sizes as the engine reports them (for the free-space
// estimate and the manifest), and `load` of an archive into a separate storage with the IDs it gave
// compared to the ones expected.
//
// Measured with podman 4.3.1 (vfs), pinned by test/engines/backup-images.test.ts:
// - `load` names what it loaded one per line ("Loaded image: localhost/proj-api:1"); a flipped
//   byte in a layer fails it ("Digest did not match"), a broken tar header too ("invalid tar header").
// - the image ID survives save and load (it is the config's digest); podman prints it as bare hex.
import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  checkArg, checkCli, commandText, ContainerCliError, ContainerInputError, normalizeImageId, parseJsonRecords, runCli, withEngineTemp,
  type ContainerCli, type RunOptions,
} from './container-cli';

export interface ImageDetail {
  ref: string;
  /** `sha256:<64 hex>` whichever engine answered. */
  id: string;
  sizeBytes: number;
}

/**
 * ID and size of each ref, in the order given. `image inspect` without `--format`: its default
 * output is already a JSON array on both engines, while `--format json` is a template on docker
 * before 23 (it prints the word "json"). A ref the engine does not know fails the whole call,
 * with the engine naming the ref.
 */
export async function imageDetails(cli: ContainerCli, refs: string[], { signal, timeoutMs = 120_000 }: RunOptions = {}): Promise<ImageDetail[]> {
  checkCli(cli);
  if (!Array.isArray(refs)) throw new ContainerInputError(`inspecting images: refs must be a list, got ${JSON.stringify(refs)}`);
  for (const ref of refs) checkArg('image ref', ref);
  if (refs.length === 0) return [];
  const args = ['image', 'inspect', '--', ...refs];
  const records = parseJsonRecords(cli, args, await runCli(cli, args, { signal, timeoutMs }));
  const bad = (why: string) => new ContainerCliError(commandText(cli, args), 0, why, false);
  if (records.length !== refs.length) throw bad(`answered ${records.length} records for ${refs.length} refs`);
  return refs.map((ref, i) => {
    const record = records[i]!;
    let id: string;
    try {
      id = normalizeImageId(record.Id);
    } catch {
      throw bad(`gave ${ref} the ID ${JSON.stringify(record.Id)}, not a sha256 digest`);
    }
    const size = record.Size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw bad(`gave ${ref} no size (Size ${JSON.stringify(size)})`);
    return { ref, id, sizeBytes: size };
  });
}

export interface LoadComparison {
  /** Every expected ID was loaded. */
  ok: boolean;
  /** IDs of the images the archive loaded (`sha256:…`). */
  loaded: string[];
  /** Expected IDs that were not loaded. */
  missing: string[];
  /** Loaded IDs nobody expected (not a failure: an archive may hold more). */
  unexpected: string[];
  /** Why not ok: the engine's refusal of the archive, or the IDs that were missing. */
  error?: string;
}

/** "Loaded image: ref" (podman 4, docker), "Loaded image ID: sha256:…" (docker, untagged), "Loaded image(s): a,b" (podman 2–3). */
export function loadedRefs(stdout: string): string[] {
  const refs: string[] = [];
  for (const m of stdout.matchAll(/^Loaded image(?:\(s\))?(?: ID)?: *(.+)$/gm)) refs.push(...m[1]!.split(',').map((r) => r.trim()).filter(Boolean));
  return [...new Set(refs)];
}

export interface LoadOptions extends RunOptions {
  /** Where podman stages the layers it loads (in a folder of ours, removed after); default the OS temp folder. */
  tmpDir?: string;
}

/**
 * `load -i tarFile` into the storage `cli` points at (the caller's separate, throwaway one: a load
 * into the live storage would prove nothing, the images are there already), then the IDs of what it
 * loaded against `expectedIds`. An archive the engine refuses is a result with `ok: false` and the
 * engine's reason, not a throw: to a verify it is a finding. Throws when the CLI could not run or timed out.
 */
export async function loadAndCompare(cli: ContainerCli, tarFile: string, expectedIds: string[], { signal, timeoutMs, tmpDir }: LoadOptions = {}): Promise<LoadComparison> {
  checkCli(cli);
  if (!Array.isArray(expectedIds) || expectedIds.length === 0) throw new ContainerInputError(`comparing ${tarFile}: no expected image IDs given`);
  const expected = [...new Set(expectedIds.map(normalizeImageId))];
  if (typeof tarFile !== 'string' || tarFile === '') throw new ContainerInputError(`image archive ${JSON.stringify(tarFile)}: must be a non-empty path`);
  const file = resolve(tarFile);
  if (!(await stat(file).catch(() => undefined))?.isFile()) throw new ContainerInputError(`image archive ${file}: not a regular file`);

  const args = ['load', '-i', file];
  const notLoaded = (error: string): LoadComparison => ({ ok: false, loaded: [], missing: expected, unexpected: [], error });
  let stdout: string;
  try {
    stdout = await withEngineTemp(join(tmpDir ?? tmpdir(), `image-load-${randomUUID()}`), (env) => runCli(cli, args, { signal, timeoutMs, env }));
  } catch (err) {
    if (err instanceof ContainerCliError && err.exitCode !== undefined) return notLoaded(err.message);
    throw err;
  }
  const refs = loadedRefs(stdout);
  if (refs.length === 0) return notLoaded(`${commandText(cli, args)} named no loaded image: ${JSON.stringify(stdout.slice(0, 200))}`);
  const loaded = [...new Set((await imageDetails(cli, refs, { signal, timeoutMs })).map((d) => d.id))];
  const missing = expected.filter((id) => !loaded.includes(id));
  const unexpected = loaded.filter((id) => !expected.includes(id));
  return {
    ok: missing.length === 0,
    loaded,
    missing,
    unexpected,
    ...(missing.length > 0 ? { error: `${file} did not load ${missing.length} of ${expected.length} expected images: ${missing.join(', ')} (loaded ${loaded.join(', ')})` } : {}),
  };
}
