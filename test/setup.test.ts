// scripts/setup.cjs, the set-up behind `npm start` and `npm test`, as a person on a fresh machine
// meets it: missing Debian packages and no right to install them stop it before the command runs,
// with exit 2 and the exact command to type.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';

const root = fileURLToPath(new URL('..', import.meta.url));
const isRoot = process.getuid?.() === 0;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'setup-'));
  // Writable for `nobody` too, so a marker's absence means the command did not run, not that it could not write.
  await chmod(dir, 0o777);
  // A copy of the script where `nobody` can read it: the checkout itself may sit in a folder only
  // its owner can enter (mktemp -d makes them 0700). The package check runs before it reads anything else.
  await mkdir(join(dir, 'checkout', 'scripts'), { recursive: true, mode: 0o755 });
  await chmod(join(dir, 'checkout'), 0o755);
  await copyFile(join(root, 'scripts/setup.cjs'), join(dir, 'checkout', 'scripts', 'setup.cjs'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A PATH holding only the named programs, so the packages the script looks for are absent. */
async function pathWith(name: string, programs: string[]): Promise<string> {
  const bin = join(dir, name);
  await mkdir(bin);
  for (const program of programs) await symlink(`/usr/bin/${program}`, join(bin, program));
  return bin;
}

/**
 * `npm <script>`'s set-up, ending in a command that leaves a marker file. As root it runs as
 * `nobody`, the user who may not install packages.
 */
async function setup(script: string, env: Record<string, string>, marker: string) {
  const argv = [process.execPath, join(dir, 'checkout', 'scripts', 'setup.cjs'), process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran')`];
  const [file, ...args] = isRoot ? ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...argv] : argv;
  return execa(file!, args, {
    cwd: join(dir, 'checkout'),
    reject: false,
    extendEnv: false,
    env: { HOME: dir, npm_lifecycle_event: script, TEMPORAL_CLI: process.env.TEMPORAL_CLI ?? '', ...env },
  });
}

describe('set-up of system packages', () => {
  test('npm test without git-lfs, podman, chromium, openssh-client, etcd and sqlite3, not root: exit 2 with the apt-get command, the tests never start', async () => {
    const marker = join(dir, 'test-ran');
    const r = await setup('test', { PATH: await pathWith('apt-only', ['apt-get', 'git']) }, marker);
    assert.equal(r.exitCode, 2, r.stderr || r.message);
    assert.match(r.stderr, /npm test needs packages that are not installed: git-lfs, podman, chromium, openssh-client, etcd-server, etcd-client, sqlite3\. Install them, then run npm test again:$/m);
    assert.match(r.stderr, /^ {2}sudo apt-get update && sudo apt-get install -y --no-install-recommends git-lfs podman chromium openssh-client etcd-server etcd-client sqlite3$/m);
    assert.equal(existsSync(marker), false, 'the command after set-up did not run');
  });

  test('npm start needs fewer: no podman, chromium or ssh-keygen', async () => {
    const marker = join(dir, 'start-ran');
    const r = await setup('start', { PATH: await pathWith('start', ['apt-get', 'git']) }, marker);
    assert.equal(r.exitCode, 2, r.stderr || r.message);
    assert.match(r.stderr, /npm start needs packages that are not installed: git-lfs, etcd-server, etcd-client, sqlite3\./);
    assert.match(r.stderr, /sudo apt-get install -y --no-install-recommends git-lfs etcd-server etcd-client sqlite3$/m);
    assert.equal(existsSync(marker), false);
  });

  test('no apt-get: exit 2 naming the packages to install with another package manager', async () => {
    const marker = join(dir, 'noapt-ran');
    const r = await setup('test', { PATH: await pathWith('no-apt', ['git']) }, marker);
    assert.equal(r.exitCode, 2, r.stderr || r.message);
    assert.match(r.stderr, /npm test needs packages that are not installed: git-lfs, podman, chromium, openssh-client, etcd-server, etcd-client, sqlite3; apt-get is not available to install them/);
    assert.equal(existsSync(marker), false);
  });

  test('everything present (this machine, set up by npm test): the command runs, told where chromium is', async () => {
    const marker = join(dir, 'all-ran');
    const r = await execa(process.execPath, [join(root, 'scripts/setup.cjs'), process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, process.env.CHROMIUM_PATH)`], {
      cwd: root,
      reject: false,
      env: { npm_lifecycle_event: 'test' },
    });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /installing Debian packages/);
    assert.match(await readFile(marker, 'utf8'), /\/chromium$/);
  });

  test('storectl: built into .tools/bin beside a stamp of its sources, reused while they are unchanged, handed to the command as STORECTL', async () => {
    const marker = join(dir, 'storectl-ran');
    const stamp = join(root, '.tools/bin/storectl.stamp');
    const built = existsSync(stamp);
    const r = await execa(process.execPath, [join(root, 'scripts/setup.cjs'), process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, process.env.STORECTL)`], {
      cwd: root,
      reject: false,
      env: { npm_lifecycle_event: 'test', STORECTL: '' },
    });
    assert.equal(r.exitCode, 0, r.stderr);
    if (built) assert.doesNotMatch(r.stderr, /building storectl/, 'sources unchanged: no rebuild');
    assert.equal(await readFile(marker, 'utf8'), join(root, '.tools/bin/storectl'));
    assert.match(await readFile(stamp, 'utf8'), /^[0-9a-f]{64}\n$/);
  });

  test('bbolt: the pinned v1.4.3 CLI built into .tools/bin, reused while `bbolt version` says so, handed to the command as BBOLT_CLI; a BBOLT_CLI that does not run stops it with exit 2', async () => {
    const marker = join(dir, 'bbolt-ran');
    const binary = join(root, '.tools/bin/bbolt');
    const pinned = existsSync(binary) && /^bbolt Version: 1\.4\.3$/m.test((await execa(binary, ['version'], { reject: false })).stdout);
    const run = (bbolt: string, out: string) =>
      execa(process.execPath, [join(root, 'scripts/setup.cjs'), process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(out)}, process.env.BBOLT_CLI)`], {
        cwd: root,
        reject: false,
        env: { npm_lifecycle_event: 'test', BBOLT_CLI: bbolt },
      });
    const r = await run('', marker);
    assert.equal(r.exitCode, 0, r.stderr);
    if (pinned) assert.doesNotMatch(r.stderr, /building the bbolt CLI/, 'already v1.4.3: no rebuild');
    assert.equal(await readFile(marker, 'utf8'), binary);
    assert.match((await execa(binary, ['version'])).stdout, /^bbolt Version: 1\.4\.3$/m);

    const other = join(dir, 'bbolt-other-ran');
    const bad = await run(join(dir, 'no-such-bbolt'), other);
    assert.equal(bad.exitCode, 2, bad.stderr);
    assert.match(bad.stderr, /^setup: BBOLT_CLI=.*no-such-bbolt does not run$/m);
    assert.equal(existsSync(other), false, 'the command did not run');
  });

  test('cluster tools: npm test never builds or names them; test:cluster gets the server, schema tool and UI server at the pinned versions, PostgreSQL and the server module\'s schema', async (t) => {
    const names = ['TEMPORAL_SERVER_BIN', 'TEMPORAL_SQL_TOOL', 'TEMPORAL_UI_SERVER', 'TEMPORAL_SERVER_SOURCE', 'TEMPORAL_UI_SOURCE', 'POSTGRES_BIN_DIR'];
    const run = (script: string, out: string) =>
      execa(process.execPath, [join(root, 'scripts/setup.cjs'), process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(Object.fromEntries(${JSON.stringify(names)}.map((k) => [k, process.env[k]]))))`], {
        cwd: root,
        reject: false,
        env: { npm_lifecycle_event: script, ...Object.fromEntries(names.map((k) => [k, ''])) },
      });
    const plain = join(dir, 'cluster-test-ran');
    const r = await run('test', plain);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /building the Temporal (server|SQL|Web UI)/);
    assert.deepEqual(Object.values(JSON.parse(await readFile(plain, 'utf8'))).filter(Boolean), [], 'npm test gets none of them');

    const version = async (binary: string) => (existsSync(binary) ? (await execa(binary, ['--version'], { reject: false })).stdout : '');
    const built = /version 1\.30\.1$/.test(await version(join(root, '.tools/bin/temporal-server'))) && /version 1\.30\.1$/.test(await version(join(root, '.tools/bin/temporal-sql-tool')))
      && /version 2\.42\.1$/.test(await version(join(root, '.tools/bin/temporal-ui-server'))) && existsSync('/usr/lib/postgresql');
    // npm test must not pay for the cluster's build: only a machine that already ran test:cluster checks the rest.
    if (!built) return t.skip('the cluster tools are not built here (npm run test:cluster builds them)');
    const marker = join(dir, 'cluster-ran');
    const c = await run('test:cluster', marker);
    assert.equal(c.exitCode, 0, c.stderr);
    assert.doesNotMatch(c.stderr, /building the Temporal (server|SQL|Web UI)/, 'pinned versions present: no rebuild');
    const env = JSON.parse(await readFile(marker, 'utf8')) as Record<string, string>;
    assert.equal(env.TEMPORAL_SERVER_BIN, join(root, '.tools/bin/temporal-server'));
    assert.equal(env.TEMPORAL_SQL_TOOL, join(root, '.tools/bin/temporal-sql-tool'));
    assert.equal(env.TEMPORAL_UI_SERVER, join(root, '.tools/bin/temporal-ui-server'));
    assert.ok(existsSync(join(env.TEMPORAL_SERVER_SOURCE!, 'schema/postgresql/v12/temporal/versioned')), env.TEMPORAL_SERVER_SOURCE);
    assert.ok(existsSync(join(env.TEMPORAL_UI_SOURCE!, 'config/docker.yaml')), env.TEMPORAL_UI_SOURCE);
    assert.ok(existsSync(join(env.POSTGRES_BIN_DIR!, 'initdb')), env.POSTGRES_BIN_DIR);
  });
});
