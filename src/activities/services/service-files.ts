// The exec adapter's pidfile and log writes. Neither follows a symlink, and the pidfile rename never
// replaces a file the worker did not create: a pidfile path pointing at someone else's file (a link to
// /etc/passwd, a FIFO, a config file) is refused before anything is started.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fsyncDir } from '../../engines/lfs/file-io';
import { invalidInput, safetyViolation } from '../failures';
import { formatPidFile, readPidFile, type ProcessIdentity } from './process-identity';

/** A temp pidfile created (exclusively, 0600) before the process starts, renamed into place after. */
export interface PendingPidFile {
  pidFile: string;
  temp: string;
  fh: FileHandle;
}

/** Refuses (SafetyViolation naming the file) unless the pidfile is absent or a regular file of ours. */
async function checkReplaceable(pidFile: string): Promise<void> {
  const state = await readPidFile(pidFile);
  if (state.kind === 'absent') return;
  if (state.kind === 'refused') throw safetyViolation(`pidfile ${pidFile} ${state.reason}; the worker replaces only pidfiles it wrote`);
  if (state.contents.kind === 'unknown') {
    throw safetyViolation(`pidfile ${pidFile} is not a pidfile of ours (${state.contents.reason}); the worker replaces only pidfiles it wrote`);
  }
}

/** Checks the pidfile may be replaced and creates its temp file; call before starting anything. */
export async function preparePidFile(pidFile: string): Promise<PendingPidFile> {
  const dir = dirname(pidFile);
  await mkdir(dir, { recursive: true });
  await checkReplaceable(pidFile);
  // Random name + O_EXCL: a planted file or link at a predictable temp name can't be written through.
  const temp = join(dir, `.${basename(pidFile)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600).catch((err: NodeJS.ErrnoException) => {
    throw safetyViolation(`pidfile ${pidFile}: cannot create its temp file ${temp} (${err.code ?? err.message})`);
  });
  return { pidFile, temp, fh };
}

/** Writes `identity`, fsyncs, renames over the pidfile (re-checked: it may have changed since) and fsyncs the directory. */
export async function commitPidFile(pending: PendingPidFile, identity: ProcessIdentity): Promise<void> {
  try {
    await pending.fh.writeFile(formatPidFile(identity));
    await pending.fh.sync();
  } finally {
    await pending.fh.close();
  }
  try {
    await checkReplaceable(pending.pidFile);
  } catch (err) {
    await unlink(pending.temp).catch(() => {});
    throw err;
  }
  await rename(pending.temp, pending.pidFile);
  await fsyncDir(dirname(pending.pidFile));
}

export async function abandonPidFile(pending: PendingPidFile): Promise<void> {
  await pending.fh.close().catch(() => {});
  await unlink(pending.temp).catch(() => {});
}

/**
 * Opens the log for appending: created if missing (0640), never through a symlink, only a regular file.
 * O_NONBLOCK so a FIFO swapped in after the lstat can't hang the open (no reader: ENXIO); it has no
 * effect on a regular file, the only kind kept.
 */
export async function openLog(logFile: string): Promise<FileHandle> {
  const refuse = (reason: string) => safetyViolation(`log file ${logFile} ${reason}; refusing to write to it`);
  const existing = await lstat(logFile).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
  if (existing?.isSymbolicLink()) throw refuse('is a symlink');
  if (existing && !existing.isFile()) throw refuse('is not a regular file');
  const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
  let fh: FileHandle;
  try {
    fh = await open(logFile, flags, 0o640);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw refuse('is a symlink');
    if (code === 'ENXIO') throw refuse('is not a regular file');
    throw invalidInput(`log file ${logFile} cannot be opened (${code ?? (err as Error).message})`);
  }
  if (!(await fh.stat()).isFile()) {
    await fh.close();
    throw refuse('is not a regular file');
  }
  return fh;
}
