// git plumbing for the LFS store: where the repository and its git directory are, and blobs read
// in bulk (one `git cat-file` for many). Engine code: git via execa; no Temporal.
import { existsSync, lstatSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { NotAGitRepositoryError } from './errors';

/** git output can be large for big trees and histories; execa's default limit is 100 MB. */
const MAX_GIT_OUTPUT = 1024 * 1024 * 1024;

/**
 * The repository is data from a runbook's input, and its config could name programs for git to run
 * (an fsmonitor, hooks): read-only git never needs either, so both are switched off.
 */
const UNTRUSTED_REPO = ['-c', 'core.fsmonitor=false', '-c', 'core.hooksPath=/dev/null'];

/** git's stdout as text (`input` on its stdin); throws execa's error on a non-zero exit. */
export async function git(cwd: string, args: string[], input?: string): Promise<string> {
  const result = await execa('git', [...UNTRUSTED_REPO, ...args], { cwd, input, maxBuffer: MAX_GIT_OUTPUT, stripFinalNewline: false, env: { GIT_TERMINAL_PROMPT: '0' } });
  return result.stdout;
}

async function gitBytes(cwd: string, args: string[], input: string): Promise<Uint8Array> {
  const result = await execa('git', [...UNTRUSTED_REPO, ...args], { cwd, input, encoding: 'buffer', maxBuffer: MAX_GIT_OUTPUT, env: { GIT_TERMINAL_PROMPT: '0' } });
  return result.stdout;
}

function gitFailure(err: unknown): string {
  const e = err as { stderr?: unknown; code?: unknown; shortMessage?: unknown; message?: unknown };
  if (e.code === 'ENOENT') return 'git is not installed or not on PATH';
  const stderr = typeof e.stderr === 'string' ? e.stderr.trim() : '';
  return stderr || String(e.shortMessage ?? e.message ?? err);
}

/** The top level of the working tree that contains `dir` (`git rev-parse --show-toplevel`), an absolute path. */
export async function gitTopLevel(dir: string): Promise<string> {
  try {
    return (await git(dir, ['rev-parse', '--show-toplevel'])).trim();
  } catch (err) {
    throw new NotAGitRepositoryError(dir, gitFailure(err));
  }
}

/**
 * The absolute git directory that holds the LFS store (`<gitDir>/lfs/objects`) for `repoRoot`:
 * `git rev-parse --git-common-dir`, which is `.git` for a plain clone and the main repository's
 * git dir for a linked worktree (git-lfs keeps one store per repository). A custom `lfs.storage`
 * setting is not followed.
 */
export async function gitDir(repoRoot: string): Promise<string> {
  const plain = plainGitDir(repoRoot);
  if (plain) return plain;
  try {
    return resolve(repoRoot, (await git(repoRoot, ['rev-parse', '--git-common-dir'])).trim());
  } catch (err) {
    throw new NotAGitRepositoryError(repoRoot, gitFailure(err));
  }
}

/**
 * `<repoRoot>/.git` when it is an ordinary repository's git directory (HEAD, objects and refs in it,
 * no `commondir`: not a linked worktree's) and no GIT_* variable redirects git: what git itself
 * would answer, without starting it (a process start costs more than a small restore's copies).
 */
function plainGitDir(repoRoot: string): string | undefined {
  if (process.env.GIT_DIR || process.env.GIT_COMMON_DIR || process.env.GIT_WORK_TREE) return undefined;
  const dir = resolve(repoRoot, '.git');
  try {
    if (!lstatSync(dir).isDirectory() || !lstatSync(join(dir, 'HEAD')).isFile()) return undefined;
    if (!statSync(join(dir, 'objects')).isDirectory() || !statSync(join(dir, 'refs')).isDirectory()) return undefined;
  } catch {
    return undefined;
  }
  return existsSync(join(dir, 'commondir')) ? undefined : dir;
}

/** The contents of the blobs, by oid, from one `git cat-file --batch`. */
export async function catBlobs(repoRoot: string, oids: Set<string>): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  if (!oids.size) return out;
  const buf = await gitBytes(repoRoot, ['cat-file', '--batch'], [...oids].join('\n') + '\n');
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) break;
    const header = new TextDecoder().decode(buf.subarray(pos, nl)).split(' ');
    pos = nl + 1;
    if (header.length !== 3) continue; // "<oid> missing"
    const size = Number(header[2]);
    if (header[1] === 'blob') out.set(header[0]!, buf.subarray(pos, pos + size));
    pos += size + 1;
  }
  return out;
}

/** The sizes of the objects, by oid, from one `git cat-file --batch-check`. */
export async function catBlobSizes(repoRoot: string, oids: Set<string>): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (!oids.size) return out;
  const text = await git(repoRoot, ['cat-file', '--batch-check'], [...oids].join('\n') + '\n');
  for (const line of text.split('\n')) {
    const [oid, type, size] = line.split(' ');
    if (oid && type === 'blob') out.set(oid, Number(size));
  }
  return out;
}
