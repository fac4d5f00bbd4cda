// The service-control adapters, each against the real thing where this machine has it: exec on real
// processes, container on the real podman CLI; systemd through a fake systemctl (systemctl is
// installed here but systemd is not PID 1). Adapter methods run commands through runCommand, which
// heartbeats, so they run in a mock activity. Then the HTTP checks, against a local server.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { MAX_BODY_BYTES, probe } from '../../src/activities/http-checks';
import { childEnvironment } from '../../src/activities/services/exec';
import { serviceControl, type ServiceAction, type ServiceControl } from '../../src/activities/services/index';
import { identifySpawned, parseStat } from '../../src/activities/services/process-identity';
import { freePort } from '../../src/platform/dev-server';
import { containerService, execService, httpCheck, systemdService } from '../../src/workflows/inputs';
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
  const others: ChildProcess[] = [];

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
    for (const child of others) child.kill('SIGKILL');
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

  const pidFileContents = async (pidFile: string) => (JSON.parse(await readFile(pidFile, 'utf8')) as { pid: number }).pid;

  /** Field 22 of /proc/<pid>/stat, read here independently of the adapter's parser. */
  const startTimeOf = async (pid: number) => {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19]!;
  };

  /** A live `sleep 300` of this test's, once it has exec'd: a process that must never be signalled. */
  async function sleeper(detached = false): Promise<ChildProcess & { pid: number }> {
    const child = spawn('sleep', ['300'], { stdio: 'ignore', detached });
    others.push(child);
    await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
    await waitFor('sleep to exec', async () => (await readFile(`/proc/${child.pid}/cmdline`, 'utf8')) === 'sleep\u0000300\u0000', 5000);
    return child as ChildProcess & { pid: number };
  }

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

  test('a bare-pid pidfile (older format) naming a live process: not ours, not signalled, and start refuses', async () => {
    const { spec, port, control } = await httpService('reused');
    const stranger = await sleeper();
    await writeFile(spec.pidFile, `${stranger.pid}\n`);
    const status = await inActivity(() => control.status());
    assert.equal(status.running, false);
    assert.equal(status.pid, stranger.pid);
    assert.match(status.detail, new RegExp(`bare pid ${stranger.pid} \\(older format, no start time\\).*not ours, nothing is signalled`));
    assert.deepEqual(defined(await inActivity(() => control.stop())), { already: true, commands: [] });
    // Starting beside a process that may be the old service would run two copies.
    await assert.rejects(inActivity(() => control.start()), failure('SafetyViolation', `pid ${stranger.pid}`, 'by hand'));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(isAlive(stranger.pid!), true, 'the other program still runs');
    assert.equal(stranger.signalCode, null);
    assert.deepEqual(demoProcessesOnPort(port), [], 'nothing was started');
    assert.equal(await readFile(spec.pidFile, 'utf8'), `${stranger.pid}\n`, 'the pidfile is as it was');
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

  test('the pidfile holds JSON: pid, start time (field 22 of /proc/<pid>/stat) and argv; mode 0600; no temp file left', async () => {
    const { spec, url, control } = await httpService('identity');
    const { pid } = await startAndTrack(control);
    assert.ok(pid);
    assert.deepEqual(JSON.parse(await readFile(spec.pidFile, 'utf8')), { pid, startTime: await startTimeOf(pid), argv: spec.start });
    assert.equal((await stat(spec.pidFile)).mode & 0o777, 0o600);
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), []);
    assert.equal(await answeringPid(url('/')), pid);
  });

  test('/proc/<pid>/stat is split after the last ")": a comm holding spaces and parentheses', () => {
    const line = '4242 (evil) 1 2 3 (x) S 1 999 999 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 123456 0 0\n';
    assert.deepEqual(parseStat(line), { state: 'S', pgid: 999, startTime: '123456' });
    assert.equal(parseStat('no parenthesis here'), undefined);
  });

  test('a program named with spaces and parentheses is identified, and stop ends its whole group', async () => {
    const script = join(dir, 'x) (y z');
    await writeFile(script, '#!/bin/sh\nsleep 300 &\necho "child $!"\nwait\n');
    await chmod(script, 0o755);
    const logFile = join(dir, 'parens.log');
    const spec = execService.parse({ adapter: 'exec', name: 'parens', start: [script], pidFile: join(dir, 'parens.pid'), logFile });
    const control = serviceControl(spec);
    const { pid } = await startAndTrack(control);
    assert.ok(pid);
    const child = await waitFor('the script to start its child', async () => Number(/child (\d+)/.exec(await readFile(logFile, 'utf8'))?.[1]) || undefined, 10_000);
    assert.match(await readFile(`/proc/${pid}/stat`, 'utf8'), new RegExp(`^${pid} \\(x\\) \\(y z\\) `));
    // A `#!` script runs as its interpreter: the pidfile records what the kernel shows, at once.
    assert.deepEqual(JSON.parse(await readFile(spec.pidFile, 'utf8')).argv, ['/bin/sh', script]);
    assert.deepEqual(await inActivity(() => control.status()), { running: true, pid, detail: `pid ${pid} alive` });

    assert.deepEqual(await inActivity(() => control.stop()), { already: false, pid, commands: [] });
    await waitFor('the child in its group to be gone too', async () => !isAlive(child), 5000);
  });

  test('the kernel’s argv is recorded when the program shows another one than it was spawned with', async () => {
    const victim = await sleeper();
    assert.deepEqual(await identifySpawned(victim.pid, ['sleep', 'other'], 50), { pid: victim.pid, startTime: await startTimeOf(victim.pid), argv: ['sleep', '300'] });
  });

  test('a pidfile naming a live process of ours with another start time, or another argv: not running, says why, never signalled', async () => {
    const { spec, control } = await httpService('restarted');
    const victim = await sleeper(true); // leads its own group, as a service we started would
    const startTime = await startTimeOf(victim.pid);
    await writeFile(spec.pidFile, JSON.stringify({ pid: victim.pid, startTime: String(BigInt(startTime) + 1n), argv: ['sleep', '300'] }));
    assert.deepEqual(await inActivity(() => control.status()), { running: false, pid: victim.pid, detail: `pid ${victim.pid} is another process (start time differs)` });
    assert.deepEqual(defined(await inActivity(() => control.stop())), { already: true, commands: [] });

    await writeFile(spec.pidFile, JSON.stringify({ pid: victim.pid, startTime, argv: ['sleep', '301'] }));
    assert.deepEqual(await inActivity(() => control.status()), { running: false, pid: victim.pid, detail: `pid ${victim.pid} is another process (command line differs: sleep 300)` });
    assert.deepEqual(defined(await inActivity(() => control.stop())), { already: true, commands: [] });

    await new Promise((r) => setTimeout(r, 100));
    assert.equal(isAlive(victim.pid), true);
    assert.equal(victim.signalCode, null, 'never signalled');
  });

  test('a process that does not lead its process group is signalled alone, never its group', async () => {
    // A detached leader with a `sleep` child in its group; the pidfile names the child exactly.
    const leader = spawn(process.execPath, ['-e', "const c = require('child_process').spawn('sleep', ['300'], { stdio: 'ignore' }); console.log(c.pid); setInterval(() => {}, 1e6);"], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    others.push(leader);
    started.add(leader.pid!); // after(): kills the group
    const childPid = await new Promise<number>((resolve) => leader.stdout!.setEncoding('utf8').once('data', (text: string) => resolve(Number.parseInt(text, 10))));
    await waitFor('the child to exec sleep', async () => (await readFile(`/proc/${childPid}/cmdline`, 'utf8').catch(() => '')) === 'sleep\u0000300\u0000', 5000);
    const spec = execService.parse({ adapter: 'exec', name: 'grouped', start: ['sleep', '300'], pidFile: join(dir, 'grouped.pid'), stopTimeoutSeconds: 5 });
    await writeFile(spec.pidFile, JSON.stringify({ pid: childPid, startTime: await startTimeOf(childPid), argv: ['sleep', '300'] }));
    const control = serviceControl(spec);
    assert.equal((await inActivity(() => control.status())).running, true);

    assert.deepEqual(await inActivity(() => control.stop()), { already: false, pid: childPid, commands: [] });
    assert.equal(isAlive(leader.pid!), true, 'the group leader was not signalled');
    assert.equal(leader.signalCode, null);
  });

  test('a pidfile holding the text of /proc/<pid>/stat, or a symlink to it: not ours, nothing signalled, start refuses', async () => {
    const { spec, port, control } = await httpService('procfile');
    const victim = await sleeper(true);
    await writeFile(spec.pidFile, await readFile(`/proc/${victim.pid}/stat`, 'utf8'));
    const copied = await inActivity(() => control.status());
    assert.equal(copied.running, false);
    assert.equal(copied.detail, `pidfile ${spec.pidFile} is not a pidfile of ours (neither our JSON format nor a bare pid); not ours, nothing is signalled`);
    assert.deepEqual(defined(await inActivity(() => control.stop())), { already: true, commands: [] });
    await assert.rejects(inActivity(() => control.start()), failure('SafetyViolation', spec.pidFile, 'not a pidfile of ours'));

    await rm(spec.pidFile);
    await symlink(`/proc/${victim.pid}/stat`, spec.pidFile);
    assert.equal((await inActivity(() => control.status())).detail, `pidfile ${spec.pidFile} is a symlink; not ours, nothing is signalled`);
    assert.deepEqual(defined(await inActivity(() => control.stop())), { already: true, commands: [] });
    await assert.rejects(inActivity(() => control.start()), failure('SafetyViolation', spec.pidFile, 'is a symlink'));

    await new Promise((r) => setTimeout(r, 200));
    assert.equal(isAlive(victim.pid), true);
    assert.equal(victim.signalCode, null, 'never signalled');
    assert.deepEqual(demoProcessesOnPort(port), [], 'nothing was started');
    assert.ok((await lstat(spec.pidFile)).isSymbolicLink(), 'the link is left as it was');
    assert.equal(existsSync(spec.logFile!), false, 'the log was not opened');
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), []);
  });

  test('a pidfile that is a symlink to a file elsewhere: start refuses, that file is unchanged, nothing runs', async () => {
    const outside = join(await mkdtemp(join(tmpdir(), 'svc-outside-')), 'precious.conf');
    await writeFile(outside, 'precious\n');
    const { spec, port, control } = await httpService('linked-pid');
    await symlink(outside, spec.pidFile);
    await assert.rejects(inActivity(() => control.start()), failure('SafetyViolation', spec.pidFile, 'is a symlink'));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await readFile(outside, 'utf8'), 'precious\n');
    assert.ok((await lstat(spec.pidFile)).isSymbolicLink());
    assert.deepEqual(demoProcessesOnPort(port), []);
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), []);
    await rm(join(outside, '..'), { recursive: true, force: true });
  });

  test('a log file that is a symlink or a FIFO: start refuses, nothing runs, no pidfile is written', async () => {
    const outside = join(await mkdtemp(join(tmpdir(), 'svc-outside-')), 'precious.log');
    await writeFile(outside, 'precious\n');
    const linked = await httpService('linked-log');
    await symlink(outside, linked.spec.logFile!);
    await assert.rejects(inActivity(() => linked.control.start()), failure('SafetyViolation', linked.spec.logFile!, 'is a symlink'));

    const fifo = await httpService('fifo-log');
    assert.equal(spawnSync('mkfifo', [fifo.spec.logFile!]).status, 0);
    await assert.rejects(inActivity(() => fifo.control.start()), failure('SafetyViolation', fifo.spec.logFile!, 'is not a regular file'));

    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await readFile(outside, 'utf8'), 'precious\n');
    for (const { spec, port } of [linked, fifo]) {
      assert.deepEqual(demoProcessesOnPort(port), []);
      assert.equal(existsSync(spec.pidFile), false);
    }
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), []);
    await rm(join(outside, '..'), { recursive: true, force: true });
  });

  test('the child gets a minimal environment and the declared env, never the worker’s (secrets, NODE_OPTIONS)', async () => {
    process.env.RUNBOOK_TEST_SECRET = 'hunter2';
    try {
      const spec = execService.parse({ adapter: 'exec', name: 'env', start: ['sleep', '300'], pidFile: join(dir, 'env.pid'), env: { GREETING: 'hello' } });
      const control = serviceControl(spec);
      const { pid } = await startAndTrack(control);
      assert.ok(pid);
      const environ = Object.fromEntries(
        (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
      assert.equal(environ.GREETING, 'hello');
      assert.equal(environ.PATH, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
      assert.equal(environ.RUNBOOK_TEST_SECRET, undefined);
      assert.deepEqual(Object.keys(environ).sort(), ['GREETING', 'PATH', ...['HOME', 'LANG', 'TZ'].filter((k) => process.env[k] !== undefined)].sort());
      assert.deepEqual(environ, childEnvironment(spec));
      assert.deepEqual(await inActivity(() => control.stop()), { already: false, pid, commands: [] });
    } finally {
      delete process.env.RUNBOOK_TEST_SECRET;
    }
  });
});

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

describe('HTTP checks (a local server; probe needs no activity context)', () => {
  let server: Server;
  let base: string;
  const requests: string[] = [];
  const huge = MAX_BODY_BYTES + 1;

  before(async () => {
    server = createServer((req, res) => {
      requests.push(req.url!);
      if (req.url === '/aaa') res.end(`${'a'.repeat(30)}!`);
      else if (req.url === '/exact') res.end(`${'x'.repeat(MAX_BODY_BYTES - 3)}END`);
      else if (req.url === '/declared-huge') res.writeHead(200, { 'content-length': String(huge) }).end('x'.repeat(huge));
      else if (req.url === '/endless') {
        // Chunked, no length, never ends: only the reader's cap stops it.
        const chunk = Buffer.alloc(64 * 1024, 'y');
        const pump = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
      } else if (req.url === '/redirect') res.writeHead(302, { location: '/target' }).end();
      else res.end('ok\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const check = (path: string, extra: { bodyMatch?: string; expectStatus?: number } = {}) => httpCheck.parse({ url: `${base}${path}`, retries: 0, ...extra });

  test('a catastrophic pattern, ^(a+)+$ on 30 "a"s and a "!", completes (RE2: linear time) and does not match', async () => {
    assert.deepEqual(await probe(check('/aaa', { bodyMatch: '^(a+)+$' })), { ok: false, status: 200, problem: 'body does not match /^(a+)+$/' });
    assert.deepEqual(await probe(check('/aaa', { bodyMatch: '^a+!$' })), { ok: true, status: 200 });
  });

  test('a pattern RE2 cannot compile is InvalidInput naming it, and nothing is fetched', async () => {
    const before = requests.length;
    for (const bodyMatch of ['(a', '(a)\\1', '(?=a)']) {
      await assert.rejects(probe(check('/aaa', { bodyMatch })), failure('InvalidInput', JSON.stringify(bodyMatch), 'not a valid RE2 pattern'));
    }
    assert.equal(requests.length, before);
  });

  test('a body of exactly 1 MiB is matched whole, to its end', async () => {
    assert.deepEqual(await probe(check('/exact', { bodyMatch: 'END$' })), { ok: true, status: 200 });
  });

  test('a body over 1 MiB fails the check, declared or endless (reading stops at the cap)', async () => {
    assert.deepEqual(await probe(check('/declared-huge', { bodyMatch: 'x' })), { ok: false, status: 200, problem: 'body larger than 1 MiB' });
    assert.deepEqual(await probe(check('/endless', { bodyMatch: 'y' })), { ok: false, status: 200, problem: 'body larger than 1 MiB' });
  });

  test('a check without bodyMatch looks at the status only and reads no body', async () => {
    assert.deepEqual(await probe(check('/endless')), { ok: true, status: 200 });
  });

  test('redirects are answers, not followed', async () => {
    const before = requests.length;
    assert.deepEqual(await probe(check('/redirect')), { ok: false, status: 302, problem: 'status 302, expected 200' });
    assert.deepEqual(await probe(check('/redirect', { expectStatus: 302 })), { ok: true, status: 302 });
    assert.deepEqual(requests.slice(before), ['/redirect', '/redirect']);
  });
});
