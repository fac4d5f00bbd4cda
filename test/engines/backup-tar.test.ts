// tarDirectory with the real GNU tar on real folders: a tree with a 200 MB file of real (non-zero,
// non-sparse) bytes, checked against sha256sum and `tar -tf`; a cancel mid-way; a file tar cannot
// read; a file that changes while tar reads it. Last, the same 1 GiB folder through tarDirectory and
// through `tar -cf - | sha256sum`, timed in the same run (figures only, no assertion).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, chmod, mkdir, mkdtemp, open, readdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { AbortError } from '../../src/engines/lfs/errors';
import { freeBytes } from '../../src/engines/free-space';
import { tarDirectory, TarError } from '../../src/engines/backup/volume-tar';

const repo = fileURLToPath(new URL('../..', import.meta.url));
let root: string;
/** A volume folder whose name tar would take for an option (and lose the files) if it were one. */
let volume: string;
const MiB = 2 ** 20;

/** `mib` MiB of real bytes: one random MiB repeated, written chunk by chunk (no holes). */
async function writeBig(path: string, mib: number): Promise<void> {
  const block = randomBytes(MiB);
  const fh = await open(path, 'wx');
  try {
    for (let i = 0; i < mib; i++) await fh.write(block, 0, MiB, i * MiB);
  } finally {
    await fh.close();
  }
}

const sha256sum = async (file: string) => (await execa('sha256sum', [file])).stdout.split(' ')[0];

