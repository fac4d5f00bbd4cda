// The backup benchmark's inputs (issue 11), built once into bench/.scratch and reused while their
// description matches: a sqlite db of ~200 MB (random rows and an index, so integrity_check has work),
// two volume folders of ~1.3 GB in a few hundred files of mixed sizes (1 KiB to tens of MiB, in
// subfolders), and a podman vfs storage holding a ~500 MB image made by `podman import`, a 1 MiB one,
// and a container created the compose way (project label) so the image list comes from the label.
import { randomFillSync } from 'node:crypto';
import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { freeBytes } from '../src/engines/free-space';
import { seededRandom } from './harness';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { storeBytes } from '../src/engines/logstore/candidates';

export const SPEC = {
  version: 1,
  sqliteRows: 150_000,
  rowBytes: 1000,
  volumes: [
    { name: 'uploads', files: 240, bytes: 900e6 },
    { name: 'media', files: 120, bytes: 400e6 },
  ],
  imageBytes: 500e6,
  smallImageBytes: 1 << 20,
};

export const PROJECT = 'benchpack';
export const BIG_REF = 'localhost/benchpack-app:1';
/** For the CPU figure: a save that takes no time of its own. */
export const SMALL_REF = 'localhost/benchpack-small:1';
const COMPOSE_LABEL = 'com.docker.compose.project';

export const SCRATCH = fileURLToPath(new URL('./.scratch/', import.meta.url));
const DIR = join(SCRATCH, `backup-v${SPEC.version}`);
const META = join(DIR, 'inputs.json');

/** Free space needed to build the inputs (~2.5 GB, the image's rootfs and tar on top while importing) and then run. */
export const BUILD_FREE_BYTES = 7 * 2 ** 30;
/** Free space needed to run on built inputs: a 2 GB pack, podman's staging of the layer, sqlite's local copies. */
export const RUN_FREE_BYTES = 4 * 2 ** 30;

export interface BackupInputs {
  dir: string;
  db: string;
  volumes: string[];
  /** The podman CLI on the bench's storage (vfs, no daemon). */
  podman: string[];
  imageId: string;
  sqliteBytes: number;
  volumeBytes: number;
  volumeFiles: number;
  imageBytes: number;
  /** 0 when reused. */
  buildMs: number;
}

const GiB = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;


/** `count` sizes, log-uniform from 1 KiB to 64 MiB, scaled so they add up to `total`. */
function sizes(count: number, total: number, seed: number): number[] {
  const r = seededRandom(seed);
  const raw = Array.from({ length: count }, () => Math.exp(Math.log(1024) + r.next().value! * Math.log(65536)));
  const scale = total / raw.reduce((a, b) => a + b, 0);
  return raw.map((s) => Math.max(1, Math.round(s * scale)));
}

/** A file of `bytes` random bytes, written in 4 MiB pieces. */
async function randomFile(path: string, bytes: number): Promise<void> {
  const buf = Buffer.alloc(4 << 20);
  const fh = await open(path, 'w');
  try {
    for (let at = 0; at < bytes; ) {
      const n = Math.min(buf.length, bytes - at);
      randomFillSync(buf, 0, n);
      await fh.write(buf, 0, n, at);
      at += n;
    }
  } finally {
    await fh.close();
  }
}

const podmanArgv = () => ['podman', '--storage-driver', 'vfs', '--root', join(DIR, 'podman', 'root'), '--runroot', join(DIR, 'podman', 'runroot')];
const podman = async (args: string[]) => (await execa(podmanArgv()[0]!, [...podmanArgv().slice(1), ...args], { env: { TMPDIR: join(DIR, 'podman') } })).stdout.trim();

