// The systemd adapter through a fake systemctl (systemd is not PID 1 here) and the container
// adapter on the real podman CLI: names passed after `--`, option-like names refused.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { probe } from '../../src/activities/http-checks';
import { serviceControl } from '../../src/activities/services/index';
import { containerService, systemdService } from '../../src/workflows/inputs';
import { get } from '../helpers/service';
import { inActivity, failure, defined, commandRecord } from './adapter-helpers';

describe('systemd adapter (fake systemctl: systemd is not PID 1 here; adapter calls run in MockActivityEnvironment)', () => {
  let dir: string;
  const savedPath = process.env.PATH;

  // Unit state lives in units/<unit> ("active" or "inactive"; no file: unknown unit). A file
  // fail-<verb>-<unit> makes that verb print the file to stderr and exit 1. Every call is logged.
  // It takes exactly `<verb> [--property=…] -- <unit>`: a unit not after `--` is an error.
  const fakeSystemctl = (state: string) => `#!/bin/sh
DIR='${state}'
echo "$*" >> "$DIR/calls.log"
verb=$1
shift
props=
while [ $# -gt 0 ]; do
  case "$1" in
    --property=*) props=\${1#--property=}; shift ;;
    --) shift; break ;;
    *) echo "fake systemctl: unit not after --: $*" >&2; exit 2 ;;
  esac
done
if [ $# -ne 1 ]; then echo "fake systemctl: want one unit after --" >&2; exit 2; fi
unit=$1
state_file="$DIR/units/$unit"
case "$verb" in
  show)
    if [ -f "$state_file" ]; then load=loaded; active=$(cat "$state_file"); else load=not-found; active=inactive; fi
    if [ "$active" = active ]; then sub=running; pid=1234; else sub=dead; pid=0; fi
    for prop in $(echo "$props" | tr ',' ' '); do
      case "$prop" in
        LoadState) echo "LoadState=$load" ;;
        ActiveState) echo "ActiveState=$active" ;;
        SubState) echo "SubState=$sub" ;;
        MainPID) echo "MainPID=$pid" ;;
      esac
    done
    ;;
  start|stop)
    if [ -f "$DIR/fail-$verb-$unit" ]; then cat "$DIR/fail-$verb-$unit" >&2; exit 1; fi
    if [ ! -f "$state_file" ]; then echo "Failed to $verb $unit: Unit $unit not found." >&2; exit 5; fi
    if [ "$verb" = start ]; then echo active > "$state_file"; else echo inactive > "$state_file"; fi
    ;;
  *)
    echo "fake systemctl: unsupported: $*" >&2
    exit 2
    ;;
esac
`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'svc-systemd-'));
    await mkdir(join(dir, 'bin'));
    await mkdir(join(dir, 'units'));
    await writeFile(join(dir, 'calls.log'), '');
    await writeFile(join(dir, 'bin', 'systemctl'), fakeSystemctl(dir));
    await chmod(join(dir, 'bin', 'systemctl'), 0o755);
    process.env.PATH = `${join(dir, 'bin')}:${savedPath}`;
  });
  after(async () => {
    process.env.PATH = savedPath;
    await rm(dir, { recursive: true, force: true });
  });

  const unit = async (name: string, state?: 'active' | 'inactive') => {
    if (state) await writeFile(join(dir, 'units', name), `${state}\n`);
    return serviceControl(systemdService.parse({ adapter: 'systemd', name }));
  };
  /** The systemctl verbs run for `name` (always right after `--`), in order. */
  const calls = async (name: string) =>
    (await readFile(join(dir, 'calls.log'), 'utf8'))
      .split('\n')
      .map((line) => line.split(' '))
      .filter((words) => words.at(-1) === name && words.at(-2) === '--')
      .map((words) => words[0]);

  test('the fake systemctl is the one the adapter runs', async () => {
    await unit('probe.service', 'inactive');
    await inActivity(() => serviceControl(systemdService.parse({ adapter: 'systemd', name: 'probe.service' })).status());
    assert.deepEqual(await calls('probe.service'), ['show']);
  });

  test('status maps active/inactive and the main pid', async () => {
    const active = await unit('web.service', 'active');
    assert.deepEqual(await inActivity(() => active.status()), { running: true, pid: 1234, detail: 'active/running' });
    const inactive = await unit('batch.service', 'inactive');
    assert.deepEqual(defined(await inActivity(() => inactive.status())), { running: false, detail: 'inactive/dead' });
  });

  test('stop on an active unit runs `systemctl stop <unit>` once and records it', async () => {
    const control = await unit('db.service', 'active');
    const result = await inActivity(() => control.stop());
    assert.equal(result.already, false);
    assert.equal(result.pid, undefined, 'no main pid once stopped');
    assert.equal(result.commands.length, 1);
    assert.deepEqual(result.commands[0]!.command, ['systemctl', 'stop', '--', 'db.service']);
    assert.equal(result.commands[0]!.exitCode, 0);
    assert.deepEqual((await calls('db.service')).filter((verb) => verb !== 'show'), ['stop']);
    assert.equal((await readFile(join(dir, 'units', 'db.service'), 'utf8')).trim(), 'inactive');
  });

  test('stop on an inactive unit runs no stop command', async () => {
    const control = await unit('idle.service', 'inactive');
    assert.deepEqual(defined(await inActivity(() => control.stop())), { already: true, commands: [] });
    assert.deepEqual(await calls('idle.service'), ['show']);
  });

  test('start on an inactive unit runs `systemctl start <unit>` once and reports the new pid', async () => {
    const control = await unit('cache.service', 'inactive');
    const result = await inActivity(() => control.start());
    assert.equal(result.already, false);
    assert.equal(result.pid, 1234);
    assert.deepEqual(result.commands.map((c) => [c.command, c.exitCode]), [[['systemctl', 'start', '--', 'cache.service'], 0]]);
    assert.deepEqual((await calls('cache.service')).filter((verb) => verb !== 'show'), ['start']);
  });

  test('start on an active unit runs no start command', async () => {
    const control = await unit('up.service', 'active');
    assert.deepEqual(await inActivity(() => control.start()), { already: true, pid: 1234, commands: [] });
    assert.deepEqual(await calls('up.service'), ['show']);
  });

  test('an unknown unit is InvalidInput naming the unit, and nothing is stopped', async () => {
    const control = await unit('nosuch.service');
    await assert.rejects(inActivity(() => control.status()), failure('InvalidInput', 'nosuch.service'));
    await assert.rejects(inActivity(() => control.stop()), failure('InvalidInput', 'nosuch.service'));
    assert.deepEqual(await calls('nosuch.service'), ['show', 'show']);
  });

  test('a start that fails carries systemctl’s stderr in the error', async () => {
    const control = await unit('broken.service', 'inactive');
    const reason = 'Job for broken.service failed because the control process exited with error code.';
    await writeFile(join(dir, 'fail-start-broken.service'), `${reason}\n`);
    await assert.rejects(inActivity(() => control.start()), (err) => {
      failure('NotYet', 'broken.service', reason)(err);
      assert.equal(commandRecord(err).exitCode, 1);
      return true;
    });
  });

  test('a unit name starting with "-" is refused before systemctl runs (InvalidInput), whatever the schema let through', async () => {
    const name = '--no-block.service';
    assert.equal(systemdService.safeParse({ adapter: 'systemd', name }).success, false, 'the schema refuses it first');
    const control = serviceControl({ adapter: 'systemd', name, stopTimeoutSeconds: 90 });
    for (const method of ['status', 'stop', 'start'] as const) {
      await assert.rejects(inActivity<unknown>(() => control[method]()), failure('InvalidInput', name, 'start with "-"'));
    }
    assert.doesNotMatch(await readFile(join(dir, 'calls.log'), 'utf8'), /no-block/);
  });

  test('the real systemctl parses `show --property=… -- <unit>` and `stop -- <unit>` (argv only: no systemd to answer)', { skip: !existsSync('/usr/bin/systemctl') }, () => {
    const run = (...args: string[]) => spawnSync('/usr/bin/systemctl', args, { encoding: 'utf8' }).stderr;
    assert.match(run('--bogus', 'show', 'x.service'), /unrecognized option/, 'a bad option is reported as such');
    for (const args of [['show', '--property=LoadState,ActiveState,SubState,MainPID', '--', 'x.service'], ['stop', '--', 'x.service'], ['start', '--', 'x.service']]) {
      assert.doesNotMatch(run(...args), /unrecognized option|invalid option|Unknown command/i, args.join(' '));
    }
  });
});

