// The service-control adapters, each against the real thing where this machine has it: exec on real
// processes, container on the real podman CLI; systemd through a fake systemctl (no systemd here).
// Adapter methods run commands through runCommand, which heartbeats, so they run in a mock activity.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { serviceControl, type ServiceAction, type ServiceControl } from '../../src/activities/services/index';
import { freePort } from '../../src/platform/dev-server';
import { execService, service } from '../../src/workflows/inputs';
import type { CommandRecord } from '../../src/workflows/report';
import { get, isAlive, waitFor } from '../helpers/service';

const demoService = fileURLToPath(new URL('../../demo/http-service.mjs', import.meta.url));
// Quiet: the mock worker logs every activity failure at WARN, and several tests expect failures.
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const env = new MockActivityEnvironment(undefined, { logger: quiet });

/** Runs one adapter method as an activity would. */
const inActivity = <T>(fn: () => Promise<T>): Promise<T> => env.run(fn);

/** assert.rejects validator: an ApplicationFailure of `type` whose message mentions each of `words`. */
function failure(type: string, ...words: string[]) {
  return (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    assert.equal(err.type, type, `failure type (message: ${err.message})`);
    for (const word of words) assert.ok(err.message.includes(word), `message ${JSON.stringify(err.message)} should mention ${JSON.stringify(word)}`);
    return true;
  };
}

/** `o` without its undefined fields, so `{ pid: undefined }` and `{}` compare equal. */
const defined = (o: object) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const commandRecord = (err: unknown) => (err as ApplicationFailure).details?.[0] as CommandRecord;

