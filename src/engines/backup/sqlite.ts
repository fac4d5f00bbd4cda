// SQLite databases for a backup, through Debian's `sqlite3` CLI: a copy made with SQLite's online
// backup API (`.backup`), and `PRAGMA integrity_check` on a file. Engine code: execa and node:fs.
//
// What sqlite3 3.40 does, measured on this machine (the test pins the copy's consistency, the
// immutable open, the exit codes and the messages):
// - `.backup` copies 100 pages a step, takes the read lock again for each step and restarts when
//   another process committed in between. Against a rollback-journal writer committing in a loop it
//   failed "database is locked" after its whole 10 s busy timeout. Inside a read transaction opened
//   first (BEGIN + a SELECT) it copies one snapshot with one lock: a WAL writer goes on meanwhile, a
//   rollback-journal writer waits (within its own busy timeout). A writer that holds its exclusive
//   lock nearly all the time (unpaced commits, ~5 ms of fsyncs each) still kept readers out for up
//   to 15 s: then the backup fails "database is locked", as it should, rather than hang.
// - A copy of a WAL-mode db is itself WAL-mode; opened `-readonly` it still gets `-wal` and `-shm`
//   files made beside it. `?immutable=1` opens it without making anything.
// - `sqlite3 file` creates a missing file; a `file:…?mode=rw` URI does not. Paths go in as URIs
//   (percent-encoded) and the copy's name is ours and plain, so no path is parsed by the shell.
// - Exit status is SQLite's error code for SQL errors (26 not a database, 11 malformed), 1 for
//   a file that cannot be opened or a lock not had in time.
import { randomBytes } from 'node:crypto';
import { link, lstat, open, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { AbortError } from '../lfs/errors';
import { fsyncDir, fsyncPath, rmQuietly } from '../lfs/file-io';
import { BackupRefusedError } from './precheck';

/** sqlite3 refused or failed on `file`; `detail` is sqlite3's own last words. */
export class SqliteError extends Error {
  override name = 'SqliteError' as const;
  constructor(
    readonly file: string,
    readonly detail: string,
    readonly exitCode?: number,
  ) {
    super(`sqlite3 on ${file}: ${detail}`);
  }
}

export interface SqliteBackupOptions {
  signal?: AbortSignal;
  /** The copy's bytes so far, sampled each second: for heartbeats. */
  onProgress?: (bytes: number) => void;
  /** How long to wait for a read lock another process holds (default 10 s) before failing "database is locked". */
  busyTimeoutMs?: number;
}

const SQLITE_CORRUPT = 11;

/** `path` as an SQLite URI: percent-encoded, `?`, `#` and `%` lose their meaning, so any path is just a path. */
const uri = (path: string, query: string) => `file:${path.split('/').map(encodeURIComponent).join('/')}?${query}`;

/** sqlite3's "Error: …" line (without "Error: "), else its last stderr line. */
function lastWords(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines.filter((l) => l.startsWith('Error: ')).at(-1) ?? lines.at(-1) ?? '';
  return line.replace(/^Error: /, '').slice(0, 2000);
}

async function sqlite3(file: string, args: string[], { signal, cwd }: { signal?: AbortSignal; cwd?: string }): Promise<string> {
  // No ~/.sqliterc (-init /dev/null), a fixed output mode, stop at the first error.
  const r = await execa('sqlite3', ['-batch', '-bail', '-init', '/dev/null', '-noheader', '-list', ...args], {
    reject: false,
    stdin: 'ignore',
    cwd,
    env: { LC_ALL: 'C' },
    cancelSignal: signal,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.isCanceled) throw new AbortError(`sqlite3 on ${file}`, signal?.reason);
  if (r.failed) throw new SqliteError(file, lastWords(typeof r.stderr === 'string' ? r.stderr : '') || r.shortMessage || 'failed', r.exitCode);
  return typeof r.stdout === 'string' ? r.stdout : '';
}

async function requireFile(path: string): Promise<void> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new SqliteError(path, err.code === 'ENOENT' ? 'no such file' : err.message);
  });
  if (!info.isFile()) throw new SqliteError(path, 'not a regular file');
}