before(async () => {
  root = await realpath(await mkdtemp(join(tmpdir(), 'backup-tar-')));
  volume = join(root, '--remove-files');
  await mkdir(join(volume, 'sub dir'), { recursive: true });
  await writeFile(join(volume, 'a.txt'), 'hello\n');
  await writeFile(join(volume, 'sub dir', '-v'), randomBytes(10_000));
  await writeBig(join(volume, 'big.bin'), 200);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('tarDirectory', () => {
  test('a tree with a 200 MB file: sha256 and size are the archive\'s, tar lists every entry, the folder is untouched', async () => {
    const dest = join(root, 'volume.tar');
    const progress: number[] = [];
    const r = await tarDirectory(volume, dest, { onProgress: (b) => progress.push(b) });
    assert.equal(r.sha256, await sha256sum(dest));
    assert.equal(r.bytes, (await stat(dest)).size);
    assert.ok(r.bytes > 200 * MiB && r.durationMs > 0);
    const listed = (await execa('tar', ['-tf', dest])).stdout.split('\n').sort();
    assert.deepEqual(listed, ['--remove-files/', '--remove-files/a.txt', '--remove-files/big.bin', '--remove-files/sub dir/', '--remove-files/sub dir/-v']);
    assert.deepEqual((await readdir(volume)).sort(), ['a.txt', 'big.bin', 'sub dir'], 'the name was never taken for --remove-files');
    assert.deepEqual(progress, [64, 128, 192].map((m) => progress.find((b) => b >= m * MiB && b < (m + 64) * MiB)), `a report per 64 MiB: ${progress}`);
    const out = join(root, 'extracted');
    await mkdir(out);
    await execa('tar', ['-xf', dest, '-C', out]);
    assert.equal(await sha256sum(join(out, '--remove-files', 'big.bin')), await sha256sum(join(volume, 'big.bin')));
    await rm(out, { recursive: true });
    await rm(dest);
  });

  test('an abort mid-way kills tar and removes the partial archive', async () => {
    const dest = join(root, 'aborted.tar');
    const controller = new AbortController();
    const err = await tarDirectory(volume, dest, { signal: controller.signal, onProgress: () => controller.abort(new Error('operator cancelled')) }).catch((e: Error) => e);
    assert.ok(err instanceof AbortError, String(err));
    assert.match(err.message, new RegExp(`^tar of ${volume}: aborted \\(operator cancelled\\)$`));
    await assert.rejects(stat(dest), { code: 'ENOENT' });
    assert.equal((await execa('pgrep', ['-f', `directory=${root}`], { reject: false })).exitCode, 1, 'no tar left running');
  });

  test('an existing archive is refused and kept', async () => {
    const dest = join(root, 'exists.tar');
    await writeFile(dest, 'keep me');
    await assert.rejects(tarDirectory(volume, dest), { name: 'BackupRefusedError', message: `${dest} exists: a backup never overwrites a file` });
    assert.equal(await readFile(dest, 'utf8'), 'keep me');
  });

  test('a missing folder, or a file instead of one, is named', async () => {
    await assert.rejects(tarDirectory(join(root, 'nope'), join(root, 'x.tar')), { name: 'TarError', message: new RegExp(`^tar of ${root}/nope: cannot read it: ENOENT`) });
    await assert.rejects(tarDirectory(join(volume, 'a.txt'), join(root, 'x.tar')), { name: 'TarError', message: `tar of ${volume}/a.txt: not a folder` });
    await assert.rejects(stat(join(root, 'x.tar')), { code: 'ENOENT' });
  });

  test('a file tar cannot read: TarError naming the folder with tar\'s words, no archive left', async () => {
    const dir = join(root, 'locked');
    await mkdir(dir);
    await writeFile(join(dir, 'secret'), 'x');
    await chmod(join(dir, 'secret'), 0o000);
    const dest = join(root, 'locked.tar');
    let message: string;
    if (process.getuid?.() === 0) {
      // Root reads any file: run the call in a node whose root has lost CAP_DAC_OVERRIDE/READ_SEARCH.
      const drop = '-dac_override,-dac_read_search';
      const code = `import { tarDirectory } from ${JSON.stringify(join(repo, 'src/engines/backup/volume-tar.ts'))};
        tarDirectory(${JSON.stringify(dir)}, ${JSON.stringify(dest)}).then(() => console.log('no error'), (e) => console.log(e.name + ': ' + e.message));`;
      const r = await execa('setpriv', [`--inh-caps=${drop}`, `--bounding-set=${drop}`, process.execPath, '--import', 'tsx', '--input-type=module', '-e', code], { cwd: repo });
      message = r.stdout.trim();
    } else {
      message = await tarDirectory(dir, dest).then(() => 'no error', (e: Error) => `${e.name}: ${e.message}`);
    }
    assert.equal(message, `TarError: tar of ${dir}: tar exited 2: tar: locked/secret: Cannot open: Permission denied | tar: Exiting with failure status due to previous errors`);
    await assert.rejects(stat(dest), { code: 'ENOENT' });
  });

  test('a file written to while tar reads it ("file changed as we read it", exit 1) is a failure, not a warning', async () => {
    const dir = join(root, 'busy');
    await mkdir(dir);
    const file = join(dir, 'growing.log');
    await writeBig(file, 128);
    let writing = true;
    const writer = (async () => {
      while (writing) await appendFile(file, 'another line\n');
    })();
    const dest = join(root, 'busy.tar');
    const err = await tarDirectory(dir, dest).catch((e: Error) => e);
    writing = false;
    await writer;
    assert.ok(err instanceof TarError, String(err));
    assert.equal(err.exitCode, 1);
    assert.match(err.message, new RegExp(`^tar of ${dir}: tar exited 1: tar: busy/growing.log: file changed as we read it`));
    await assert.rejects(stat(dest), { code: 'ENOENT' });
  });

  test('1 GiB: tarDirectory against tar -cf - | sha256sum in the same run (figures, not a benchmark)', { timeout: 600_000 }, async (t) => {
    if ((await freeBytes(root)) < 4 * 2 ** 30) return t.skip('less than 4 GiB free');
    const dir = join(root, 'gig');
    await mkdir(dir);
    for (let i = 0; i < 4; i++) await writeBig(join(dir, `part-${i}.bin`), 256);
    const ours: number[] = [];
    const theirs: number[] = [];
    const teeSync: number[] = [];
    for (let round = 0; round < 2; round++) {
      const dest = join(root, `gig-${round}.tar`);
      const r = await tarDirectory(dir, dest);
      ours.push(r.durationMs);
      let t0 = performance.now();
      const piped = await execa('bash', ['-c', 'set -o pipefail; tar -cf - -C "$1" gig | sha256sum', 'bash', root]);
      theirs.push(Math.round(performance.now() - t0));
      assert.equal(piped.stdout.split(' ')[0], r.sha256, 'the same bytes');
      await rm(dest);
      // What the shell needs to do the same job: write the archive and make it durable too.
      t0 = performance.now();
      await execa('bash', ['-c', 'set -o pipefail; tar -cf - -C "$1" gig | tee "$2" | sha256sum >/dev/null && sync "$2"', 'bash', root, dest]);
      teeSync.push(Math.round(performance.now() - t0));
      await rm(dest);
    }
    const line = `1 GiB: tarDirectory ${ours.join(', ')} ms; tar | sha256sum ${theirs.join(', ')} ms; tar | tee file | sha256sum + sync ${teeSync.join(', ')} ms`;
    t.diagnostic(line);
    console.log(line);
    await rm(dir, { recursive: true });
  });
});
