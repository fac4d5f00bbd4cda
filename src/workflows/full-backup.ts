// Runbook: a full backup that never loses its images silently (incident 001). Each of the seed's
// failures is a guard: the target must be the mount it should be, with room for the estimate; the
// image list must not be empty when images were asked for, and says where it came from; sqlite is
// backed up online to local disk, checked, then copied; every long step heartbeats its bytes; a pack
// is named complete only after its manifest is written and every file hashed again.
// check target, space, images → start the pack → sqlite → volumes → images → manifest, verify,
// name complete → keep the newest K.
import { ApplicationFailure, patched, workflowInfo } from '@temporalio/workflow';
import type { BackupFacts, PackFile } from '../activities/backup';
import type { FullBackupInput } from './inputs';
import { inLanes } from './lanes';
import type { RunbookReport } from './report';
import { runRunbook } from './run';

const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;
const baseName = (path: string) => path.replace(/\/+$/, '').replace(/^.*\//, '');
/** Names inside a pack: numbered, so two sources with one base name never share a file. */
const sqlitePath = (db: string, i: number) => `sqlite/${i}-${baseName(db)}`;
const volumePath = (dir: string, i: number) => `volumes/${i}-${baseName(dir)}.tar`;

/**
 * backup-<UTC time to the millisecond>. Runs started before 0.8.0 keep whole seconds: two runs of one
 * target started in the same second (a manual run beside a scheduled one) got one name, and the
 * second was refused.
 */
function packName(): string {
  const time = workflowInfo().runStartTime.toISOString().replace(/[-:]/g, '');
  return `backup-${patched('pack-name-ms') ? time : time.replace(/\.\d+Z$/, 'Z')}`;
}

function planActions(input: FullBackupInput, f: BackupFacts, pack: string): string[] {
  if (f.refusals.length) return f.refusals.map((r) => `refuse, writing nothing: ${r}`);
  const images = f.images;
  const doomed = f.packs.complete.slice(0, Math.max(0, f.packs.complete.length + 1 - input.keep));
  return [
    `check again before writing: ${input.targetFsType ? `${input.target} is a ${input.targetFsType} mount, ` : ''}a write probe, and room for ${gb(f.estimateBytes * input.spaceMargin)} (estimate ${gb(f.estimateBytes)} × ${input.spaceMargin}; ${gb(f.freeBytes)} free now on ${f.mount.mountPoint}, ${f.mount.fsType})`,
    `write the pack in ${input.target}/.partial-${pack}`,
    ...input.sqlite.map((db, i) => `sqlite ${db}: online backup to local disk, integrity_check, copy to ${sqlitePath(db, i)} with sha256`),
    ...input.volumes.map((dir, i) => `volume ${dir}: tar to ${volumePath(dir, i)}, hashed as written`),
    ...(images ? [`images: save ${images.images.length} (${images.images.join(', ')}; found by ${images.source}: ${images.attempts.map((a) => `${a.source} ${a.error ? `failed: ${a.error}` : `${a.count}`}`).join(', ')}) to images.tar`] : []),
    `write manifest.json (files, sizes, sha256, image IDs, durations), hash every file again, then rename the pack to ${input.target}/${pack}`,
    `keep the newest ${input.keep} complete packs${doomed.length ? `: delete ${doomed.join(', ')}` : ''}${f.packs.incomplete.length ? `; incomplete ones are never touched (${f.packs.incomplete.join(', ')})` : ''}`,
  ];
}

export async function fullBackup(input: FullBackupInput): Promise<RunbookReport> {
  return runRunbook<FullBackupInput>('fullBackup', input, {
    async plan(rb, input) {
      const f = await rb.step('precheck', `check ${input.target}: mount, space, sources, images`, (a) => a.planBackup({ target: input.target, targetFsType: input.targetFsType, sqlite: input.sqlite, volumes: input.volumes, compose: input.compose, includeImages: input.includeImages, engine: input.engine, spaceMargin: input.spaceMargin }), { heartbeatTimeout: '5m', startToCloseTimeout: '1h' });
      const pack = packName();
      return {
        summary: f.refusals.length ? `refused: ${f.refusals.join('; ')}` : `back up ${input.sqlite.length} sqlite, ${input.volumes.length} volumes${f.images ? `, ${f.images.images.length} images` : ''} (≈${gb(f.estimateBytes)}) into ${input.target}/${pack}`,
        actions: planActions(input, f, pack),
        // Sizes and free space move while the sources are in use (they are measured again before the
        // first write): the facts an approval stands on are these.
        observations: { refusals: f.refusals, mount: f.mount, packs: f.packs, images: f.images?.images ?? null, imageSource: f.images?.source ?? null, imageDetails: f.images?.details ?? [], imageAttempts: f.images?.attempts ?? [] },
      };
    },

    async apply(rb, input, plan) {
      const f = plan.observations as { refusals: string[]; images: string[] | null; imageSource: string | null; imageDetails: NonNullable<BackupFacts['images']>['details']; imageAttempts: NonNullable<BackupFacts['images']>['attempts'] };
      if (f.refusals.length) throw ApplicationFailure.create({ type: 'InvalidInput', nonRetryable: true, message: `refused before writing anything: ${f.refusals.join('; ')}` });
      const pack = packName();
      const { target } = input;
      const started = await rb.step('start-pack', `check the target again and start ${pack}`, (a) => a.startPack({ target, targetFsType: input.targetFsType, pack, sources: [...input.sqlite, ...input.volumes], imageBytes: f.imageDetails.reduce((s, d) => s + d.sizeBytes, 0), spaceMargin: input.spaceMargin }), { mutates: true, heartbeatTimeout: '5m' });
      const packDir = started.dir;
      // Long steps heartbeat when bytes move (backed up, copied, tarred, saved, or staged by podman;
      // only the integrity check of our local copy beats on a timer): a step that stops moving is
      // retried after 2 minutes, and so is one whose worker was killed.
      const long = { heartbeatTimeout: '2m', startToCloseTimeout: '24h' } as const;
      const images = f.images;
      const saveImages = images && (() => rb.step('images', `save ${images.length} images`, (a) => a.backupImages({ engine: input.engine, images, packDir }), { ...long, mutates: true }));
      const parts = [
        ...input.sqlite.map((db, i) => () => rb.step(`sqlite-${i}`, `back up sqlite ${db}`, (a) => a.backupSqlite({ db, packDir, path: sqlitePath(db, i) }), { ...long, mutates: true })),
        ...input.volumes.map((dir, i) => () => rb.step(`volume-${i}`, `tar volume ${dir}`, (a) => a.backupVolume({ dir, packDir, path: volumePath(dir, i) }), { ...long, mutates: true })),
      ];
      let files: PackFile[];
      if (patched('backup-two-lanes')) {
        // Two parts at a time: each is one stream (a child producing, us hashing and writing), so a
        // second uses the other core and the disk's idle time. The image save goes first: it is one
        // long stream that cannot be split. The manifest lists the files in the same order as before.
        const written = await inLanes(saveImages ? [saveImages, ...parts] : parts, 2);
        files = saveImages ? [...written.slice(1), written[0]!] : written;
      } else {
        // Runs started before the two lanes replay one part at a time.
        files = [];
        for (const part of [...parts, ...(saveImages ? [saveImages] : [])]) files.push(await part());
      }
      const manifest = { pack, createdAt: workflowInfo().runStartTime.toISOString(), files, images: f.imageDetails, imageSource: f.imageSource, imageAttempts: f.imageAttempts };
      const done = await rb.step('finish', 'write manifest.json, hash every file again, name the pack complete', (a) => a.finishPack({ target, pack, manifest }), { ...long, mutates: true });
      const pruned = await rb.step('prune', `keep the newest ${input.keep} packs`, (a) => a.pruneBackups({ target, keep: input.keep }), { mutates: true });
      rb.notes.push(`pack ${done.pack}: ${files.length} files, ${files.reduce((s, x) => s + x.bytes, 0)} bytes (${files.map((x) => `${x.path} ${x.bytes} B in ${x.durationMs} ms`).join(', ')})`);
      if (images) rb.notes.push(`images: ${images.length} from ${f.imageSource} (${f.imageAttempts.map((a) => `${a.source}: ${a.error ? `failed: ${a.error}` : a.count}`).join('; ')})`);
      rb.notes.push(`kept ${pruned.kept.join(', ')}${pruned.deleted.length ? `; deleted ${pruned.deleted.map((d) => d.pack).join(', ')}` : ''}${pruned.incompleteUntouched.length ? `; incomplete, untouched: ${pruned.incompleteUntouched.join(', ')}` : ''}`);
      // Results recorded before 0.7.0 have no inUse.
      const inUse = pruned.inUse ?? [];
      if (inUse.length) rb.notes.push(`in use, not deleted: ${inUse.map((u) => `${u.pack} (held by ${u.heldBy})`).join(', ')}; the next backup's prune deletes what is then beyond the newest ${input.keep}`);
    },
  });
}
