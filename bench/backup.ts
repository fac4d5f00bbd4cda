// backup benchmark (issue 11): a ~2 GB pack (sqlite ~200 MB, volumes ~1.3 GB in a few hundred files,
// a ~500 MB image) made by the steps fullBackup runs, called in sequence in this process without
// Temporal (planBackup, startPack, backupSqlite, backupVolume, backupImages, finishPack with its
// re-hash of every file, pruneBackups), against the bare tools on the same inputs: `sqlite3 .backup`
// to local disk, `tar --create | sha256sum` of each volume, `podman save | sha256sum` of the image.
// A second baseline writes what the first only hashes (tee into files, then sync): the same bytes on
// disk and durability as a pack, without the checks. The baselines' tar and image sums must equal
// the manifest's (same inputs, same bytes).
//
// Second figure: the CPU our process uses while a step waits on a child that produces nothing (the
// seed's heartbeat logger busy-looped at EOF): backupImages on an engine CLI silent for seconds
// before its first byte, and one that closes its stdout and lingers; backupVolume while tar is
// stopped (SIGSTOP) mid-archive; against the same process idle for as long.
import { watch } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { backupImages, backupSqlite, backupVolume, finishPack, packName, planBackup, pruneBackups, startPack, type PackFile } from '../src/activities/backup';
import { updateHostFile } from '../src/host/host-file';
import { inLanes } from '../src/workflows/lanes';
import { backupInputs, BIG_REF, PROJECT, SCRATCH, SMALL_REF, type BackupInputs } from './backup-inputs';
import { benchHostFile, type Variant } from './harness';

export const OURS = 'ours: fullBackup steps';
export const BARE = 'sqlite3 .backup + tar|sha256sum + podman save|sha256sum';
export const BARE_WRITE = 'the same, outputs written (tee) + sync';
export const BARE_LANES = 'the same written + sync, two at a time as ours';

export interface CpuFigure {
  what: string;
  /** CPU time (user + system) of this process over the window, divided by the window's wall time. */
  share: number;
  windowMs: number;
}

export interface BackupCase {
  inputs: BackupInputs;
  packBytes: () => number;
  variants: Variant[];
  /** Throws unless the baselines hashed the same tar and image bytes as the last pack's manifest. */
  sameBytes: () => void;
  cpuWhileWaiting: (windowMs: number) => Promise<CpuFigure[]>;
  cleanup: () => Promise<void>;
}

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const activity = () => new MockActivityEnvironment(undefined, { logger: quiet });
/** One activity function in a mock activity context (heartbeats and cancellation as in a worker), typed. */
const step = <A, R>(env: MockActivityEnvironment, fn: (args: A) => Promise<R>, args: A): Promise<R> => env.run<[A], R, (args: A) => Promise<R>>(fn, args);
const SPACE_MARGIN = 1.2;

/** Split times of one run (ms since the last lap), which the harness reports as `<variant>:<name>`. */
function laps() {
  const times: Record<string, number> = {};
  let t = performance.now();
  const lap = (name: string) => {
    times[name] = (times[name] ?? 0) + performance.now() - t;
    t = performance.now();
  };
  return { times, lap };
}