describe('exec adapter (real processes; adapter calls run in MockActivityEnvironment)', () => {
  let dir: string;
  const started = new Set<number>();
  const savedAllow = process.env.RUNBOOK_EXEC_ALLOW;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'svc-exec-'));
  });
  after(async () => {
    for (const pid of started) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (savedAllow === undefined) delete process.env.RUNBOOK_EXEC_ALLOW;
    else process.env.RUNBOOK_EXEC_ALLOW = savedAllow;
    await rm(dir, { recursive: true, force: true });
  });

  async function httpService(name: string) {
    const port = await freePort();
    const spec = execService.parse({
      adapter: 'exec',
      name,
      start: [process.execPath, demoService, '--port', String(port)],
      pidFile: join(dir, `${name}.pid`),
      logFile: join(dir, `${name}.log`),
    });
    const url = (path = '/') => `http://127.0.0.1:${port}${path}`;
    return { spec, port, url, control: serviceControl(spec) };
  }

  async function startAndTrack(control: ServiceControl): Promise<ServiceAction> {
    const result = await inActivity(() => control.start());
    if (result.pid) started.add(result.pid);
    return result;
  }

  /** The pid the service reports about itself over HTTP, once it answers. */
  const answeringPid = (url: string) =>
    waitFor(`${url} to answer`, async () => {
      const answer = await get(url);
      return 'status' in answer && answer.status === 200 ? (JSON.parse(answer.body) as { pid: number }).pid : undefined;
    }, 10_000);

  const pidFileContents = async (pidFile: string) => Number((await readFile(pidFile, 'utf8')).trim());

  /** Processes on this machine whose command line runs the demo service on `port`. */
  function demoProcessesOnPort(port: number): number[] {
    const found = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout;
    return found
      .split('\n')
      .filter((line) => line.includes(demoService) && line.includes(`--port ${port}`))
      .map((line) => Number.parseInt(line.trim(), 10));
  }

  test('status of a never-started service: not running, and says which pidfile it looked at', async () => {
    const { spec, control } = await httpService('never');
    const status = await inActivity(() => control.status());
    assert.equal(status.running, false);
    assert.equal(status.pid, undefined);
    assert.ok(status.detail.includes(spec.pidFile), `detail ${JSON.stringify(status.detail)} should name ${spec.pidFile}`);
  });

  test('start: the process answers HTTP 200 on its port and the pidfile holds its pid', async () => {
    const { spec, url, control } = await httpService('start');
    const result = await startAndTrack(control);
    assert.equal(result.already, false);
    assert.ok(result.pid && result.pid > 1, `start should report a pid, got ${result.pid}`);
    assert.deepEqual(result.commands.map((c) => c.command), [spec.start]);

    assert.equal(await answeringPid(url('/')), result.pid, 'the process answering is the one started');
    assert.deepEqual(await get(url('/health')), { status: 200, body: 'ok\n' });
    assert.equal(await pidFileContents(spec.pidFile), result.pid);
    const status = await inActivity(() => control.status());
    assert.deepEqual(status, { running: true, pid: result.pid, detail: `pid ${result.pid} alive` });
  });

  test('start again: already running, same pid, no second process', async () => {
    const { spec, port, url, control } = await httpService('twice');
    const first = await startAndTrack(control);
    const pid = await answeringPid(url('/'));

    const second = await startAndTrack(control);
    assert.deepEqual(second, { already: true, pid, commands: [] });
    assert.equal(await pidFileContents(spec.pidFile), pid);
    // A second process would fail to bind the port and log it; give it the time to do so.
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(demoProcessesOnPort(port), [first.pid], 'exactly one service process on the port');
    assert.equal(await answeringPid(url('/')), pid);
    const log = await readFile(spec.logFile!, 'utf8');
    assert.equal(log.match(/listening on/g)?.length, 1, `one start in the log:\n${log}`);
    assert.doesNotMatch(log, /EADDRINUSE/);
  });

  test('stop: the process is gone and the port refuses; stopping again runs nothing', async () => {
    const { spec, port, url, control } = await httpService('stop');
    await startAndTrack(control);
    const pid = await answeringPid(url('/'));

    const stopped = await inActivity(() => control.stop());
    assert.deepEqual(stopped, { already: false, pid, commands: [] }, 'stopped by SIGTERM, no escalation');
    assert.equal(isAlive(pid), false, `pid ${pid} should be gone`);
    assert.deepEqual(await get(url('/')), { error: 'ECONNREFUSED' });
    assert.deepEqual(demoProcessesOnPort(port), []);
    const status = await inActivity(() => control.status());
    assert.equal(status.running, false);
    assert.match(status.detail, new RegExp(`\\bpid ${pid}\\b`));

    const again = await inActivity(() => control.stop());
    assert.deepEqual(defined(again), { already: true, commands: [] });
    assert.equal(await pidFileContents(spec.pidFile), pid, 'the pidfile is left as it was');
  });

  test('a pidfile naming a dead pid: not running, detail names the pid, stop does nothing', async () => {
    const { spec, control } = await httpService('stale');
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    assert.equal(isAlive(dead), false);
    await writeFile(spec.pidFile, `${dead}\n`);

    const status = await inActivity(() => control.status());
    assert.equal(status.running, false);
    assert.equal(status.pid, dead);
    assert.match(status.detail, new RegExp(`\\b${dead}\\b`));
    assert.deepEqual(defined(await inActivity(() => control.stop())), { already: true, commands: [] });
  });

  test('a pidfile whose pid now belongs to another program: not running, and that program is not signalled', async () => {
    const { spec, control } = await httpService('reused');
    const stranger = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await writeFile(spec.pidFile, `${stranger.pid}\n`);
      const status = await inActivity(() => control.status());
      assert.equal(status.running, false);
      assert.match(status.detail, new RegExp(`pid ${stranger.pid} is now another program \\(sleep 30\\)`));
      assert.deepEqual(defined(await inActivity(() => control.stop())), { already: true, commands: [] });
      assert.equal(isAlive(stranger.pid!), true, 'the other program still runs');
    } finally {
      stranger.kill('SIGKILL');
    }
  });

  test('a process that ignores SIGTERM is killed with SIGKILL after stopTimeoutSeconds', async () => {
    const script = join(dir, 'stubborn.mjs');
    await writeFile(
      script,
      [
        "process.on('SIGTERM', () => console.log('ignoring SIGTERM'));",
        "console.log('ready');",
        'setInterval(() => {}, 60_000);',
        '',
      ].join('\n'),
    );
    const spec = execService.parse({
      adapter: 'exec',
      name: 'stubborn',
      start: [process.execPath, script],
      pidFile: join(dir, 'stubborn.pid'),
      logFile: join(dir, 'stubborn.log'),
      stopTimeoutSeconds: 1,
    });
    const control = serviceControl(spec);
    const { pid } = await startAndTrack(control);
    assert.ok(pid);
    await waitFor('the stubborn process to be ready', async () => (await readFile(join(dir, 'stubborn.log'), 'utf8')).includes('ready'), 10_000);

    const begun = Date.now();
    const result = await inActivity(() => control.stop());
    assert.equal(isAlive(pid), false, `pid ${pid} should be gone`);
    assert.equal((result as ServiceAction & { escalated?: string }).escalated, 'SIGKILL');
    assert.equal(result.already, false);
    assert.equal(result.pid, pid);
    assert.ok(Date.now() - begun >= 1000, 'SIGKILL only after the 1 s stop timeout');
    assert.match(await readFile(join(dir, 'stubborn.log'), 'utf8'), /ignoring SIGTERM/, 'SIGTERM was tried first');
  });

  test('a program not in RUNBOOK_EXEC_ALLOW is refused (SafetyViolation) and nothing starts', async () => {
    const marker = join(dir, 'sh-ran');
    const spec = execService.parse({
      adapter: 'exec',
      name: 'shell',
      start: ['/bin/sh', '-c', `echo ran > ${marker}`],
      pidFile: join(dir, 'shell.pid'),
    });
    for (const allow of [undefined, `${process.execPath}:node`]) {
      if (allow === undefined) delete process.env.RUNBOOK_EXEC_ALLOW;
      else process.env.RUNBOOK_EXEC_ALLOW = allow;
      // Refused when the adapter is made or when it is asked to start: either way, before anything runs.
      await assert.rejects(inActivity(async () => serviceControl(spec).start()), failure('SafetyViolation', '/bin/sh', 'shell'));
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(existsSync(spec.pidFile), false, 'no pidfile');
    assert.equal(existsSync(marker), false, '/bin/sh did not run');

    // A stop command is a program too.
    const stopBySh = execService.parse({ adapter: 'exec', name: 'stop-sh', start: [process.execPath, '-e', '0'], stop: ['/bin/sh', '-c', 'true'], pidFile: join(dir, 'stop-sh.pid') });
    await assert.rejects(inActivity(async () => serviceControl(stopBySh).stop()), failure('SafetyViolation', '/bin/sh'));
  });

  test('RUNBOOK_EXEC_ALLOW is read when the adapter is used: listing /bin/sh lets it run', async () => {
    const marker = join(dir, 'sh-allowed');
    const spec = execService.parse({
      adapter: 'exec',
      name: 'shell-allowed',
      start: ['/bin/sh', '-c', `echo ran > ${marker}`],
      pidFile: join(dir, 'shell-allowed.pid'),
    });
    process.env.RUNBOOK_EXEC_ALLOW = `${process.execPath}:/bin/sh`;
    try {
      const result = await startAndTrack(serviceControl(spec));
      assert.equal(result.already, false);
      await waitFor('/bin/sh to run', async () => existsSync(marker), 10_000);
    } finally {
      if (savedAllow === undefined) delete process.env.RUNBOOK_EXEC_ALLOW;
      else process.env.RUNBOOK_EXEC_ALLOW = savedAllow;
    }
  });
});

