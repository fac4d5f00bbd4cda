// Hostile cases for the service adapters and HTTP checks: pidfiles that point at /proc or at another
// process, pidfiles and logs that are symlinks (or FIFOs, or directories), unit and container names
// that would read as options, catastrophic patterns, huge bodies. Each runs inside
// test/hostile/sandbox.ts's expectUntouched: the sandbox and `outside` hash the same afterwards,
// nothing appeared beside them, no process carrying the marker started, the sentinel got no signal.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { probe } from '../../src/activities/http-checks';
import { serviceControl, type ServiceControl } from '../../src/activities/services/index';
import { execService, httpCheck, type ServiceSpec } from '../../src/workflows/inputs';
import { expectUntouched, makeSandbox, type Sandbox } from './sandbox';

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const env = new MockActivityEnvironment(undefined, { logger: quiet });
const inActivity = <T>(fn: () => Promise<T>): Promise<T> => env.run(fn);

function refusal(type: string, ...words: string[]) {
  return (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    assert.equal(err.type, type, err.message);
    for (const word of words) assert.ok(err.message.includes(word), `${JSON.stringify(err.message)} should mention ${JSON.stringify(word)}`);
    return true;
  };
}

let sb: Sandbox;
let bin: string;
let n = 0;
const savedPath = process.env.PATH;

before(async () => {
  sb = await makeSandbox('services');
  // Fake systemctl, docker and podman: any call at all leaves a file in the sandbox, so a name
  // that reached an engine shows up in the sandbox's digest.
  bin = await mkdtemp(join(tmpdir(), 'hostile-services-bin-'));
  for (const tool of ['systemctl', 'docker', 'podman']) {
    await writeFile(join(bin, tool), `#!/bin/sh\necho "$*" >> '${join(sb.root, `${tool}-ran`)}'\necho "running 1"\n`);
    await chmod(join(bin, tool), 0o755);
  }
  process.env.PATH = `${bin}:${savedPath}`;
});
after(async () => {
  process.env.PATH = savedPath;
  await sb.cleanup();
  await rm(bin, { recursive: true, force: true });
});

/** An exec service in the sandbox whose process would carry the marker (so a start would show). */
function execSpec(): Extract<ServiceSpec, { adapter: 'exec' }> {
  n += 1;
  return execService.parse({
    adapter: 'exec',
    name: `svc${n}`,
    start: [process.execPath, '-e', 'setInterval(() => {}, 1e6)', sb.marker],
    pidFile: join(sb.root, `svc${n}.pid`),
    logFile: join(sb.root, `svc${n}.log`),
    stopTimeoutSeconds: 2,
  });
}

const sentinelStat = async () => {
  const text = await readFile(`/proc/${sb.sentinel.pid}/stat`, 'utf8');
  return { text, startTime: text.slice(text.lastIndexOf(')') + 2).split(' ')[19]! };
};
const sentinelArgv = async () => (await readFile(`/proc/${sb.sentinel.pid}/cmdline`, 'utf8')).split('\0').slice(0, -1);

/** status says not running with `detail`, stop signals nothing, and (if `startRefused`) start refuses. */
async function notOurs(control: ServiceControl, detail: RegExp, startRefused?: (err: unknown) => boolean) {
  const status = await inActivity(() => control.status());
  assert.equal(status.running, false);
  assert.match(status.detail, detail);
  const stopped = await inActivity(() => control.stop());
  assert.equal(stopped.already, true);
  assert.deepEqual(stopped.commands, []);
  if (startRefused) await assert.rejects(inActivity(() => control.start()), startRefused);
}

