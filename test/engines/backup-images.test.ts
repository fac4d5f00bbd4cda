// The backup engine's image part on the real podman CLI (Debian's podman, vfs driver, every storage
// in its own temp --root/--runroot, no daemon): images built with `podman import` of a small rootfs,
// containers created with and without the compose project label, named the compose v2 way
// (`proj-api-1`) and the v1 way (`proj_worker_1`). Imports pass --signature-policy with a temp
// policy file so they do not depend on the host's; `load` reads /etc/containers/policy.json, which
// Debian ships with podman's own dependency golang-github-containers-common.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import {
  ContainerCliError, ContainerInputError, ImageArchiveExistsError, imageDetails, listProjectImages, loadAndCompare, saveImages, type ContainerCli,
} from '../../src/engines/backup/images';

const API = 'localhost/proj-api:1';
const WORKER = 'localhost/proj-worker:1';
const OTHER = 'localhost/other:1';
const LABEL = 'com.docker.compose.project';

let work: string;
let policy: string;
let labelled: ContainerCli;
let bare: ContainerCli;
let scratchCount = 0;

const storage = (name: string): ContainerCli => ({
  engine: 'podman',
  argv: ['podman', '--storage-driver', 'vfs', '--root', join(work, name, 'root'), '--runroot', join(work, name, 'runroot')],
});
const podman = (cli: ContainerCli, args: string[]) => execa(cli.argv[0]!, [...cli.argv.slice(1), ...args]);
/** A new empty folder under the work folder. */
async function scratch(): Promise<string> {
  const dir = join(work, `scratch-${++scratchCount}`);
  await mkdir(dir);
  return dir;
}

/** A storage holding the three images, and containers `[name, image, project label or none]`. */
async function makeStorage(name: string, containers: Array<[string, string, string?]>): Promise<ContainerCli> {
  const cli = storage(name);
  for (const [tar, ref] of [['api.tar', API], ['worker.tar', WORKER], ['other.tar', OTHER]] as const) {
    await podman(cli, ['import', '--quiet', '--signature-policy', policy, join(work, tar), ref]);
  }
  for (const [container, image, project] of containers) {
    await podman(cli, ['create', '--name', container, ...(project ? ['--label', `${LABEL}=${project}`] : []), image, '/nothing']);
  }
  return cli;
}

async function rootfsTar(name: string, files: Record<string, Buffer | string>): Promise<void> {
  const dir = join(work, `${name}-rootfs`);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  await execa('tar', ['-cf', join(work, `${name}.tar`), '-C', dir, '.']);
}

const sorted = (items: string[]) => [...items].sort();

