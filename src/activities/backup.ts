// fullBackup steps (incident 001). A pack is built in `<target>/.partial-<pack>` (ours: a retry may
// clear what is in it) and renamed `<target>/<pack>` only after its manifest.json is written and
// every file in it hashed again. Sources are only read. Retention deletes only complete packs this
// runbook named, never an incomplete one.
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { imageDetails, listProjectImages, saveImages, type ContainerCli, type ContainerEngine, type ImageDetail, type ProjectImages } from '../engines/backup/images';
import { mountOf, requireMountType, requireSpace, writeProbe, freeBytes } from '../engines/backup/precheck';
import { integrityCheck, sqliteOnlineBackup } from '../engines/backup/sqlite';
import { tarDirectory } from '../engines/backup/volume-tar';
import { storeBytes } from '../engines/logstore/candidates';
import { fsyncDir, fsyncPath } from '../engines/lfs/file-io';
import { loadHostFile } from '../host/host-file';
import { requireUnderDataRoots } from '../host/data-roots';
import { invalidInput, safetyViolation, verificationFailed } from './failures';
import { sha256File } from './files';
import { cancellationSignal, heartbeatWhile, reportProgress } from './progress';
import { whileHolding } from './resources';

/** How this host runs the engine CLI: its services file's `containerEngines`, else the bare name. */
export async function containerCli(engine: ContainerEngine): Promise<ContainerCli> {
  const { containerEngines } = await loadHostFile();
  return { engine, argv: containerEngines[engine] ?? [engine] };
}

/** backup-<UTC time>: whole seconds before 0.8.0, milliseconds since. */
export const PACK_PATTERN = /^backup-\d{8}T\d{6}(\.\d{3})?Z$/;
const PARTIAL = '.partial-';

/** One file of a pack, as the manifest lists it. */
export interface PackFile {
  /** Path inside the pack. */
  path: string;
  /** What it is a copy of. */
  source: string;
  kind: 'sqlite' | 'volume' | 'images';
  bytes: number;
  sha256: string;
  durationMs: number;
}

/** Names inside a pack: the source's base name, numbered so two sources never share one. */
export const packName = (kind: 'sqlite' | 'volume', source: string, index: number) =>
  kind === 'sqlite' ? `sqlite/${index}-${basename(source)}` : `volumes/${index}-${basename(source)}.tar`;

async function sizeOf(path: string): Promise<number> {
  const info = await lstat(path).catch(() => undefined);
  if (!info) throw invalidInput(`${path}: no such file or folder`);
  return info.isDirectory() ? storeBytes(path) : info.size;
}

/** The complete packs in `target` (named by this runbook, with a manifest), oldest first, and the incomplete ones. */
async function listPacks(target: string): Promise<{ complete: string[]; incomplete: string[] }> {
  const entries = await readdir(target, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : Promise.reject(err)));
  const complete: string[] = [];
  const incomplete: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    if (e.name.startsWith(PARTIAL) && PACK_PATTERN.test(e.name.slice(PARTIAL.length))) incomplete.push(e.name);
    else if (PACK_PATTERN.test(e.name) && (await lstat(join(target, e.name, 'manifest.json')).then((i) => i.isFile(), () => false))) complete.push(e.name);
  }
  // By time: a whole-second name (before 0.8.0) is that second's .000.
  const byTime = (a: string, b: string) => a.replace(/(\d{6})Z$/, '$1.000Z').localeCompare(b.replace(/(\d{6})Z$/, '$1.000Z'));
  return { complete: complete.sort(byTime), incomplete: incomplete.sort(byTime) };
}

export interface BackupFacts {
  target: string;
  mount: { mountPoint: string; fsType: string; source: string };
  /** Why the run must not write anything (wrong filesystem, no space, no images): empty when it may. */
  refusals: string[];
  estimateBytes: number;
  freeBytes: number;
  images?: ProjectImages & { details: ImageDetail[] };
  packs: { complete: string[]; incomplete: string[] };
}

/** Read-only: where the target is mounted, what the backup will take, which images, which packs exist. */
export async function planBackup(args: { target: string; targetFsType?: string; sqlite: string[]; volumes: string[]; compose?: { project?: string; file?: string }; includeImages: boolean; engine: ContainerEngine; spaceMargin: number }): Promise<BackupFacts> {
  await requireUnderDataRoots({ target: args.target, ...Object.fromEntries(args.sqlite.map((p, i) => [`sqlite.${i}`, p])), ...Object.fromEntries(args.volumes.map((p, i) => [`volumes.${i}`, p])), ...(args.compose?.file ? { 'compose.file': args.compose.file } : {}) });
  const signal = cancellationSignal();
  const refusals: string[] = [];
  const mount = await mountOf(args.target);
  if (args.targetFsType) await requireMountType(args.target, args.targetFsType).catch((err: Error) => refusals.push(err.message));
  let estimateBytes = 0;
  for (const p of [...args.sqlite, ...args.volumes]) estimateBytes += await sizeOf(p);
  let images: BackupFacts['images'];
  if (args.includeImages) {
    const cli = await containerCli(args.engine);
    const found = await heartbeatWhile(listProjectImages(cli, { project: args.compose?.project, composeFile: args.compose?.file, signal }), { listing: 'images' });
    const details = found.images.length ? await imageDetails(cli, found.images, { signal }) : [];
    images = { ...found, details };
    estimateBytes += details.reduce((sum, d) => sum + d.sizeBytes, 0);
    if (!found.images.length) refusals.push(`no images found for compose project ${args.compose?.project ?? args.compose?.file}: ${found.attempts.map((a) => `${a.source}: ${a.error ?? `${a.count} found`}`).join('; ')}`);
  }
  const free = await freeBytes(args.target);
  await requireSpace(args.target, estimateBytes, args.spaceMargin).catch((err: Error) => refusals.push(err.message));
  return { target: args.target, mount: { mountPoint: mount.mountPoint, fsType: mount.fsType, source: mount.source }, refusals, estimateBytes, freeBytes: free, ...(images ? { images } : {}), packs: await listPacks(args.target) };
}