describe('hostile pidfiles: nothing is signalled, nothing starts', () => {
  it('a pidfile that is a symlink to /proc/<sentinel>/stat', async () => {
    const spec = execSpec();
    await symlink(`/proc/${sb.sentinel.pid}/stat`, spec.pidFile);
    await expectUntouched(sb, () => notOurs(serviceControl(spec), /is a symlink; not ours, nothing is signalled/, refusal('SafetyViolation', spec.pidFile, 'is a symlink')));
  });

  it('a pidfile holding a copy of /proc/<sentinel>/stat', async () => {
    const spec = execSpec();
    await writeFile(spec.pidFile, (await sentinelStat()).text);
    await expectUntouched(sb, () => notOurs(serviceControl(spec), /is not a pidfile of ours/, refusal('SafetyViolation', spec.pidFile, 'not a pidfile of ours')));
  });

  it('a pidfile naming /proc/<sentinel>/stat as a path', async () => {
    const spec = execSpec();
    await writeFile(spec.pidFile, `/proc/${sb.sentinel.pid}/stat\n`);
    await expectUntouched(sb, () => notOurs(serviceControl(spec), /is not a pidfile of ours/, refusal('SafetyViolation', spec.pidFile, 'not a pidfile of ours')));
  });

  it('a legacy bare-pid pidfile naming the sentinel', async () => {
    const spec = execSpec();
    await writeFile(spec.pidFile, `${sb.sentinel.pid}\n`);
    await expectUntouched(sb, () => notOurs(serviceControl(spec), new RegExp(`bare pid ${sb.sentinel.pid} \\(older format`), refusal('SafetyViolation', `pid ${sb.sentinel.pid}`)));
  });

  it('a JSON pidfile naming the sentinel with its argv but another start time', async () => {
    const spec = execSpec();
    const { startTime } = await sentinelStat();
    await writeFile(spec.pidFile, JSON.stringify({ pid: sb.sentinel.pid, startTime: String(BigInt(startTime) + 100n), argv: await sentinelArgv() }));
    await expectUntouched(sb, () => notOurs(serviceControl(spec), new RegExp(`^pid ${sb.sentinel.pid} is another process \\(start time differs\\)$`)));
  });

  it('a JSON pidfile naming the sentinel with its start time but another argv', async () => {
    const spec = execSpec();
    await writeFile(spec.pidFile, JSON.stringify({ pid: sb.sentinel.pid, startTime: (await sentinelStat()).startTime, argv: spec.start }));
    await expectUntouched(sb, () => notOurs(serviceControl(spec), new RegExp(`^pid ${sb.sentinel.pid} is another process \\(command line differs`)));
  });

  it('a JSON pidfile naming the worker itself exactly (pid, start time, argv)', async () => {
    const spec = execSpec();
    const stat = await readFile('/proc/self/stat', 'utf8');
    const argv = (await readFile('/proc/self/cmdline', 'utf8')).split('\0').slice(0, -1);
    await writeFile(spec.pidFile, JSON.stringify({ pid: process.pid, startTime: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19], argv }));
    await expectUntouched(sb, () => notOurs(serviceControl(spec), new RegExp(`^pid ${process.pid} is this worker$`)));
  });

  it('a JSON pidfile naming pid 1', async () => {
    const spec = execSpec();
    await writeFile(spec.pidFile, JSON.stringify({ pid: 1, startTime: '1', argv: ['/sbin/init'] }));
    await expectUntouched(sb, () => notOurs(serviceControl(spec), /is not a pidfile of ours/, refusal('SafetyViolation', spec.pidFile)));
  });

  it('a pidfile that is a symlink to a file outside the sandbox: start refuses, the file is unchanged', async () => {
    const spec = execSpec();
    await writeFile(join(sb.outside, 'precious.conf'), 'precious\n');
    await symlink(join(sb.outside, 'precious.conf'), spec.pidFile);
    await expectUntouched(sb, () => assert.rejects(inActivity(() => serviceControl(spec).start()), refusal('SafetyViolation', spec.pidFile, 'is a symlink')));
  });

  it('a pidfile that is a dangling symlink to a path outside: start refuses and creates nothing there', async () => {
    const spec = execSpec();
    await symlink(join(sb.outside, 'created-through-link'), spec.pidFile);
    await expectUntouched(sb, () => assert.rejects(inActivity(() => serviceControl(spec).start()), refusal('SafetyViolation', spec.pidFile, 'is a symlink')));
  });

  it('a pidfile path that is a directory or a FIFO: start refuses', async () => {
    const dir = execSpec();
    await mkdir(dir.pidFile);
    const fifo = execSpec();
    assert.equal(spawnSync('mkfifo', [fifo.pidFile]).status, 0);
    await expectUntouched(sb, async () => {
      for (const spec of [dir, fifo]) {
        await notOurs(serviceControl(spec), /is not a regular file; not ours/, refusal('SafetyViolation', spec.pidFile, 'is not a regular file'));
      }
    });
  });

  it('a pidfile that is some other regular file (a config): start refuses to replace it', async () => {
    const spec = execSpec();
    await writeFile(spec.pidFile, 'listen 80;\nroot /srv;\n');
    await expectUntouched(sb, () => assert.rejects(inActivity(() => serviceControl(spec).start()), refusal('SafetyViolation', spec.pidFile, 'not a pidfile of ours')));
  });
});