describe('systemd adapter (fake systemctl: no systemd on this machine; adapter calls run in MockActivityEnvironment)', () => {
  let dir: string;
  const savedPath = process.env.PATH;

  // Unit state lives in units/<unit> ("active" or "inactive"; no file: unknown unit). A file
  // fail-<verb>-<unit> makes that verb print the file to stderr and exit 1. Every call is logged.
  const fakeSystemctl = (state: string) => `#!/bin/sh
DIR='${state}'
echo "$*" >> "$DIR/calls.log"
verb=$1
unit=$2
state_file="$DIR/units/$unit"
case "$verb" in
  show)
    if [ -f "$state_file" ]; then load=loaded; active=$(cat "$state_file"); else load=not-found; active=inactive; fi
    if [ "$active" = active ]; then sub=running; pid=1234; else sub=dead; pid=0; fi
    for prop in $(echo "\${3#--property=}" | tr ',' ' '); do
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
    return serviceControl(service.parse({ adapter: 'systemd', name }));
  };
  /** The systemctl verbs run for `name`, in order. */
  const calls = async (name: string) =>
    (await readFile(join(dir, 'calls.log'), 'utf8'))
      .split('\n')
      .map((line) => line.split(' '))
      .filter((words) => words[1] === name)
      .map((words) => words[0]);

  test('the fake systemctl is the one the adapter runs', async () => {
    await unit('probe.service', 'inactive');
    await inActivity(() => serviceControl(service.parse({ adapter: 'systemd', name: 'probe.service' })).status());
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
    assert.deepEqual(result.commands[0]!.command, ['systemctl', 'stop', 'db.service']);
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
    assert.deepEqual(result.commands.map((c) => [c.command, c.exitCode]), [[['systemctl', 'start', 'cache.service'], 0]]);
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

  const control = (name: string) => serviceControl(service.parse({ adapter: 'container', engine: 'podman', name }));
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
      assert.deepEqual(record.command, ['podman', 'start', container]);
      assert.notEqual(record.exitCode, 0);
      assert.ok(record.stderr.trim().length > 0, 'podman said why');
      assert.ok((err as Error).message.includes(record.stderr.trim()), `message ${JSON.stringify((err as Error).message)} should carry podman's stderr ${JSON.stringify(record.stderr)}`);
      return true;
    });
    assert.equal((await inActivity(() => control(container).status())).running, false);
  });
});
