// A volume folder as one tar file, written and hashed in one pass: GNU tar's output is piped into
// the file through a sha256, so no byte is read twice. The child's output is consumed as streams
// (the seed's heartbeat logger busy-looped polling a finished child's stdout). Engine code:
// node:child_process, node:stream, node:crypto and node:fs; no Temporal.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open, realpath, rm, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AbortError, throwIfAborted } from '../lfs/errors';
import { fsyncDir, fsyncPath, progressEvery } from '../lfs/file-io';
import { BackupRefusedError } from './precheck';

/** tar could not archive `dir`, or its archive could not be written; `detail` ends with tar's own last words. */
export class TarError extends Error {
  override name = 'TarError' as const;
  constructor(
    readonly dir: string,
    readonly detail: string,
    readonly exitCode?: number | null,
  ) {
    super(`tar of ${dir}: ${detail}`);
  }
}

export interface TarOptions {
  signal?: AbortSignal;
  /** The archive's bytes so far, each time another 64 MiB is written: for heartbeats. */
  onProgress?: (bytes: number) => void;
}

/** tar's stderr kept for the error: its last lines are what it has to say. */
const STDERR_TAIL = 4096;

/**
 * `tar --create` of `dir` (symlinks in its path resolved; entries are `<name>/…`) into `destFile`,
 * which must not exist, with the sha256 of the archive. Any non-zero exit of tar is a failure,
 * including 1 ("file changed as we read it": the archive may not hold what the folder held). The
 * archive is fsynced; on failure or abort tar is killed and the partial archive removed.
 */
export async function tarDirectory(dir: string, destFile: string, options: TarOptions = {}): Promise<{ bytes: number; sha256: string; durationMs: number }> {
  const { signal, onProgress } = options;
  const started = performance.now();
  throwIfAborted(signal, `tar of ${dir}`);
  const real = await realpath(dir).catch((err: Error) => {
    throw new TarError(dir, `cannot read it: ${err.message}`);
  });
  if (!(await stat(real)).isDirectory()) throw new TarError(dir, 'not a folder');
  if (real === '/') throw new TarError(dir, 'refusing to archive the root folder');
  const dest = resolve(destFile);
  const out = await open(dest, 'wx').catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'EEXIST' ? new BackupRefusedError(`${dest} exists: a backup never overwrites a file`) : new TarError(dir, `cannot create ${dest}: ${err.message}`);
  });

  // `--` ends the options: a folder named `-x` or `--to-command=…` is only a name.
  const child = spawn('tar', ['--create', '--file=-', `--directory=${dirname(real)}`, '--', basename(real)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_TAIL);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((done) => {
    child.once('error', (error) => done({ code: null, signal: null, error }));
    child.once('close', (code, sig) => done({ code, signal: sig }));
  });
  const kill = () => child.kill('SIGKILL');
  signal?.addEventListener('abort', kill, { once: true });

  const hash = createHash('sha256');
  const progress = progressEvery(onProgress);
  let bytes = 0;
  let ok = false;
  try {
    const written = pipeline(
      child.stdout,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          hash.update(chunk);
          bytes += chunk.length;
          progress(bytes);
          yield chunk;
        }
      },
      out.createWriteStream(), // closes the handle when it finishes or is destroyed
      { signal },
    ).then(
      () => undefined,
      (err: Error) => {
        kill(); // tar would otherwise block on a pipe nobody reads
        return err;
      },
    );
    const [writeError, exit] = await Promise.all([written, exited]);
    throwIfAborted(signal, `tar of ${dir}`);
    if (exit.error) throw new TarError(dir, `cannot run tar: ${exit.error.message}`);
    if (writeError) throw new TarError(dir, `writing ${dest}: ${writeError.message}`);
    if (exit.code !== 0) {
      const said = stderr.trim().split('\n').slice(-5).join(' | ');
      throw new TarError(dir, `${exit.code === null ? `tar was killed by ${exit.signal}` : `tar exited ${exit.code}`}${said ? `: ${said}` : ''}`, exit.code);
    }
    await fsyncPath(dest);
    ok = true;
  } catch (err) {
    if (signal?.aborted && !(err instanceof AbortError)) throw new AbortError(`tar of ${dir}`, signal.reason);
    throw err;
  } finally {
    signal?.removeEventListener('abort', kill);
    if (child.exitCode === null && child.signalCode === null) kill();
    if (!ok) await rm(dest, { force: true });
  }
  await fsyncDir(dirname(dest));
  return { bytes, sha256: hash.digest('hex'), durationMs: Math.round(performance.now() - started) };
}