/** Before the first write: the mount type, a write probe, the space (with numbers). Then the pack's folder, ours. */
export async function startPack(args: { target: string; targetFsType?: string; pack: string; sources: string[]; imageBytes: number; spaceMargin: number }) {
  await requireUnderDataRoots({ target: args.target, ...Object.fromEntries(args.sources.map((p, i) => [`sources.${i}`, p])) });
  if (!PACK_PATTERN.test(args.pack)) throw invalidInput(`pack name ${args.pack}: not backup-<UTC time>`);
  if (args.targetFsType) await requireMountType(args.target, args.targetFsType);
  await writeProbe(args.target);
  const dir = join(args.target, `${PARTIAL}${args.pack}`);
  if (await lstat(join(args.target, args.pack)).then(() => true, () => false)) throw safetyViolation(`${join(args.target, args.pack)} exists already; refusing to write over a pack`);
  const exists = await lstat(dir).then((i) => i, () => undefined);
  if (exists && (!exists.isDirectory() || exists.isSymbolicLink())) throw safetyViolation(`${dir} exists and is not a folder this runbook made`);
  let estimate = args.imageBytes;
  for (const source of args.sources) estimate += await sizeOf(source);
  const space = exists ? undefined : await requireSpace(args.target, estimate, args.spaceMargin);
  await mkdir(join(dir, 'sqlite'), { recursive: true });
  await mkdir(join(dir, 'volumes'), { recursive: true });
  await fsyncDir(args.target);
  return { dir, ...(space ? { space } : { resumed: true }) };
}

/**
 * Copies `from` to `to` (new) while hashing it: one read. Heartbeats carry the bytes copied, so a
 * copy that stops moving (a hung share) stops heartbeating and its timeout turns it into a retry.
 */
async function copyHashed(from: string, to: string, signal?: AbortSignal): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      reportProgress({ copying: to, bytes });
      done(null, chunk);
    },
  });
  await pipeline(createReadStream(from), tap, createWriteStream(to, { flags: 'wx' }), { signal });
  await fsyncPath(to);
  return { bytes, sha256: hash.digest('hex') };
}

/**
 * SQLite's online backup into a local temp file (never straight onto the share: the seed's backup
 * hung on CIFS), integrity_check on it, then copied into the pack with its sha256.
 */
export async function backupSqlite(args: { db: string; packDir: string; path: string }): Promise<PackFile> {
  await requireUnderDataRoots({ sqlite: args.db, pack: args.packDir });
  const signal = cancellationSignal();
  const started = Date.now();
  const local = await mkdtemp(join(tmpdir(), 'runbook-sqlite-'));
  try {
    const copy = join(local, 'backup.db');
    let backedUp = -1;
    // Heartbeats only while the copy grows: a backup that stops moving is retried.
    await sqliteOnlineBackup(args.db, copy, { signal, onProgress: (bytes) => bytes > backedUp && reportProgress({ backingUp: args.db, bytes: (backedUp = bytes) }) });
    const dest = join(args.packDir, args.path);
    await rm(dest, { force: true }); // ours: an earlier attempt's
    // The check and the copy both only read our local copy, so they run side by side (sqlite3 on one
    // core, the hash on the other); a copy that fails the check is removed from the pack again. The
    // check is a bounded local read, so a timer's heartbeats are enough for it.
    const [check, copied] = await Promise.allSettled([heartbeatWhile(integrityCheck(copy, { signal }), { checking: args.db }), copyHashed(copy, dest, signal)]);
    if (check.status === 'rejected' || copied.status === 'rejected' || !check.value.ok) await rm(dest, { force: true });
    if (check.status === 'rejected') throw check.reason;
    if (!check.value.ok) throw verificationFailed(`the online backup of ${args.db} fails integrity_check: ${check.value.messages.slice(0, 3).join('; ')}`);
    if (copied.status === 'rejected') throw copied.reason;
    const { bytes, sha256 } = copied.value;
    return { path: args.path, source: args.db, kind: 'sqlite', bytes, sha256, durationMs: Date.now() - started };
  } finally {
    await rm(local, { recursive: true, force: true });
  }
}

