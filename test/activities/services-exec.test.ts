// The exec adapter on real processes: pidfiles that identify a process exactly (pid, start time,
// argv), writes that never follow a symlink, and a minimal child environment.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { childEnvironment } from '../../src/activities/services/exec';
import { serviceControl, type ServiceAction, type ServiceControl } from '../../src/activities/services/index';
import { identifySpawned, parseStat } from '../../src/activities/services/process-identity';
import { freePort } from '../../src/platform/dev-server';
import { execService } from '../../src/workflows/inputs';
import { get, isAlive, waitFor } from '../helpers/service';
import { inActivity, failure, defined } from './adapter-helpers';

const demoService = fileURLToPath(new URL('../../demo/http-service.mjs', import.meta.url));

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

