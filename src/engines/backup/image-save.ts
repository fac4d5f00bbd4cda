// `save` of images into an archive file that we write and hash as the bytes arrive.
//
// Measured with podman 4.3.1 (vfs), pinned by test/engines/backup-images.test.ts:
// - `save a b` without `-m` writes only a's image and tags it b as well: loading that archive
//   tags b onto the wrong image. With `-m` (docker-archive only) each ref is its own image.
// - before a layer's first byte reaches the archive, podman copies the whole layer to a temp file
//   under TMPDIR (see withEngineTemp): a 256 MiB layer gave its first byte after 0.9 s of a 3.0 s
//   save, so a watcher must not take a pause in the bytes for a hang.
// - the archive is the same bytes each time (entries dated 1970), so equal images hash equal.
import { createHash } from 'node:crypto';
import { lstat, open, readdir, rename } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { AbortError, throwIfAborted } from '../lfs/errors';
import { CHUNK, PROGRESS_BYTES, fsyncDir, fsyncFd, rmQuietly, writeAllAt } from '../lfs/file-io';
import { checkArg, checkCli, cliError, commandText, ContainerCliError, ContainerInputError, withEngineTemp, type ContainerCli, type RunOptions } from './container-cli';

/** The archive's path exists already: a backup never overwrites a file. */
export class ImageArchiveExistsError extends Error {
  override name = 'ImageArchiveExistsError' as const;
}

export interface SaveOptions extends RunOptions {
  /** Called with the bytes written so far each time `progressBytes` more are written, and once at the end. */
  onProgress?: (bytes: number) => void;
  /** Default 64 MiB (PROGRESS_BYTES), as the other long copies. */
  progressBytes?: number;
  /**
   * Called while podman stages layers in `<dest>.tmp/` before the archive's first bytes, with the
   * staged bytes whenever they grew (looked at every 2 s): a long silent start is progress too,
   * and a stage that stops growing is not.
   */
  onStaging?: (bytes: number) => void;
}

/** Bytes of the regular files under `dir` (0 if it is gone). */
async function bytesUnder(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (e.isFile()) total += await lstat(join(e.parentPath, e.name)).then((i) => i.size, () => 0);
  }
  return total;
}

export interface SavedArchive {
  file: string;
  bytes: number;
  sha256: string;
  durationMs: number;
}

/**
 * `save` of `refs` into `destFile`, which must not exist. The CLI writes the archive to its stdout
 * and we write it to the file, not `save -o <path>`: `-o` is a path in the CLI's own file system,
 * which is not ours when the CLI runs in another container or against a remote engine (the seed's
 * missing images.tar); streaming also hashes the bytes as they pass (no second read of gigabytes)
 * and counts them for progress without polling the file.
 *
 * Beside `destFile` while it runs: `<destFile>.part` (the bytes), fsynced and renamed to `destFile`
 * only when the CLI succeeded, so `destFile` is only ever complete; `<destFile>.tmp/`, podman's
 * staging (so it needs the space where the archive goes, not on /var/tmp). Both are ours: a killed
 * attempt's are replaced, and on abort or failure the child is killed and both removed.
 */
export async function saveImages(cli: ContainerCli, refs: string[], destFile: string, options: SaveOptions = {}): Promise<SavedArchive> {
  const { signal, timeoutMs, onProgress, onStaging, progressBytes = PROGRESS_BYTES } = options;
  checkCli(cli);
  if (!Array.isArray(refs) || refs.length === 0) throw new ContainerInputError(`saving images to ${destFile}: no image refs given`);
  for (const ref of refs) checkArg('image ref', ref);
  if (typeof destFile !== 'string' || destFile === '') throw new ContainerInputError(`archive path ${JSON.stringify(destFile)}: must be a non-empty path`);
  const dest = resolve(destFile);
  const what = `saving ${refs.join(' ')} to ${dest}`;
  throwIfAborted(signal, what);
  if (await lstat(dest).then(() => true, () => false)) throw new ImageArchiveExistsError(`${dest} exists: a backup never overwrites a file`);

  // -m: without it podman keeps only the first image and tags it with the other refs (see top).
  const args = ['save', ...(cli.engine === 'podman' ? ['-m'] : []), '--', ...refs];
  const [file, ...globals] = cli.argv as [string, ...string[]];
  const part = `${dest}.part`;
  const started = Date.now();
  const hash = createHash('sha256');
  let bytes = 0;
  let staged = 0;
  const staging = onStaging
    ? setInterval(() => {
      void bytesUnder(`${dest}.tmp`).then((now) => {
        if (now > staged) onStaging((staged = now));
      });
    }, 2000)
    : undefined;
  try {
  await withEngineTemp(`${dest}.tmp`, async (env) => {
    const fh = await open(part, 'w', 0o600);
    const child = execa(file, [...globals, ...args], {
      reject: false,
      stdin: 'ignore',
      buffer: { stdout: false },
      cancelSignal: signal,
      timeout: timeoutMs,
      forceKillAfterDelay: 5000,
      env,
    });
    try {
      let reported = 0;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      // Pipe chunks are 64 KiB; writes go out in 1 MiB pieces, at the offset they belong at.
      const flush = async () => {
        if (pendingBytes === 0) return;
        const piece = Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        await writeAllAt(fh.fd, piece, bytes - piece.length);
      };
      // Waits for the pipe's next chunk (no polling); the stream ends when the child exits or is killed.
      for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
        throwIfAborted(signal, what);
        hash.update(chunk);
        pending.push(chunk);
        pendingBytes += chunk.length;
        bytes += chunk.length;
        if (pendingBytes >= CHUNK) await flush();
        if (onProgress && bytes - reported >= progressBytes) {
          reported = bytes;
          onProgress(bytes);
        }
      }
      await flush();
      const r = await child;
      if (r.isCanceled) throw new AbortError(what, signal?.reason);
      if (r.failed) throw cliError(cli, args, r);
      if (bytes === 0) throw new ContainerCliError(commandText(cli, args), 0, 'wrote an empty archive', false);
      const syncError = await fsyncFd(fh.fd);
      if (syncError) throw syncError;
      await fh.close();
      await rename(part, dest);
      await fsyncDir(dirname(dest));
    } catch (err) {
      child.kill();
      await child;
      await fh.close().catch(() => {});
      rmQuietly(part);
      throw signal?.aborted && (err as Error).name !== 'AbortError' ? new AbortError(what, signal.reason) : err;
    }
  });
  } finally {
    clearInterval(staging);
  }
  onProgress?.(bytes);
  return { file: dest, bytes, sha256: hash.digest('hex'), durationMs: Date.now() - started };
}