/** A volume folder as one tar, hashed as it is written. */
export async function backupVolume(args: { dir: string; packDir: string; path: string }): Promise<PackFile> {
  await requireUnderDataRoots({ volume: args.dir, pack: args.packDir });
  const dest = join(args.packDir, args.path);
  await rm(dest, { force: true });
  const out = await tarDirectory(args.dir, dest, { signal: cancellationSignal(), onProgress: (bytes) => reportProgress({ volume: args.dir, bytes }) });
  return { path: args.path, source: args.dir, kind: 'volume', bytes: out.bytes, sha256: out.sha256, durationMs: out.durationMs };
}

/** The images saved into images.tar (streamed from the engine's stdout, hashed as it comes). */
export async function backupImages(args: { engine: ContainerEngine; images: string[]; packDir: string }): Promise<PackFile> {
  await requireUnderDataRoots({ pack: args.packDir });
  if (!args.images.length) throw invalidInput('no images to save');
  const cli = await containerCli(args.engine);
  const dest = join(args.packDir, 'images.tar');
  await rm(dest, { force: true });
  const out = await saveImages(cli, args.images, dest, {
    signal: cancellationSignal(),
    onProgress: (bytes) => reportProgress({ images: args.images.length, bytes }),
    onStaging: (staged) => reportProgress({ images: args.images.length, staged }),
  });
  return { path: 'images.tar', source: args.images.join(' '), kind: 'images', bytes: out.bytes, sha256: out.sha256, durationMs: out.durationMs };
}

export interface PackManifest {
  pack: string;
  createdAt: string;
  files: PackFile[];
  images: Array<{ ref: string; id: string; sizeBytes: number }>;
  imageSource: string | null;
  imageAttempts: ProjectImages['attempts'];
}

/**
 * Writes manifest.json, hashes every file again against it, and only then renames the pack to its
 * final name. Already renamed: the manifest there is returned.
 */
export async function finishPack(args: { target: string; pack: string; manifest: PackManifest }) {
  await requireUnderDataRoots({ target: args.target });
  const final = join(args.target, args.pack);
  const dir = join(args.target, `${PARTIAL}${args.pack}`);
  if (await lstat(join(final, 'manifest.json')).then(() => true, () => false)) return { pack: final, already: true, manifestSha256: await sha256File(join(final, 'manifest.json')) };
  for (const f of args.manifest.files) {
    const now = await sha256File(join(dir, f.path));
    if (now !== f.sha256) throw verificationFailed(`${join(dir, f.path)}: sha256 ${now}, written as ${f.sha256}`);
    reportProgress({ verified: f.path });
  }
  const text = `${JSON.stringify(args.manifest, null, 2)}\n`;
  await writeFile(join(dir, 'manifest.json'), text, { flush: true });
  await fsyncDir(dir);
  await rename(dir, final);
  await fsyncDir(args.target);
  return { pack: final, already: false, manifestSha256: createHash('sha256').update(text).digest('hex'), files: args.manifest.files.length, bytes: args.manifest.files.reduce((s, f) => s + f.bytes, 0) };
}

/** Keeps the newest `keep` complete packs and never touches an incomplete one; deletes older complete ones, each while holding its claim, so a pack another run reads (verifyBackup) stays. */
export async function pruneBackups(args: { target: string; keep: number }) {
  return prunePacks(args, whileHolding);
}

/** pruneBackups with the claim taken by `hold`: the activity's is a Temporal claim on the pack's path. */
export async function prunePacks(args: { target: string; keep: number }, hold: typeof whileHolding) {
  await requireUnderDataRoots({ target: args.target });
  // The schema says so too, but a step can be scheduled directly on the server: never keep none.
  if (!Number.isInteger(args.keep) || args.keep < 1) throw invalidInput(`keep ${args.keep}: must be a whole number of at least 1; refusing to delete every pack`);
  const { complete, incomplete } = await listPacks(args.target);
  const doomed = complete.slice(0, Math.max(0, complete.length - args.keep));
  const deleted: Array<{ pack: string; manifestSha256: string }> = [];
  const inUse: Array<{ pack: string; heldBy: string }> = [];
  for (const name of doomed) {
    // A pack another run holds (verifyBackup reading it) stays: the next backup's prune takes it.
    const outcome = await hold(join(args.target, name), async () => {
      const sha256 = await sha256File(join(args.target, name, 'manifest.json'));
      await rm(join(args.target, name), { recursive: true });
      return sha256;
    });
    if ('heldBy' in outcome) inUse.push({ pack: name, heldBy: outcome.heldBy });
    else deleted.push({ pack: name, manifestSha256: outcome.done });
  }
  if (deleted.length) await fsyncDir(args.target);
  const kept = complete.filter((name) => !deleted.some((d) => d.pack === name));
  return { kept, deleted, inUse, incompleteUntouched: incomplete };
}

export async function readManifest(pack: string): Promise<PackManifest> {
  return JSON.parse(await readFile(join(pack, 'manifest.json'), 'utf8')) as PackManifest;
}