export async function backupCase(): Promise<BackupCase | { skipped: string }> {
  const inputs = await backupInputs();
  if ('skipped' in inputs) return inputs;
  const work = join(SCRATCH, `backup-run-${process.pid}`);
  const target = join(work, 'target');
  const local = join(work, 'local');
  await mkdir(target, { recursive: true });
  await mkdir(local, { recursive: true });
  const hostFile = await benchHostFile(work);
  await updateHostFile(hostFile, (f) => ({ ...f, dataRoots: [...(f.dataRoots ?? []), SCRATCH.replace(/\/$/, '')], containerEngines: { podman: inputs.podman } }));
  const [podmanBin, ...podmanGlobals] = inputs.podman as [string, ...string[]];

  let runs = 0;
  let lastFiles: PackFile[] = [];
  let packBytes = 0;
  const ours: Variant = {
    name: OURS,
    run: async () => {
      const env = activity();
      const { times, lap } = laps();
      const facts = await step(env, planBackup, { target, sqlite: [inputs.db], volumes: inputs.volumes, compose: { project: PROJECT }, includeImages: true, engine: 'podman' as const, spaceMargin: SPACE_MARGIN });
      if (facts.refusals.length || !facts.images) throw new Error(`backup: planBackup refused: ${facts.refusals.join('; ')}`);
      // One pack name per run (the runbook's names have one-second resolution).
      const pack = `backup-20260101T${String(Math.floor(runs / 3600) % 24).padStart(2, '0')}${String(Math.floor(runs / 60) % 60).padStart(2, '0')}${String(runs % 60).padStart(2, '0')}Z`;
      runs++;
      const details = facts.images.details;
      lap('plan'); // plan = planBackup + startPack
      const { dir } = await step(env, startPack, { target, pack, sources: [inputs.db, ...inputs.volumes], imageBytes: details.reduce((s, d) => s + d.sizeBytes, 0), spaceMargin: SPACE_MARGIN });
      lap('plan');
      // As fullBackup runs them: two parts at a time, the image save first; the manifest in the same order.
      const parts = [
        () => step(activity(), backupImages, { engine: 'podman' as const, images: facts.images!.images, packDir: dir }),
        () => step(activity(), backupSqlite, { db: inputs.db, packDir: dir, path: packName('sqlite', inputs.db, 0) }),
        ...inputs.volumes.map((v, i) => () => step(activity(), backupVolume, { dir: v, packDir: dir, path: packName('volume', v, i) })),
      ];
      const written = await inLanes(parts, 2);
      const files: PackFile[] = [...written.slice(1), written[0]!];
      lap('parts');
      // Each part's own duration, while another part ran beside it.
      for (const f of files) times[f.kind === 'volume' ? 'volumes' : f.kind] = (times[f.kind === 'volume' ? 'volumes' : f.kind] ?? 0) + f.durationMs;
      const manifest = { pack, createdAt: new Date().toISOString(), files, images: details, imageSource: facts.images.source, imageAttempts: facts.images.attempts };
      await step(env, finishPack, { target, pack, manifest });
      await step(env, pruneBackups, { target, keep: 100 });
      lap('finish');
      if (facts.images.source !== 'label' || facts.images.images.join() !== BIG_REF) throw new Error(`backup: images ${facts.images.images.join(', ')} from ${facts.images.source}`);
      lastFiles = files;
      packBytes = files.reduce((s, f) => s + f.bytes, 0);
      return times;
    },
    reset: async () => {
      for (const name of await readdir(target)) await rm(join(target, name), { recursive: true, force: true });
    },
  };

  const bareSums: Record<string, string> = {};
  /** One tool's output hashed by sha256sum (and written by tee into `out` when given); returns the sum. */
  const hashed = async (producer: string, args: string[], out?: string, env?: Record<string, string>) => {
    const r = await execa('bash', ['-c', `set -o pipefail; "$@" | ${out ? 'tee -- "$OUT" | ' : ''}sha256sum`, 'bash', producer, ...args], { env: { ...env, OUT: out ?? '' } });
    return r.stdout.slice(0, 64);
  };
  /** The bare tools on the same inputs: hashing only, or writing (tee) and syncing too; in sequence, or two at a time as ours. */
  const bare = (write: boolean, lanes: 1 | 2): Variant => ({
    name: lanes === 2 ? BARE_LANES : write ? BARE_WRITE : BARE,
    run: async () => {
      const out = join(work, 'bare');
      await mkdir(join(out, 'volumes'), { recursive: true });
      const stage = join(work, 'bare-stage');
      await mkdir(stage, { recursive: true });
      const times: Record<string, number> = {};
      /** One part, its own time added under `name`. */
      const timed = (name: string, run: () => Promise<unknown>) => async () => {
        const t = performance.now();
        await run();
        times[name] = (times[name] ?? 0) + performance.now() - t;
      };
      const parts = [
        timed('images', async () => {
          bareSums.images = await hashed(podmanBin, [...podmanGlobals, 'save', '-m', '--', BIG_REF], write ? join(out, 'images.tar') : undefined, { TMPDIR: stage });
        }),
        timed('sqlite', async () => {
          await execa('sqlite3', ['-batch', '-bail', inputs.db, `.backup '${join(local, 'bare.db')}'`]);
          if (write) await execa('cp', ['--', join(local, 'bare.db'), join(out, 'app.db')]);
        }),
        ...inputs.volumes.map((v, i) => timed('volumes', async () => {
          const name = v.replace(/^.*\//, '');
          bareSums[`volume-${i}`] = await hashed('tar', ['--create', '--file=-', `--directory=${v.slice(0, -name.length - 1)}`, '--', name], write ? join(out, 'volumes', `${i}.tar`) : undefined, { LC_ALL: 'C' });
        })),
      ];
      let t = performance.now();
      await inLanes(parts, lanes);
      times.parts = performance.now() - t;
      if (write) {
        t = performance.now();
        await execa('sync', ['--', join(out, 'app.db'), ...inputs.volumes.map((_, i) => join(out, 'volumes', `${i}.tar`)), join(out, 'images.tar'), out]);
        times.finish = performance.now() - t;
      }
      return times;
    },
    reset: async () => {
      await rm(join(work, 'bare'), { recursive: true, force: true });
      await rm(join(work, 'bare-stage'), { recursive: true, force: true });
      await rm(join(local, 'bare.db'), { force: true });
    },
  });

  const sameBytes = () => {
    const want = Object.fromEntries(lastFiles.filter((f) => f.kind !== 'sqlite').map((f) => [f.kind === 'images' ? 'images' : `volume-${/^volumes\/(\d+)-/.exec(f.path)![1]}`, f.sha256]));
    for (const [key, sum] of Object.entries(want)) if (bareSums[key] !== sum) throw new Error(`backup: ${key}: the baseline hashed ${bareSums[key]}, the pack's manifest says ${sum}`);
  };

  /** CPU share of this process over `windowMs`, starting once `ready` resolves (and before `done` is awaited). */
  const measure = async (what: string, windowMs: number, ready: Promise<unknown>, done?: () => Promise<unknown>): Promise<CpuFigure> => {
    await ready;
    const cpu = process.cpuUsage();
    const t = performance.now();
    await sleep(windowMs);
    const used = process.cpuUsage(cpu);
    const wall = performance.now() - t;
    await done?.();
    return { what, share: (used.user + used.system) / 1000 / wall, windowMs: wall };
  };

  /** A pack folder for one CPU case, and the engine CLI it runs (a wrapper around podman). */
  const withEngine = async <T>(name: string, script: string, run: (packDir: string) => Promise<T>): Promise<T> => {
    const packDir = join(work, 'cpu', name);
    await rm(packDir, { recursive: true, force: true });
    await mkdir(packDir, { recursive: true });
    await updateHostFile(hostFile, (f) => ({ ...f, containerEngines: { podman: ['bash', '-c', script, ...inputs.podman] } }));
    try {
      return await run(packDir);
    } finally {
      await updateHostFile(hostFile, (f) => ({ ...f, containerEngines: { podman: inputs.podman } }));
      await rm(packDir, { recursive: true, force: true });
    }
  };

  /** Resolves once `name` appears in `dir` (inotify: no polling inside the window). */
  const appears = (dir: string, name: string) => new Promise<void>((resolve) => {
    const w = watch(dir, (_event, file) => {
      if (file !== name) return;
      w.close();
      resolve();
    });
  });

  const cpuWhileWaiting = async (windowMs: number): Promise<CpuFigure[]> => {
    const silent = (windowMs + 1000) / 1000;
    const figures: CpuFigure[] = [await measure('idle: this process with nothing to do', windowMs, Promise.resolve())];
    // podman staging a big layer prints nothing for a while: an engine silent before its first byte.
    figures.push(await withEngine('silent', `sleep ${silent}; exec "$0" "$@"`, async (packDir) => {
      const saving = step(activity(), backupImages, { engine: 'podman' as const, images: [SMALL_REF], packDir });
      return measure(`backupImages, the engine CLI silent ${silent} s before its first byte`, windowMs, sleep(300), () => saving);
    }));
    // At EOF: the archive is whole and stdout closed, the child still runs (the seed's busy loop).
    const mark = join(work, 'cpu', 'eof-mark');
    figures.push(await withEngine('eof', `"$0" "$@"; s=$?; exec >&-; touch "${mark}"; sleep ${silent}; exit $s`, async (packDir) => {
      const seen = appears(join(work, 'cpu'), 'eof-mark');
      const saving = step(activity(), backupImages, { engine: 'podman' as const, images: [SMALL_REF], packDir });
      return measure(`backupImages, the engine CLI's stdout at EOF, the CLI lingering ${silent} s`, windowMs, seen, () => saving);
    }));
    // tar stopped mid-archive (SIGSTOP), as a hung share would stop it.
    const packDir = join(work, 'cpu', 'tar');
    await mkdir(packDir, { recursive: true });
    const archiving = step(activity(), backupVolume, { dir: inputs.volumes[0]!, packDir, path: 'volume.tar' });
    let tar = 0;
    for (let i = 0; i < 200 && !tar; i++, await sleep(10)) tar = await childNamed('tar');
    if (!tar) throw new Error('backup: tar never started');
    await sleep(200);
    process.kill(tar, 'SIGSTOP');
    figures.push(await measure(`backupVolume, tar stopped (SIGSTOP) mid-archive for ${(windowMs / 1000).toFixed(0)} s`, windowMs, Promise.resolve(), async () => {
      process.kill(tar, 'SIGCONT');
      await archiving;
    }));
    await rm(join(work, 'cpu'), { recursive: true, force: true });
    return figures;
  };

  return {
    inputs,
    packBytes: () => packBytes,
    variants: [ours, bare(false, 1), bare(true, 1), bare(true, 2)],
    sameBytes,
    cpuWhileWaiting,
    cleanup: () => rm(work, { recursive: true, force: true }),
  };
}

/** The pid of a child of this process whose command is `name`, or 0. */
async function childNamed(name: string): Promise<number> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
    if (m && m[1] === name && Number(m[2]) === process.pid) return Number(entry);
  }
  return 0;
}