describe('container adapter (real podman CLI; adapter calls run in MockActivityEnvironment)', () => {
  const suffix = `${process.pid}-${Date.now()}`;
  const image = `runbook-test-img-${suffix}`;
  const container = `runbook-test-${suffix}`;
  let dir: string | undefined;

  before(async () => {
    const version = await execa('podman', ['--version'], { reject: false });
    if (version.exitCode !== 0) {
      throw new Error(`podman is needed for these tests and is not usable here (${version.shortMessage}); install it: apt-get install podman`);
    }
    dir = await mkdtemp(join(tmpdir(), 'svc-container-'));
    await mkdir(join(dir, 'root'));
    await writeFile(join(dir, 'root', 'hello.txt'), 'hello\n');
    await execa('tar', ['-cf', join(dir, 'image.tar'), '-C', join(dir, 'root'), '.']);
    await execa('podman', ['import', join(dir, 'image.tar'), `${image}:latest`]);
    await execa('podman', ['create', '--name', container, `${image}:latest`, '/nothing']);
  });
  after(async () => {
    await execa('podman', ['rm', '-f', container], { reject: false });
    await execa('podman', ['rmi', '-f', `${image}:latest`], { reject: false });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const control = (name: string) => serviceControl(containerService.parse({ adapter: 'container', engine: 'podman', name }));
  const podmanState = async () => (await execa('podman', ['container', 'inspect', '--format', '{{.State.Status}}', container])).stdout.trim();

  test('status of a created container: not running, detail "created"', async () => {
    assert.deepEqual(defined(await inActivity(() => control(container).status())), { running: false, detail: 'created' });
  });

  test('stop on a created container: already stopped, no command run', async () => {
    assert.deepEqual(defined(await inActivity(() => control(container).stop())), { already: true, commands: [] });
    assert.equal(await podmanState(), 'created');
  });

  test('a container that does not exist is InvalidInput naming it', async () => {
    const missing = `runbook-test-missing-${suffix}`;
    await assert.rejects(inActivity(() => control(missing).status()), failure('InvalidInput', missing));
    await assert.rejects(inActivity(() => control(missing).start()), failure('InvalidInput', missing));
  });

  test('a missing container named like an existing image is InvalidInput too (not the image)', async () => {
    await assert.rejects(inActivity(() => control(image).status()), failure('InvalidInput', image));
  });

  test('start of a container that cannot run: the error names the container and carries podman’s reason', async () => {
    // The container's command, /nothing, is not in the image, so no engine can start it. (On this
    // machine podman fails even earlier: crun cannot raise RLIMIT_NOFILE. Either reason must show.)
    await assert.rejects(inActivity(() => control(container).start()), (err) => {
      failure('NotYet', container)(err);
      const record = commandRecord(err);
      assert.deepEqual(record.command, ['podman', 'start', '--', container]);
      assert.notEqual(record.exitCode, 0);
      assert.ok(record.stderr.trim().length > 0, 'podman said why');
      assert.ok((err as Error).message.includes(record.stderr.trim()), `message ${JSON.stringify((err as Error).message)} should carry podman's stderr ${JSON.stringify(record.stderr)}`);
      return true;
    });
    assert.equal((await inActivity(() => control(container).status())).running, false);
  });

  test('the real podman takes the name after `--` in inspect, stop and start', async () => {
    const inspect = await execa('podman', ['container', 'inspect', '--format', '{{.State.Status}}', '--', container]);
    assert.equal(inspect.stdout.trim(), 'created');
    assert.equal((await execa('podman', ['stop', '-t', '1', '--', container])).exitCode, 0);
    const start = await execa('podman', ['start', '--', container], { reject: false });
    assert.doesNotMatch(start.stderr, /unknown flag|accepts/i, 'podman start parsed `--`');
  });

  test('a container name starting with "-" is refused before the engine runs (InvalidInput)', async () => {
    const name = '-rm';
    assert.equal(containerService.safeParse({ adapter: 'container', name }).success, false, 'the schema refuses it first');
    const bad = serviceControl({ adapter: 'container', engine: 'podman', name, stopTimeoutSeconds: 10 });
    for (const method of ['status', 'stop', 'start'] as const) {
      await assert.rejects(inActivity<unknown>(() => bad[method]()), failure('InvalidInput', name, 'start with "-"'));
    }
  });

  test('stop runs `<engine> stop -t N -- <name>` (fake docker: no daemon here)', async () => {
    const bin = await mkdtemp(join(tmpdir(), 'svc-fake-docker-'));
    const log = join(bin, 'calls.log');
    // Reports the container running until `stop` ran; logs every argv, one per line.
    await writeFile(join(bin, 'docker'), `#!/bin/sh\necho "$*" >> '${log}'\nif [ "$1" = stop ]; then touch '${bin}/stopped'; exit 0; fi\nif [ -f '${bin}/stopped' ]; then echo "exited 0"; else echo "running 4321"; fi\n`);
    await chmod(join(bin, 'docker'), 0o755);
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath}`;
    try {
      const result = await inActivity(() => serviceControl(containerService.parse({ adapter: 'container', name: 'web', stopTimeoutSeconds: 7 })).stop());
      assert.deepEqual(result.commands.map((c) => c.command), [['docker', 'stop', '-t', '7', '--', 'web']]);
      assert.deepEqual((await readFile(log, 'utf8')).trim().split('\n'), [
        'container inspect --format {{.State.Status}} {{.State.Pid}} -- web',
        'stop -t 7 -- web',
        'container inspect --format {{.State.Status}} {{.State.Pid}} -- web',
      ]);
    } finally {
      process.env.PATH = savedPath;
      await rm(bin, { recursive: true, force: true });
    }
  });
});

