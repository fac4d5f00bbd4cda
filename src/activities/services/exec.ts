// Plain processes the host declares by command line, tracked by a pidfile. The process is started
// detached, leading its own process group, so it outlives the worker. It is identified by pid, start
// time and argv (process-identity.ts), and only a process matching all three is ever signalled.
import { spawn } from 'node:child_process';
import type { FileHandle } from 'node:fs/promises';
import { sleep } from '@temporalio/activity';
import type { z } from 'zod';
import type { execService } from '../../workflows/inputs';
import type { CommandRecord } from '../../workflows/report';
import { runCommand } from '../commands';
import { invalidInput, notYet, safetyViolation } from '../failures';
import { reportProgress } from '../progress';
import { identifySpawned, matchLive, readPidFile, readStat, type ProcessIdentity } from './process-identity';
import { abandonPidFile, commitPidFile, openLog, preparePidFile } from './service-files';
import type { ServiceControl, ServiceStatus } from './types';

type ExecSpec = z.output<typeof execService>;

const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The environment a service starts with. Not the worker's own: that holds Temporal credentials,
 * NODE_OPTIONS and the like. A fixed PATH, the worker's LANG, TZ and HOME if set, then the spec's
 * `env` (declared in the host's services file, so trusted; it may override these).
 */
export function childEnvironment(spec: Pick<ExecSpec, 'env'>): Record<string, string> {
  const env: Record<string, string> = { PATH: SAFE_PATH };
  for (const key of ['LANG', 'TZ', 'HOME']) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return { ...env, ...spec.env };
}

/** What the pidfile says, checked against the live process. Only `identity` set means "ours, running". */
interface Inspection {
  status: ServiceStatus;
  identity?: ProcessIdentity;
  /** A bare-pid pidfile (older format) naming a live process: it may be ours, but can't be proven. */
  unprovenLive?: boolean;
}

/** Signals the process `identity` names if it still is that process; false if it is gone. */
async function signalIfOurs(identity: ProcessIdentity, signal: NodeJS.Signals): Promise<boolean> {
  const match = await matchLive(identity);
  if (!match.ours) return false;
  // Its group only if it leads one (we start it detached, so it does, and its children are in it);
  // a process that moved to another group is signalled alone, never someone else's group.
  const target = match.stat.pgid === identity.pid ? -identity.pid : identity.pid;
  try {
    process.kill(target, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
  return true;
}

export function execControl(spec: ExecSpec): ServiceControl {
  const notOurs = (why: string) => `${why}; not ours, nothing is signalled`;

  async function inspect(): Promise<Inspection> {
    const { pidFile } = spec;
    const state = await readPidFile(pidFile);
    if (state.kind === 'absent') return { status: { running: false, detail: `no pid in ${pidFile}` } };
    if (state.kind === 'refused') return { status: { running: false, detail: notOurs(`pidfile ${pidFile} ${state.reason}`) } };
    const contents = state.contents;
    if (contents.kind === 'unknown') return { status: { running: false, detail: notOurs(`pidfile ${pidFile} is not a pidfile of ours (${contents.reason})`) } };
    if (contents.kind === 'legacy') {
      const { pid } = contents;
      if (!(await readStat(pid))) return { status: { running: false, pid, detail: `no live process for pid ${pid}` } };
      const detail = notOurs(`pidfile ${pidFile} holds a bare pid ${pid} (older format, no start time), so pid ${pid} can't be identified`);
      return { status: { running: false, pid, detail }, unprovenLive: true };
    }
    const { identity } = contents;
    const match = await matchLive(identity);
    if (!match.ours) return { status: { running: false, pid: identity.pid, detail: match.reason } };
    return { status: { running: true, pid: identity.pid, detail: `pid ${identity.pid} alive` }, identity };
  }

  async function status(): Promise<ServiceStatus> {
    return (await inspect()).status;
  }

  /** True once `identity` no longer names a live process (it exited, or its pid now is another's). */
  async function waitExit(identity: ProcessIdentity, ms: number): Promise<boolean> {
    for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(200)) {
      if (!(await matchLive(identity)).ours) return reaped(identity);
      reportProgress({ waitingForExit: identity.pid });
    }
    if ((await matchLive(identity)).ours) return false;
    return reaped(identity);
  }

  /**
   * An exited process stays a zombie until its parent reaps it; usually the parent is this worker,
   * which does so at once. Wait a moment for that, so a pid reported gone is gone for `kill -0` too;
   * a parent that never reaps doesn't hold the stop up for longer.
   */
  async function reaped(identity: ProcessIdentity): Promise<true> {
    for (const deadline = Date.now() + 1000; Date.now() < deadline; await sleep(20)) {
      const zombie = await readStat(identity.pid, { zombie: true });
      if (zombie?.startTime !== identity.startTime) break;
    }
    return true;
  }

  async function stop() {
    const { status: before, identity } = await inspect();
    if (!before.running || !identity) return { already: true, commands: [] };
    const { pid } = identity;
    const commands: CommandRecord[] = [];
    if (spec.stop) {
      const record = await runCommand(spec.stop, spec.stopTimeoutSeconds * 1000, { env: childEnvironment(spec), cwd: spec.cwd });
      commands.push(record);
      if (record.exitCode !== 0) throw notYet(`stop command for ${spec.name} exited ${record.exitCode}`, record);
    } else {
      await signalIfOurs(identity, 'SIGTERM');
    }
    if (!(await waitExit(identity, spec.stopTimeoutSeconds * 1000))) {
      await signalIfOurs(identity, 'SIGKILL');
      if (!(await waitExit(identity, 5000))) throw notYet(`pid ${pid} of ${spec.name} survived SIGKILL`);
      return { already: false, pid, commands, escalated: 'SIGKILL' };
    }
    return { already: false, pid, commands };
  }

  async function start() {
    const before = await inspect();
    if (before.status.running) return { already: true, pid: before.status.pid, commands: [] };
    // Starting now could run a second copy beside an old one we can't identify (and so can't stop).
    if (before.unprovenLive) throw safetyViolation(`exec service ${spec.name}: ${before.status.detail}; stop pid ${before.status.pid} by hand and remove the pidfile, or wait for it to exit`);

    // Both files are checked and opened before anything runs: a refusal leaves nothing started.
    const pending = await preparePidFile(spec.pidFile);
    let log: FileHandle | undefined;
    try {
      log = spec.logFile ? await openLog(spec.logFile) : undefined;
    } catch (err) {
      await abandonPidFile(pending);
      throw err;
    }
    const [program, ...args] = spec.start;
    const started = Date.now();
    let pid: number;
    try {
      const child = spawn(program!, args, {
        cwd: spec.cwd,
        env: childEnvironment(spec),
        detached: true,
        stdio: ['ignore', log?.fd ?? 'ignore', log?.fd ?? 'ignore'],
      });
      pid = await new Promise<number>((resolve, reject) => {
        child.once('spawn', () => resolve(child.pid!));
        child.once('error', reject);
      });
      child.unref();
    } catch (err) {
      await abandonPidFile(pending);
      const code = (err as NodeJS.ErrnoException).code;
      throw invalidInput(`exec service ${spec.name}: cannot start ${program}${spec.cwd ? ` in ${spec.cwd}` : ''} (${code ?? (err as Error).message})`);
    } finally {
      await log?.close();
    }

    // Written at once, so a retry after a crash finds this process instead of starting a second one.
    const identity = await identifySpawned(pid, spec.start);
    if (!identity) {
      await abandonPidFile(pending); // exited and reaped already: nothing to track
    } else {
      try {
        await commitPidFile(pending, identity);
      } catch (err) {
        // The pidfile changed under us into something not ours: don't leave an untracked process.
        await signalIfOurs(identity, 'SIGKILL');
        throw err;
      }
    }
    const record: CommandRecord = { command: spec.start, exitCode: null, stdout: '', stderr: spec.logFile ? `output in ${spec.logFile}` : '', durationMs: Date.now() - started };
    return { already: false, pid, commands: [record] };
  }

  return { status, stop, start };
}
