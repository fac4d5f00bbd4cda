// The backup's prechecks against this machine's real mount table (/proc/self/mounts) and statfs,
// cross-checked with util-linux's findmnt and coreutils' df. As root, real tmpfs mounts stand in for
// a share: one at a path with a space (the kernel writes it `\040`), one read-only, one of 1 MiB.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { BackupRefusedError, freeBytes, mountOf, parseMounts, requireMountType, requireSpace, writeProbe } from '../../src/engines/backup/precheck';

let root: string;
const mounted: string[] = [];

/** findmnt's answer for the mount holding `path`: util-linux's own walk, to compare ours with. */
async function findmnt(path: string): Promise<{ target: string; fsType: string }> {
  const { stdout } = await execa('findmnt', ['--noheadings', '--raw', '--output', 'TARGET,FSTYPE', '--target', path]);
  const [target = '', fsType = ''] = stdout.trim().split(' ');
  return { target: target.replace(/\\x([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), fsType };
}

/** A tmpfs mounted at `dir` (made here), or why not: only root may mount. */
async function mountTmpfs(dir: string, options: string): Promise<string | undefined> {
  await mkdir(dir, { recursive: true });
  const r = await execa('mount', ['-t', 'tmpfs', '-o', options, 'runbook-test', dir], { reject: false });
  if (r.exitCode !== 0) return `cannot mount a tmpfs here: ${r.stderr || r.shortMessage}`;
  mounted.push(dir);
  return undefined;
}

before(async () => {
  root = await realpath(await mkdtemp(join(tmpdir(), 'backup-precheck-')));
});
after(async () => {
  for (const dir of mounted.reverse()) await execa('umount', [dir], { reject: false });
  await rm(root, { recursive: true, force: true });
});

describe('mountOf', () => {
  test('/proc is the proc mount; / and a temp folder are what findmnt says', async () => {
    const proc = await mountOf('/proc');
    assert.deepEqual([proc.mountPoint, proc.fsType, proc.source], ['/proc', 'proc', 'proc']);
    for (const path of ['/', root, join(root, 'not', 'made', 'yet')]) {
      const ours = await mountOf(path);
      const theirs = await findmnt(path === root || path === '/' ? path : root);
      assert.deepEqual([ours.mountPoint, ours.fsType], [theirs.target, theirs.fsType], path);
      assert.ok(ours.options.length > 0 && ours.options.every((o) => o && !o.includes(',')));
    }
  });

  test('symlinks are resolved first: a link to /proc is on proc, whatever folder the link is in', async () => {
    const link = join(root, 'to proc');
    await symlink('/proc', link);
    const m = await mountOf(join(link, 'sys'));
    assert.deepEqual([m.mountPoint, m.fsType, m.path], ['/proc', 'proc', '/proc/sys']);
  });

  test("the kernel's octal escapes are decoded (space, tab, newline, backslash)", () => {
    const [m] = parseMounts('//nas/back\\040ups /mnt/my\\040share\\011x\\012y\\134z cifs rw,vers=3.1.1,addr=10.0.0.5 0 0\n');
    assert.deepEqual(m, { source: '//nas/back ups', mountPoint: '/mnt/my share\tx\ny\\z', fsType: 'cifs', options: ['rw', 'vers=3.1.1', 'addr=10.0.0.5'] });
  });
});

describe('requireMountType', () => {
  test('a plain folder asked to be cifs is refused, naming the folder, its mount and the type wanted (the unmounted share)', async () => {
    const share = join(root, 'replica');
    await mkdir(share);
    const { mountPoint, fsType } = await mountOf(share);
    const err = await requireMountType(share, 'cifs').catch((e: Error) => e);
    assert.ok(err instanceof BackupRefusedError);
    assert.equal(err.name, 'BackupRefusedError');
    assert.equal(err.message, `${share} is on ${mountPoint} (${fsType}), not a cifs mount: is the share mounted?`);
    assert.equal((await requireMountType(share, fsType)).mountPoint, mountPoint);
  });

  test('a real mount at a path with a space: found, decoded, and accepted or refused by its type', async (t) => {
    const share = join(root, 'mnt', 'my share');
    const why = await mountTmpfs(share, 'size=1m');
    if (why) return t.skip(why);
    const m = await mountOf(join(share, 'pack folder not made yet'));
    assert.deepEqual([m.mountPoint, m.fsType, m.source], [share, 'tmpfs', 'runbook-test']);
    assert.deepEqual(await findmnt(share), { target: share, fsType: 'tmpfs' });
    assert.equal((await requireMountType(share, 'tmpfs')).mountPoint, share);
    await assert.rejects(requireMountType(share, 'cifs'), { name: 'BackupRefusedError', message: `${share} is on ${share} (tmpfs), not a cifs mount: is the share mounted?` });
    // The folder under it is on the root filesystem again once it is unmounted: the seed's case.
    await execa('umount', [share]);
    mounted.pop();
    const under = await mountOf(share);
    assert.notEqual(under.mountPoint, share);
    await assert.rejects(requireMountType(share, 'tmpfs'), { message: `${share} is on ${under.mountPoint} (${under.fsType}), not a tmpfs mount: is the share mounted?` });
  });
});

describe('writeProbe', () => {
  test('a writable folder takes the probe and keeps nothing of it', async () => {
    const dir = join(root, 'probe-ok');
    await mkdir(dir);
    await writeProbe(dir);
    assert.deepEqual(await readdir(dir), []);
  });

  test('a missing folder is refused naming it and the errno', async () => {
    await assert.rejects(writeProbe(join(root, 'nope')), { name: 'BackupRefusedError', message: new RegExp(`^${root}/nope is not writable: ENOENT: no such file or directory`) });
  });

  test('a read-only mount is refused with EROFS', async (t) => {
    const dir = join(root, 'ro');
    const why = await mountTmpfs(dir, 'ro,size=1m');
    if (why) return t.skip(why);
    await assert.rejects(writeProbe(dir), { name: 'BackupRefusedError', message: new RegExp(`^${dir} is not writable: EROFS: read-only file system`) });
  });
});

describe('free space', () => {
  test('freeBytes is df\'s "Avail" (statfs bavail × bsize), for a folder not made yet too', async (t) => {
    const dir = join(root, 'small');
    const why = await mountTmpfs(dir, 'size=1m');
    if (why) return t.skip(why);
    const df = Number((await execa('df', ['-B1', '--output=avail', dir])).stdout.split('\n')[1]);
    assert.equal(await freeBytes(join(dir, 'a', 'b')), df);
    assert.equal(df, 1024 * 1024);
  });

  test('an estimate × margin above what statfs reports is refused with the numbers', async () => {
    const free = await freeBytes(root);
    const estimate = free + 10 * 2 ** 30;
    const err = await requireSpace(join(root, 'pack'), estimate, 1.2).catch((e: Error) => e);
    assert.ok(err instanceof BackupRefusedError, String(err));
    const m = err.message.match(/^(.+) needs (\S+ \w+) \(estimate (\S+ \w+) × 1\.2\), (\S+ \w+) free on (\S+) \((\d+) > (\d+) bytes\)$/);
    assert.ok(m, err.message);
    assert.equal(m[1], join(root, 'pack'));
    assert.equal(m[5], (await mountOf(root)).mountPoint);
    assert.equal(Number(m[6]), Math.ceil(estimate * 1.2));
    assert.ok(Math.abs(Number(m[7]) - free) < 2 ** 30, 'the free bytes are statfs\'s (give or take what others wrote meanwhile)');
  });

  test('within the free space it passes, saying what it needed; a margin below 1 is bad input', async () => {
    const { needed, free } = await requireSpace(root, 1000, 1.5);
    assert.equal(needed, 1500);
    assert.ok(free >= needed);
    await assert.rejects(requireSpace(root, 1000, 0.5), { name: 'RangeError', message: 'margin 0.5: must be a number ≥ 1' });
    await assert.rejects(requireSpace(root, Number.NaN, 1.2), { name: 'RangeError', message: 'estimate NaN: must be a number of bytes ≥ 0' });
  });

  test('on a 1 MiB mount, 1 MiB × 1.2 is refused in exact numbers', async (t) => {
    const dir = join(root, 'tiny');
    const why = await mountTmpfs(dir, 'size=1m');
    if (why) return t.skip(why);
    await assert.rejects(requireSpace(dir, 2 ** 20, 1.2), { name: 'BackupRefusedError', message: `${dir} needs 1.2 MiB (estimate 1.0 MiB × 1.2), 1.0 MiB free on ${dir} (1258292 > 1048576 bytes)` });
  });
});