const exists = (path: string) => lstat(path).then(() => true, () => false);

/**
 * A consistent copy of the database `db` at `dest` (a local folder: the seed's online backup hung
 * writing straight onto CIFS), made with SQLite's online backup API while other processes may
 * keep writing: the copy is the database as of one commit. `dest` must not exist; it appears only
 * complete and fsynced (written under a temporary name in its folder, then linked).
 */
export async function sqliteOnlineBackup(db: string, dest: string, options: SqliteBackupOptions = {}): Promise<{ bytes: number; durationMs: number }> {
  const { signal, onProgress, busyTimeoutMs = 10_000 } = options;
  const started = performance.now();
  const source = resolve(db);
  const target = resolve(dest);
  const dir = dirname(target);
  await requireFile(source);
  if (await exists(target)) throw new BackupRefusedError(`${target} exists: a backup never overwrites a file`);
  if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) throw new BackupRefusedError(`${dir}, the folder of ${target}, is not a folder`);
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) throw new RangeError(`busyTimeoutMs ${busyTimeoutMs}: must be a whole number of milliseconds`);
  const tmpName = `.sqlite-backup-${randomBytes(8).toString('hex')}.tmp`;
  const tmp = join(dir, tmpName);
  let done = false;
  const timer = onProgress && setInterval(() => void stat(tmp).then((s) => !done && onProgress(s.size), () => {}), 1000);
  timer?.unref();
  try {
    // One read transaction around the backup: it copies one snapshot instead of restarting at every commit.
    await sqlite3(source, [uri(source, 'mode=rw'), `.timeout ${busyTimeoutMs}`, 'BEGIN', 'SELECT count(*) FROM sqlite_schema', `.backup '${tmpName}'`, 'COMMIT'], { signal, cwd: dir });
    await fsyncPath(tmp);
    await link(tmp, target).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'EEXIST' ? new BackupRefusedError(`${target} appeared during the backup: a backup never overwrites a file`) : err;
    });
    await unlink(tmp);
    await fsyncDir(dir);
  } catch (err) {
    for (const suffix of ['', '-journal', '-wal', '-shm']) rmQuietly(tmp + suffix);
    throw err;
  } finally {
    done = true;
    if (timer) clearInterval(timer);
  }
  return { bytes: (await stat(target)).size, durationMs: Math.round(performance.now() - started) };
}

/**
 * `PRAGMA integrity_check` on `file`, opened read-only. A WAL-format file with no `-wal` beside it
 * (a copy nobody has open) is opened immutable, so nothing is made beside it; otherwise its WAL
 * counts. `ok` only when SQLite answers exactly "ok"; a file too damaged to check is not ok, with
 * sqlite3's words. Throws SqliteError for a missing file or one that is not a database.
 */
export async function integrityCheck(file: string, { signal }: { signal?: AbortSignal } = {}): Promise<{ ok: boolean; messages: string[] }> {
  const path = resolve(file);
  await requireFile(path);
  const header = Buffer.alloc(20);
  const fh = await open(path, 'r');
  try {
    await fh.read(header, 0, 20, 0);
  } finally {
    await fh.close();
  }
  const walFormat = header[18] === 2 && header[19] === 2;
  const quiet = walFormat && !(await exists(`${path}-wal`));
  try {
    const out = await sqlite3(path, ['-readonly', uri(path, quiet ? 'immutable=1' : 'mode=ro'), 'PRAGMA integrity_check'], { signal });
    const messages = out.split('\n').filter((l) => l.trim());
    return { ok: messages.length === 1 && messages[0] === 'ok', messages };
  } catch (err) {
    if (err instanceof SqliteError && err.exitCode === SQLITE_CORRUPT) return { ok: false, messages: [err.detail] };
    throw err;
  }
}