describe('hostile log files: start refuses before anything runs', () => {
  it('a log that is a symlink to a file outside the sandbox', async () => {
    const spec = execSpec();
    await writeFile(join(sb.outside, 'precious.log'), 'precious\n');
    await symlink(join(sb.outside, 'precious.log'), spec.logFile!);
    await expectUntouched(sb, () => assert.rejects(inActivity(() => serviceControl(spec).start()), refusal('SafetyViolation', spec.logFile!, 'is a symlink')));
  });

  it('a log that is a dangling symlink (it would create a file outside)', async () => {
    const spec = execSpec();
    await symlink(join(sb.outside, 'new.log'), spec.logFile!);
    await expectUntouched(sb, () => assert.rejects(inActivity(() => serviceControl(spec).start()), refusal('SafetyViolation', spec.logFile!, 'is a symlink')));
  });

  it('a log that is a symlink to /dev/null, or a FIFO (the open must not block)', async () => {
    const devnull = execSpec();
    await symlink('/dev/null', devnull.logFile!);
    const fifo = execSpec();
    assert.equal(spawnSync('mkfifo', [fifo.logFile!]).status, 0);
    await expectUntouched(sb, async () => {
      await assert.rejects(inActivity(() => serviceControl(devnull).start()), refusal('SafetyViolation', devnull.logFile!, 'is a symlink'));
      await assert.rejects(inActivity(() => serviceControl(fifo).start()), refusal('SafetyViolation', fifo.logFile!, 'is not a regular file'));
    });
  });
});

describe('names that would read as options: refused before any engine runs', () => {
  const systemd = ['--no-block.service', '-H.service', '--root=/tmp', '-'];
  const containers = ['-rm', '--privileged', '-a', '--all'];
  for (const name of systemd) {
    it(`systemd unit ${JSON.stringify(name)}`, async () => {
      const control = serviceControl({ adapter: 'systemd', name, stopTimeoutSeconds: 90 });
      await expectUntouched(sb, async () => {
        for (const method of ['status', 'stop', 'start'] as const) await assert.rejects(inActivity<unknown>(() => control[method]()), refusal('InvalidInput', JSON.stringify(name), 'start with "-"'));
      });
    });
  }
  for (const name of containers) {
    for (const engine of ['docker', 'podman'] as const) {
      it(`${engine} container ${JSON.stringify(name)}`, async () => {
        const control = serviceControl({ adapter: 'container', engine, name, stopTimeoutSeconds: 10 });
        await expectUntouched(sb, async () => {
          for (const method of ['status', 'stop', 'start'] as const) await assert.rejects(inActivity<unknown>(() => control[method]()), refusal('InvalidInput', JSON.stringify(name), 'start with "-"'));
        });
      });
    }
  }
});

describe('hostile HTTP answers and patterns', () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/endless') {
        const chunk = Buffer.alloc(64 * 1024, 'a');
        const pump = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
      } else if (req.url === '/lying-length') res.writeHead(200, { 'content-length': String(1 << 30) }).end('short');
      else res.end(`${'a'.repeat(40)}!`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const check = (path: string, bodyMatch?: string) => httpCheck.parse({ url: `${base}${path}`, retries: 0, timeoutMs: 30_000, ...(bodyMatch === undefined ? {} : { bodyMatch }) });

  for (const pattern of ['^(a+)+$', '^(a|a)*$', '^(a|aa)+$', '^(.*a){20}$', '(a*)*b']) {
    it(`catastrophic pattern ${pattern} on 40 "a"s and a "!" completes (RE2) and does not match`, async () => {
      const result = await expectUntouched(sb, () => probe(check('/', pattern)));
      assert.deepEqual(result, { ok: false, status: 200, problem: `body does not match /${pattern}/` });
    });
  }

  it('a catastrophic pattern against an endless body: the cap ends it', async () => {
    const result = await expectUntouched(sb, () => probe(check('/endless', '^(a+)+$')));
    assert.deepEqual(result, { ok: false, status: 200, problem: 'body larger than 1 MiB' });
  });

  it('a declared length of 1 GiB is refused before reading', async () => {
    const result = await expectUntouched(sb, () => probe(check('/lying-length', 'short')));
    assert.deepEqual(result, { ok: false, status: 200, problem: 'body larger than 1 MiB' });
  });

  for (const pattern of ['(a)\\1', '(?<=a)b', '(?!a)', '[z-a]', '(']) {
    it(`a pattern RE2 refuses, ${JSON.stringify(pattern)}: InvalidInput naming it`, async () => {
      await expectUntouched(sb, () => assert.rejects(probe(check('/', pattern)), refusal('InvalidInput', JSON.stringify(pattern))));
    });
  }
});
