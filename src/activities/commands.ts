// Running operator commands: argv arrays (never a shell), a timeout, heartbeats while waiting, and
// the output kept for the report.
import { execa } from 'execa';
import type { CommandRecord } from '../workflows/report';
import { cancellationSignal, heartbeatWhile } from './progress';

const KEEP_CHARS = 4000;
const tail = (text: string) => (text.length > KEEP_CHARS ? `…${text.slice(-KEEP_CHARS)}` : text);

/**
 * Runs `command`. With `env`, the child gets exactly that environment (an operator's stop command
 * sees what its service sees, not the worker's credentials); without it, the worker's.
 */
export async function runCommand(command: string[], timeoutMs: number, { env, cwd }: { env?: Record<string, string>; cwd?: string } = {}): Promise<CommandRecord> {
  const [file, ...args] = command;
  if (!file) throw new Error('empty command');
  const started = Date.now();
  const result = await heartbeatWhile(
    // A cancelled run stops the command (SIGTERM, then SIGKILL) before its undo steps start.
    execa(file, args, { timeout: timeoutMs, reject: false, stdin: 'ignore', forceKillAfterDelay: 5000, cancelSignal: cancellationSignal(), ...(env ? { env, extendEnv: false } : {}), ...(cwd ? { cwd } : {}) }),
    { running: command.join(' ') },
  );
  if (result.isCanceled) throw cancellationSignal()?.reason;
  return {
    command,
    exitCode: result.exitCode ?? null,
    stdout: tail(String(result.stdout ?? '')),
    stderr: tail(String(result.stderr ?? '') + (result.timedOut ? `\n(timed out after ${timeoutMs} ms)` : '') + (result.failed && result.exitCode === undefined ? `\n${result.shortMessage}` : '')),
    durationMs: Date.now() - started,
  };
}