/** Imports a rootfs holding one file of `bytes` random bytes as `ref`. */
async function importImage(ref: string, bytes: number): Promise<string> {
  const rootfs = join(DIR, 'podman', 'rootfs');
  await rm(rootfs, { recursive: true, force: true });
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await randomFile(join(rootfs, 'bin', 'app'), bytes);
  const tar = `${rootfs}.tar`;
  await execa('tar', ['-cf', tar, '-C', rootfs, '.']);
  await rm(rootfs, { recursive: true });
  const policy = join(DIR, 'podman', 'policy.json');
  await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  try {
    return await podman(['import', '--quiet', '--signature-policy', policy, tar, ref]);
  } finally {
    await rm(tar, { force: true });
  }
}

async function reuse(): Promise<BackupInputs | undefined> {
  try {
    const m = JSON.parse(await readFile(META, 'utf8')) as BackupInputs & { spec: typeof SPEC };
    if (JSON.stringify(m.spec) !== JSON.stringify(SPEC)) return undefined;
    if ((await stat(m.db)).size !== m.sqliteBytes) return undefined;
    let bytes = 0;
    for (const v of m.volumes) bytes += await storeBytes(v);
    if (bytes !== m.volumeBytes) return undefined;
    const id = await podman(['image', 'inspect', '--format', '{{.Id}}', BIG_REF]);
    if (!m.imageId.endsWith(id)) return undefined;
    await podman(['image', 'inspect', SMALL_REF]);
    return { ...m, podman: podmanArgv(), buildMs: 0 };
  } catch {
    return undefined;
  }
}

/** The inputs, reused or built; `{ skipped }` naming the numbers when the disk has too little room. */
export async function backupInputs(): Promise<BackupInputs | { skipped: string }> {
  await mkdir(SCRATCH, { recursive: true });
  const found = await reuse();
  const free = await freeBytes(SCRATCH);
  if (found) return free < RUN_FREE_BYTES ? { skipped: `needs ${GiB(RUN_FREE_BYTES)} free in ${SCRATCH} for the pack and the engine's staging, df shows ${GiB(free)}` } : found;
  await rm(DIR, { recursive: true, force: true });
  if (free < BUILD_FREE_BYTES) return { skipped: `needs ${GiB(BUILD_FREE_BYTES)} free in ${SCRATCH} to build the inputs and run, df shows ${GiB(free)}` };
  const started = performance.now();
  await mkdir(join(DIR, 'podman'), { recursive: true });

  const db = join(DIR, 'app.db');
  // Random rows with an indexed key: the backup copies every page, integrity_check walks table and index.
  await execa('sqlite3', [db, `PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v BLOB); CREATE INDEX t_k ON t(k);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ${SPEC.sqliteRows}) INSERT INTO t(k, v) SELECT hex(randomblob(8)), randomblob(${SPEC.rowBytes}) FROM n;
    PRAGMA wal_checkpoint(TRUNCATE);`]);

  const volumes: string[] = [];
  let volumeFiles = 0;
  for (const [i, v] of SPEC.volumes.entries()) {
    const dir = join(DIR, 'volumes', v.name);
    for (const [j, size] of sizes(v.files, v.bytes, 7 + i).entries()) {
      const sub = join(dir, `d${j % 8}`);
      await mkdir(sub, { recursive: true });
      await randomFile(join(sub, `f${j}.bin`), size);
      volumeFiles++;
    }
    volumes.push(dir);
  }
  let volumeBytes = 0;
  for (const v of volumes) volumeBytes += await storeBytes(v);

  const imageId = await importImage(BIG_REF, SPEC.imageBytes);
  await importImage(SMALL_REF, SPEC.smallImageBytes);
  await podman(['create', '--name', `${PROJECT}-app-1`, '--label', `${COMPOSE_LABEL}=${PROJECT}`, BIG_REF, '/bin/app']);
  const imageBytes = Number(await podman(['image', 'inspect', '--format', '{{.Size}}', BIG_REF]));

  const inputs: BackupInputs = { dir: DIR, db, volumes, podman: podmanArgv(), imageId, sqliteBytes: (await stat(db)).size, volumeBytes, volumeFiles, imageBytes, buildMs: 0 };
  await writeFile(META, JSON.stringify({ ...inputs, spec: SPEC }));
  return { ...inputs, buildMs: performance.now() - started };
}
