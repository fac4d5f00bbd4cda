// Plain processes the operator names by command line, tracked by a pidfile. The process is started
// detached in its own process group, so it outlives the worker, and stopped by signalling the group.
import { spawn } from 'node:child_process';
import { mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { sleep } from '@temporalio/activity';
import type { z } from 'zod';
import type { execService } from '../../workflows/inputs';
import type { CommandRecord } from '../../workflows/report';
import { runCommand } from '../commands';
import { notYet, safetyViolation } from '../failures';
import { reportProgress } from '../progress';
import type { ServiceControl, ServiceStatus } from './types';

type ExecSpec = z.output<typeof execService>;

/**
 * Programs a run may start. Runbook input can come from chat, so the worker's host decides what may
 * run on it: RUNBOOK_EXEC_ALLOW lists programs (colon-separated); by default only Node itself.
 */
export function allowedPrograms(): string[] {
  const configured = process.env.RUNBOOK_EXEC_ALLOW;
  return configured ? configured.split(':').filter(Boolean) : [process.execPath, 'node'];
}

function checkAllowed(command: string[] | undefined, name: string): void {
  const program = command?.[0];
  if (program !== undefined && !allowedPrograms().includes(program)) {
    throw safetyViolation(`exec service ${name}: program ${program} is not allowed on this host (set RUNBOOK_EXEC_ALLOW on the worker)`);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readPid(pidFile: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(pidFile, 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export function execControl(spec: ExecSpec): ServiceControl {
  checkAllowed(spec.start, spec.name);
  checkAllowed(spec.stop, spec.name);

  async function status(): Promise<ServiceStatus> {
    const pid = await readPid(spec.pidFile);
    if (pid === undefined) return { running: false, detail: `no pid in ${spec.pidFile}` };
    if (!isAlive(pid)) return { running: false, pid, detail: `no live process for pid ${pid}` };
    // A stale pidfile may name a pid the kernel has since given to another program: never signal that.
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
    const ours = spec.start.slice(0, 2).map((token) => basename(token));
    if (cmdline !== undefined && !ours.some((token) => cmdline.includes(token))) {
      return { running: false, pid, detail: `pid ${pid} is now another program (${cmdline.split('\0').join(' ').trim().slice(0, 200)})` };
    }
    return { running: true, pid, detail: `pid ${pid} alive` };
  }

  async function waitExit(pid: number, ms: number): Promise<boolean> {
    for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(200)) {
      if (!isAlive(pid)) return true;
      reportProgress({ waitingForExit: pid });
    }
    return !isAlive(pid);
  }

  async function stop() {
    const before = await status();
    if (!before.running || before.pid === undefined) return { already: true, commands: [] };
    const pid = before.pid;
    const commands: CommandRecord[] = [];
    if (spec.stop) {
      const record = await runCommand(spec.stop, spec.stopTimeoutSeconds * 1000);
      commands.push(record);
      if (record.exitCode !== 0) throw notYet(`stop command for ${spec.name} exited ${record.exitCode}`, record);
    } else {
      signalGroup(pid, 'SIGTERM');
    }
    if (!(await waitExit(pid, spec.stopTimeoutSeconds * 1000))) {
      signalGroup(pid, 'SIGKILL');
      if (!(await waitExit(pid, 5000))) throw notYet(`pid ${pid} of ${spec.name} survived SIGKILL`);
      return { already: false, pid, commands, escalated: 'SIGKILL' };
    }
    return { already: false, pid, commands };
  }

  async function start() {
    const before = await status();
    if (before.running) return { already: true, pid: before.pid, commands: [] };
    await mkdir(dirname(spec.pidFile), { recursive: true });
    const log = spec.logFile ? await open(spec.logFile, 'a') : undefined;
    const [program, ...args] = spec.start;
    const started = Date.now();
    const child = spawn(program!, args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      detached: true,
      stdio: ['ignore', log?.fd ?? 'ignore', log?.fd ?? 'ignore'],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', reject);
    }).finally(() => log?.close());
    child.unref();
    // Written at once, so a retry after a crash finds this process instead of starting a second one.
    const temp = `${spec.pidFile}.${process.pid}.tmp`;
    await writeFile(temp, `${pid}\n`);
    await rename(temp, spec.pidFile);
    const record: CommandRecord = { command: spec.start, exitCode: null, stdout: '', stderr: spec.logFile ? `output in ${spec.logFile}` : '', durationMs: Date.now() - started };
    return { already: false, pid, commands: [record] };
  }

  return { status, stop, start };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal); // the whole group: shells and workers the service forked
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}