describe('backup images (real podman, vfs storage in temp folders)', () => {
  before(async () => {
    const version = await execa('podman', ['--version'], { reject: false });
    if (version.exitCode !== 0) throw new Error(`podman is needed for these tests and is not usable here (${version.shortMessage}); install it: apt-get install podman`);
    work = await mkdtemp(join(tmpdir(), 'backup-images-'));
    policy = join(work, 'policy.json');
    await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    // 3 MiB of random bytes: an image whose archive is a few MB and does not compress.
    await rootfsTar('api', { 'bin/api': randomBytes(3 * 1024 * 1024), 'etc/hello': 'api\n' });
    await rootfsTar('worker', { 'bin/worker': randomBytes(64 * 1024), 'etc/hello': 'worker\n' });
    await rootfsTar('other', { 'etc/hello': 'other\n' });
    labelled = await makeStorage('labelled', [
      ['proj-api-1', API, 'proj'],
      ['proj_worker_1', WORKER, 'proj'],
      ['other-api-1', OTHER, 'other'],
      ['projector-1', OTHER],
    ]);
    bare = await makeStorage('bare', [
      ['proj-api-1', API],
      ['proj_worker_1', WORKER],
      ['projector-1', OTHER],
      ['other_proj_1', OTHER],
    ]);
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('compose config failing (a compose file that is not there): the label fallback finds the images, the attempts keep the compose error', async () => {
    const composeFile = join(work, 'missing', 'compose.yaml');
    const r = await listProjectImages(labelled, { project: 'proj', composeFile });
    assert.deepEqual(sorted(r.images), [WORKER, API].sort());
    assert.equal(r.source, 'label');
    assert.equal(r.attempts.length, 2);
    const [compose, label] = r.attempts;
    assert.equal(compose?.source, 'compose-config');
    assert.equal(compose?.count, 0);
    assert.ok(compose?.command?.endsWith(`compose -f ${composeFile} -p proj config --images`), compose?.command);
    assert.match(compose?.error ?? '', /compose .*config --images: exit \d+: ./, 'names the command, the exit code and podman’s words');
    assert.deepEqual({ ...label, command: undefined }, { source: 'label', count: 2, command: undefined });
    assert.match(label?.command ?? '', /ps -a --filter label=com\.docker\.compose\.project=proj --format json$/);
  });

  test('no compose labels: the name-prefix fallback takes both proj-… and proj_… (and not projector-1)', async () => {
    const r = await listProjectImages(bare, { project: 'proj' });
    assert.deepEqual(sorted(r.images), [WORKER, API].sort());
    assert.equal(r.source, 'name-prefix');
    assert.deepEqual(
      r.attempts.map(({ source, count, error }) => ({ source, count, failed: error !== undefined })),
      [
        { source: 'compose-config', count: 0, failed: true },
        { source: 'label', count: 0, failed: false },
        { source: 'name-prefix', count: 2, failed: false },
      ],
    );
  });

  test('nothing matches: an empty list with every attempt recorded; without a project name the fallbacks say why they matched nothing', async () => {
    const r = await listProjectImages(labelled, { project: 'nothing' });
    assert.deepEqual(r.images, []);
    assert.equal(r.source, 'none');
    assert.deepEqual(r.attempts.map((a) => [a.source, a.count]), [['compose-config', 0], ['label', 0], ['name-prefix', 0]]);
    assert.ok(r.attempts[0]?.error);

    const noName = await listProjectImages(labelled, { composeFile: join(work, 'compose.yaml') });
    assert.deepEqual(noName.images, []);
    assert.equal(noName.source, 'none');
    assert.deepEqual(noName.attempts.slice(1).map((a) => [a.source, a.error]), [
      ['label', 'no compose project name given to match containers by'],
      ['name-prefix', 'no compose project name given to match containers by'],
    ]);
    await assert.rejects(listProjectImages(labelled, {}), ContainerInputError);
  });

  test('imageDetails: the IDs podman gives (sha256: prefixed) and sizes; an unknown ref is an error naming the command, exit code and podman’s reason', async () => {
    const details = await imageDetails(labelled, [API, WORKER]);
    const id = async (ref: string) => `sha256:${(await podman(labelled, ['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim()}`;
    assert.deepEqual(details.map((d) => [d.ref, d.id]), [[API, await id(API)], [WORKER, await id(WORKER)]]);
    assert.ok(details[0]!.sizeBytes > 3 * 1024 * 1024, `${details[0]!.sizeBytes}`);
    assert.ok(details[1]!.sizeBytes > 64 * 1024 && details[1]!.sizeBytes < 1024 * 1024, `${details[1]!.sizeBytes}`);
    await assert.rejects(imageDetails(labelled, [API, 'localhost/nosuch:1']), (err: unknown) => {
      assert.ok(err instanceof ContainerCliError);
      assert.match(err.message, /^podman --storage-driver vfs .* image inspect -- localhost\/proj-api:1 localhost\/nosuch:1: exit 125: .*nosuch:1: image not known/);
      assert.equal(err.exitCode, 125);
      return true;
    });
  });

  test('a password in a remote engine URL never reaches an error message', async () => {
    const remote: ContainerCli = { engine: 'podman', argv: ['podman', '--url', 'ssh://root:hunter2@127.0.0.1:1/run/podman/podman.sock'] };
    await assert.rejects(imageDetails(remote, [API], { timeoutMs: 60_000 }), (err: unknown) => {
      assert.ok(err instanceof ContainerCliError, String(err));
      assert.ok(!err.message.includes('hunter2'), err.message);
      assert.match(err.message, /ssh:\/\/\*\*\*@127\.0\.0\.1:1/);
      return true;
    });
  });

  test('save, then load into a second separate storage: the same IDs; the sha256 is sha256sum’s; progress grows to the size; podman stages in our folder beside the archive', async (t) => {
    const dir = await scratch();
    const dest = join(dir, 'images.tar');
    const progress: number[] = [];
    let staged: string[] = [];
    const onProgress = (b: number) => {
      if (progress.push(b) === 1) staged = readdirSync(`${dest}.tmp`);
    };
    const saved = await saveImages(labelled, [API, WORKER], dest, { onProgress, progressBytes: 256 * 1024 });
    assert.ok(staged.some((n) => /^pipeDir\d+$/.test(n)) && staged.some((n) => /^\d+$/.test(n)), `podman's pipe and layer copy under TMPDIR=${dest}.tmp: ${staged}`);
    const size = (await stat(dest)).size;
    t.diagnostic(`save of 2 images: ${saved.bytes} bytes in ${saved.durationMs} ms`);
    assert.equal(saved.file, dest);
    assert.equal(saved.bytes, size);
    assert.equal(saved.sha256, (await execa('sha256sum', [dest])).stdout.split(' ')[0]);
    assert.ok(progress.length >= 5, `progress ${progress}`);
    assert.ok(progress.every((b, i) => i === 0 || b > progress[i - 1]!), `growing: ${progress}`);
    assert.equal(progress.at(-1), saved.bytes);
    assert.deepEqual(await readdir(dir), ['images.tar'], 'no .part or .tmp left');

    const expected = (await imageDetails(labelled, [API, WORKER])).map((d) => d.id);
    const restore = storage('restore');
    const cmp = await loadAndCompare(restore, dest, expected);
    assert.deepEqual({ ...cmp, loaded: sorted(cmp.loaded) }, { ok: true, loaded: sorted(expected), missing: [], unexpected: [] });
    const ids = (await podman(restore, ['images', '--no-trunc', '--format', '{{.ID}}'])).stdout.split('\n').filter(Boolean);
    assert.deepEqual(sorted(ids), sorted(expected), 'the restore storage holds exactly these images');
    assert.equal((await podman(restore, ['image', 'inspect', '--format', '{{.Id}}', WORKER])).stdout.trim(), expected[1]!.slice('sha256:'.length), 'each tag on its own image (podman save -m)');
  });

  test('a corrupted archive is reported, not thrown: a flipped byte in a layer, a broken tar header; an archive short of one image names the missing ID', async () => {
    const dir = await scratch();
    const good = join(dir, 'images.tar');
    await saveImages(labelled, [API, WORKER], good);
    const expected = (await imageDetails(labelled, [API, WORKER])).map((d) => d.id);
    const bytes = await readFile(good);
    for (const [name, offset] of [['layer', Math.floor(bytes.length / 2)], ['header', 100]] as const) {
      const bad = Buffer.from(bytes);
      for (let i = offset; i < offset + 16; i++) bad[i] = bad[i]! ^ 0xff;
      const file = join(dir, `${name}.tar`);
      await writeFile(file, bad);
      const cmp = await loadAndCompare(storage(`corrupt-${name}`), file, expected);
      assert.equal(cmp.ok, false, name);
      assert.deepEqual(cmp.missing, expected, name);
      assert.match(cmp.error ?? '', new RegExp(`load -i ${file}: exit 125: .*${name === 'layer' ? 'Digest did not match' : 'invalid tar header'}`), name);
    }

    const apiOnly = join(dir, 'api.tar');
    await saveImages(labelled, [API], apiOnly);
    const cmp = await loadAndCompare(storage('short'), apiOnly, expected);
    assert.deepEqual({ ok: cmp.ok, loaded: cmp.loaded, missing: cmp.missing }, { ok: false, loaded: [expected[0]], missing: [expected[1]] });
    assert.match(cmp.error ?? '', /did not load 1 of 2 expected images/);
  });

  test('save never overwrites an archive, and replaces what a killed attempt left beside it (.part, .tmp/)', async () => {
    const dir = await scratch();
    const dest = join(dir, 'images.tar');
    await writeFile(dest, 'an older archive');
    await assert.rejects(saveImages(labelled, [API], dest), (err: unknown) => err instanceof ImageArchiveExistsError && err.message === `${dest} exists: a backup never overwrites a file`);
    assert.equal(await readFile(dest, 'utf8'), 'an older archive');

    await rm(dest);
    await writeFile(`${dest}.part`, 'half an archive');
    await mkdir(`${dest}.tmp`);
    await writeFile(join(`${dest}.tmp`, '1234567'), 'a staged layer');
    const saved = await saveImages(labelled, [API], dest);
    assert.deepEqual(await readdir(dir), ['images.tar']);
    assert.equal(saved.sha256, (await execa('sha256sum', [dest])).stdout.split(' ')[0]);
  });

  test('abort during save: the child is killed and the partial removed; an aborted signal runs nothing', async () => {
    const dir = await scratch();
    const dest = join(dir, 'images.tar');
    const controller = new AbortController();
    let reports = 0;
    await assert.rejects(
      saveImages(labelled, [API, WORKER], dest, {
        signal: controller.signal,
        progressBytes: 256 * 1024,
        onProgress: () => {
          if (++reports === 1) controller.abort(new Error('operator cancelled'));
        },
      }),
      (err: unknown) => (err as Error).name === 'AbortError' && /operator cancelled/.test((err as Error).message),
    );
    assert.equal(reports, 1);
    assert.deepEqual(await readdir(dir), [], 'neither images.tar nor images.tar.part nor podman\'s staging (images.tar.tmp/)');
    const running = (await execa('ps', ['-eo', 'args'])).stdout.split('\n').filter((l) => l.includes(join(work, 'labelled')) && / save /.test(l));
    assert.deepEqual(running, [], 'no podman save left running');

    await assert.rejects(saveImages(labelled, [API], dest, { signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.deepEqual(await readdir(dir), []);
  });

  test('a ref or project starting with "-" is refused before podman runs', async () => {
    const dir = await scratch();
    const ran = join(dir, 'podman-ran');
    // The same podman behind a shell that leaves a mark each time it is started.
    const marked: ContainerCli = { engine: 'podman', argv: ['sh', '-c', 'echo x >> "$0"; exec podman "$@"', ran, ...labelled.argv.slice(1)] };
    assert.equal((await imageDetails(marked, [API]))[0]?.ref, API, 'the marked CLI works');
    await rm(ran);

    const dest = join(dir, 'images.tar');
    await assert.rejects(saveImages(marked, [API, '--output=/tmp/x'], dest), (err: unknown) => {
      assert.ok(err instanceof ContainerInputError);
      assert.equal(err.message, 'image ref "--output=/tmp/x": may not start with "-" (it would be read as an option)');
      return true;
    });
    await assert.rejects(imageDetails(marked, ['-q']), ContainerInputError);
    await assert.rejects(listProjectImages(marked, { project: '-p' }), /compose project name "-p": may not start with "-"/);
    await assert.rejects(saveImages(marked, [], dest), /no image refs given/);
    await assert.rejects(loadAndCompare(marked, dest, ['abc']), /image ID "abc": must be 64 hex digits/);
    assert.deepEqual(await readdir(dir), [], 'podman never ran, nothing written');
  });
});
