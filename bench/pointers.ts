// findPointers benchmark (moved here from test/engines/lfs-store.test.ts, which asserted < 3 s):
// 3,000 paths whose LFS pointers are at HEAD, and the same paths deleted at HEAD (found in history),
// against git itself doing the lookups findPointers needs, in the same number of processes.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { findPointers } from '../src/engines/lfs/store';
import { formatLfsPointer } from '../src/format/lfs/pointer';
import type { Variant } from './harness';

export const HEAD_OURS = 'ours: findPointers (at HEAD)';
export const HEAD_GIT = 'git ls-tree + cat-file --batch';
export const HISTORY_OURS = 'ours: findPointers (in history)';
export const HISTORY_GIT = 'git ls-tree + log --raw + cat-file --batch-check + --batch';

export interface PointersCase {
  count: number;
  buildMs: number;
  head: Variant[];
  history: Variant[];
  cleanup(): Promise<void>;
}

const git = async (cwd: string, args: string[], input?: string) =>
  (await execa('git', args, { cwd, input, maxBuffer: 1024 ** 3, env: { GIT_TERMINAL_PROMPT: '0' } })).stdout;

/** Two repositories with `count` pointer files in 7 directories: one has them at HEAD, one deleted them. */
export async function pointersCase(count: number): Promise<PointersCase> {
  const started = performance.now();
  const paths = Array.from({ length: count }, (_, i) => `store/${String(i % 7)}/obj-${i}.bin`);
  const repos: string[] = [];
  const build = async (deleteAtHead: boolean) => {
    const repo = await mkdtemp(join(tmpdir(), 'bench-pointers-'));
    repos.push(repo);
    await git(repo, ['init', '--quiet', '-b', 'main']);
    await git(repo, ['config', 'user.name', 'bench']);
    await git(repo, ['config', 'user.email', 'bench@example.invalid']);
    for (const p of paths) {
      await mkdir(join(repo, dirname(p)), { recursive: true });
      await writeFile(join(repo, p), formatLfsPointer({ oid: createHash('sha256').update(p).digest('hex'), size: p.length * 1000 }));
    }
    await git(repo, ['add', '-A']);
    await git(repo, ['commit', '--quiet', '-m', 'pointers']);
    if (deleteAtHead) {
      await git(repo, ['rm', '-r', '--quiet', 'store']);
      await git(repo, ['commit', '--quiet', '-m', 'gone']);
    } else {
      await rm(join(repo, 'store'), { recursive: true }); // gone from the working tree only, as in the incident
    }
    return repo;
  };
  const atHead = await build(false);
  const inHistory = await build(true);
  const buildMs = performance.now() - started;
  const dirs = [...new Set(paths.map((p) => dirname(p)))];

  const ours = (name: string, repo: string, source: string): Variant => ({
    name,
    run: async () => {
      const found = await findPointers(repo, paths);
      if (found.size !== count || [...found.values()].some((f) => f.source !== source)) throw new Error(`${name}: found ${found.size} of ${count} from ${source}`);
    },
  });

  /** The blob contents by `git cat-file --batch`, checked to be `n` pointers. */
  const catPointers = async (repo: string, blobs: string[]) => {
    const out = await git(repo, ['cat-file', '--batch'], blobs.join('\n') + '\n');
    const n = out.split('version https://git-lfs.github.com/spec/v1\n').length - 1;
    if (n < blobs.length) throw new Error(`cat-file: ${n} pointers in ${blobs.length} blobs`);
  };

  const gitAtHead: Variant = {
    name: HEAD_GIT,
    run: async () => {
      const listing = await git(atHead, ['ls-tree', '-r', '-l', '-z', '--full-tree', 'HEAD', '--', ...dirs]);
      const blobs = listing.split('\0').filter(Boolean).map((e) => e.split(/[ \t]+/)[2]!);
      if (blobs.length !== count) throw new Error(`ls-tree listed ${blobs.length} of ${count}`);
      await catPointers(atHead, blobs);
    },
  };

  const gitInHistory: Variant = {
    name: HISTORY_GIT,
    run: async () => {
      // What findPointers asks git for when the paths are gone at HEAD: HEAD's tree (nothing there),
      // the commits that added them, their blobs' sizes, then the small blobs' contents.
      await git(inHistory, ['ls-tree', '-r', '-l', '-z', '--full-tree', 'HEAD', '--', ...dirs]);
      const log = await git(inHistory, ['log', '--all', '--reflog', '--no-renames', '--raw', '--no-abbrev', '-z', '--format=%x01%H', '--diff-filter=AMT', '--', ...dirs]);
      const blobs = [...new Set(log.split('\0').filter((t) => t.replace(/^\n/, '').startsWith(':')).map((t) => t.split(' ')[3]!))];
      if (blobs.length !== count) throw new Error(`log --raw listed ${blobs.length} of ${count}`);
      await git(inHistory, ['cat-file', '--batch-check'], blobs.join('\n') + '\n');
      await catPointers(inHistory, blobs);
    },
  };

  return {
    count,
    buildMs,
    head: [ours(HEAD_OURS, atHead, 'head'), gitAtHead],
    history: [ours(HISTORY_OURS, inHistory, 'history'), gitInHistory],
    cleanup: async () => {
      for (const repo of repos) await rm(repo, { recursive: true, force: true });
    },
  };
}
