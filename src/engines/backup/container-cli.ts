// The docker or podman CLI as the backup engine calls it: which command with which global options
// (so tests and hosts can point at their own storage), input checks before anything runs, one
// runner whose errors name the command (credentials masked), the exit code and the CLI's last words.
// Engine code: execa only, no Temporal. (src/activities/services/container.ts runs the same CLIs but
// through the activity context's runCommand, so it cannot serve here.)
import { mkdir, rm } from 'node:fs/promises';
import { execa } from 'execa';
import { AbortError } from '../lfs/errors';

export type ContainerEngine = 'docker' | 'podman';

export interface ContainerCli {
  engine: ContainerEngine;
  /** The command and its global options, e.g. `['podman', '--storage-driver', 'vfs', '--root', R, '--runroot', RR]`. */
  argv: string[];
}

/** An input refused before the CLI runs: a ref or project name that could be read as an option, an empty list, a bad ID. */
export class ContainerInputError extends Error {
  override name = 'ContainerInputError' as const;
}

/** The container CLI failed, timed out or could not be run. */
export class ContainerCliError extends Error {
  override name = 'ContainerCliError' as const;
  constructor(
    /** The command as run, credentials in URLs masked. */
    readonly command: string,
    /** undefined when it did not run or was killed by the timeout. */
    readonly exitCode: number | undefined,
    /** The CLI's last stderr lines. */
    readonly stderrTail: string,
    readonly timedOut: boolean,
  ) {
    super(`${command}: ${timedOut ? 'timed out' : exitCode === undefined ? 'did not run' : `exit ${exitCode}`}${stderrTail ? `: ${stderrTail}` : ''}`);
  }
}

export function checkCli(cli: ContainerCli): void {
  if (cli?.engine !== 'docker' && cli?.engine !== 'podman') throw new ContainerInputError(`container CLI engine ${JSON.stringify(cli?.engine)}: must be "docker" or "podman"`);
  if (!Array.isArray(cli.argv) || !cli.argv[0] || cli.argv.some((a) => typeof a !== 'string')) {
    throw new ContainerInputError(`container CLI argv ${JSON.stringify(cli.argv)}: must be a non-empty list of strings, the command first`);
  }
}

/**
 * An image ref, container or project name that goes on the command line. One starting with `-` would
 * be read as an option (`--output=/etc/passwd`), so it is refused even where `--` precedes it; control
 * characters and whitespace are in no valid ref and would garble the command shown in errors.
 */
export function checkArg(what: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '') throw new ContainerInputError(`${what} ${JSON.stringify(value)}: must be a non-empty string`);
  if (value.startsWith('-')) throw new ContainerInputError(`${what} ${JSON.stringify(value)}: may not start with "-" (it would be read as an option)`);
  if (/[\s\p{Cc}]/u.test(value)) throw new ContainerInputError(`${what} ${JSON.stringify(value)}: may not contain whitespace or control characters`);
}

/** `scheme://user:password@host` → `scheme://***@host`: a remote engine's URL may carry a password. */
const maskCredentials = (arg: string) => arg.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@');

export const commandText = (cli: ContainerCli, args: string[]) => [...cli.argv, ...args].map(maskCredentials).join(' ');

const TAIL_LINES = 6;
const TAIL_CHARS = 2000;

/** The CLI's last few stderr lines (podman's multi-line "Error: … * docker-archive: …" keeps its reasons). */
export function tailOf(stderr: string): string {
  const tail = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-TAIL_LINES)
    .join(' | ');
  return maskCredentials(tail.length > TAIL_CHARS ? `…${tail.slice(-TAIL_CHARS)}` : tail);
}

export interface RunOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Runs `<argv> <args>` to its end and returns its stdout; AbortError once `signal` fires, ContainerCliError on any failure. */
export async function runCli(cli: ContainerCli, args: string[], { signal, timeoutMs, env }: RunOptions & { env?: Record<string, string> } = {}): Promise<string> {
  checkCli(cli);
  const [file, ...globals] = cli.argv as [string, ...string[]];
  const r = await execa(file, [...globals, ...args], {
    reject: false,
    stdin: 'ignore',
    cancelSignal: signal,
    timeout: timeoutMs,
    // SIGTERM first: podman removes its temp files (/var/tmp) on it; SIGKILL if it lingers.
    forceKillAfterDelay: 5000,
    maxBuffer: 64 * 1024 * 1024,
    env,
  });
  if (r.isCanceled) throw new AbortError(commandText(cli, args), signal?.reason);
  if (r.failed) throw cliError(cli, args, r);
  return r.stdout;
}

/**
 * podman stages each layer it saves or loads as a whole temp file under TMPDIR (default /var/tmp,
 * often on the small root disk) and leaves it there when it is killed, by SIGTERM too (measured,
 * 4.3.1). So the CLI runs with TMPDIR set to `dir`, a folder of ours made empty first (a killed
 * attempt's leftovers go) and removed afterwards whatever happened. docker's CLI stages nothing.
 */
export async function withEngineTemp<T>(dir: string, run: (env: { TMPDIR: string }) => Promise<T>): Promise<T> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { mode: 0o700 });
  try {
    return await run({ TMPDIR: dir });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** ContainerCliError from an execa result that failed. */
export function cliError(cli: ContainerCli, args: string[], r: { exitCode?: number; stderr?: unknown; timedOut: boolean; shortMessage?: string }): ContainerCliError {
  const stderr = typeof r.stderr === 'string' ? r.stderr : '';
  const reason = tailOf(stderr) || (r.exitCode === undefined ? tailOf(r.shortMessage ?? '') : '');
  return new ContainerCliError(commandText(cli, args), r.timedOut ? undefined : r.exitCode, reason, r.timedOut);
}

/**
 * Records from `--format json`: podman prints one JSON array, docker one object per line. An
 * output that is neither is a ContainerCliError (the engine answered something we cannot read).
 */
export function parseJsonRecords(cli: ContainerCli, args: string[], stdout: string): Record<string, unknown>[] {
  const text = stdout.trim();
  if (text === '') return [];
  try {
    const values: unknown[] = text.startsWith('[') ? JSON.parse(text) : text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    if (values.every((v) => typeof v === 'object' && v !== null && !Array.isArray(v))) return values as Record<string, unknown>[];
  } catch {
    /* reported below */
  }
  throw new ContainerCliError(commandText(cli, args), 0, `printed no JSON records: ${text.slice(0, 200)}`, false);
}

/**
 * An image ID as `sha256:<64 hex>`: podman prints bare hex, docker the prefixed form, so both sides
 * of a comparison go through this. Anything else (a short ID, a ref) is refused.
 */
export function normalizeImageId(id: unknown): string {
  const m = typeof id === 'string' ? /^(?:sha256:)?([0-9a-f]{64})$/.exec(id.trim().toLowerCase()) : null;
  if (!m) throw new ContainerInputError(`image ID ${JSON.stringify(id)}: must be 64 hex digits, optionally prefixed "sha256:"`);
  return `sha256:${m[1]}`;
}
