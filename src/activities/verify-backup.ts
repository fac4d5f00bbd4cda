// verifyBackup: a pack is a backup only if it restores. Every file is hashed again against
// manifest.json, every sqlite copy restored to a temp file and integrity-checked, and images.tar
// loaded by podman into a throwaway storage whose image IDs must be the manifest's. The manifest
// is read as untrusted: its paths must stay inside the pack.
import { copyFile, lstat, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { loadAndCompare } from '../engines/backup/images';
import { integrityCheck } from '../engines/backup/sqlite';
import { requireUnderDataRoots } from '../host/data-roots';
import { describeIssues } from '../workflows/inputs';
import { containerCli } from './backup';
import { invalidInput } from './failures';
import { sha256File } from './files';
import { cancellationSignal, heartbeatWhile, reportProgress } from './progress';

const manifestSchema = z.object({
  pack: z.string(),
  files: z.array(z.object({
    path: z.string().regex(/^(sqlite\/[^/]+|volumes\/[^/]+\.tar|images\.tar)$/, 'must be sqlite/<name>, volumes/<name>.tar or images.tar'),
    kind: z.enum(['sqlite', 'volume', 'images']),
    bytes: z.number().int().min(0),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  }).refine((f) => !f.path.includes('..'), { message: 'must stay inside the pack', path: ['path'] })),
  images: z.array(z.object({ ref: z.string(), id: z.string() })),
});

export interface PackVerdict {
  pack: string;
  files: number;
  bytes: number;
  sqliteChecked: number;
  imagesLoaded: number;
  /** What does not hold, one line each naming the file and why: empty for a good pack. */
  problems: string[];
}

export async function verifyPack(args: { pack: string }): Promise<PackVerdict> {
  await requireUnderDataRoots({ pack: args.pack });
  const signal = cancellationSignal();
  const manifestPath = join(args.pack, 'manifest.json');
  let manifest: z.output<typeof manifestSchema>;
  try {
    const parsed = manifestSchema.safeParse(JSON.parse(await readFile(manifestPath, 'utf8')));
    if (!parsed.success) throw new Error(describeIssues(parsed.error));
    manifest = parsed.data;
  } catch (err) {
    throw invalidInput(`${manifestPath}: not a fullBackup manifest: ${(err as Error).message}`);
  }
  const problems: string[] = [];
  let bytes = 0;
  let sqliteChecked = 0;
  let imagesLoaded = 0;
  const local = await mkdtemp(join(tmpdir(), 'runbook-verify-'));
  try {
    for (const f of manifest.files) {
      const path = join(args.pack, f.path);
      const info = await lstat(path).catch(() => undefined);
      if (!info?.isFile()) {
        problems.push(`${f.path}: ${info ? 'not a regular file' : 'missing'}`);
        continue;
      }
      if (info.size !== f.bytes) problems.push(`${f.path}: ${info.size} bytes, the manifest says ${f.bytes}`);
      const sha256 = await heartbeatWhile(sha256File(path), { hashing: f.path });
      if (sha256 !== f.sha256) {
        problems.push(`${f.path}: sha256 ${sha256}, the manifest says ${f.sha256}`);
        continue;
      }
      bytes += info.size;
      reportProgress({ verified: f.path });
      if (f.kind === 'sqlite') {
        // Restored as an operator would: copied out, then opened and checked.
        const restored = join(local, `restore-${sqliteChecked}.db`);
        await copyFile(path, restored);
        const check = await integrityCheck(restored, { signal });
        if (!check.ok) problems.push(`${f.path}: integrity_check after restore: ${check.messages.slice(0, 3).join('; ')}`);
        sqliteChecked++;
      }
      if (f.kind === 'images') {
        const { argv } = await containerCli('podman');
        const storage = join(local, 'podman');
        const cli = { engine: 'podman' as const, argv: [argv[0]!, '--storage-driver', 'vfs', '--root', join(storage, 'root'), '--runroot', join(storage, 'run')] };
        const expected = manifest.images.map((i) => i.id);
        await mkdir(join(local, 'load-tmp'));
        const loaded = await heartbeatWhile(loadAndCompare(cli, path, expected, { signal, tmpDir: join(local, 'load-tmp') }), { loading: f.path });
        if (!loaded.ok) problems.push(`${f.path}: load into a separate storage: ${loaded.error ?? `missing ${loaded.missing.join(', ') || 'none'}; unexpected ${loaded.unexpected.join(', ') || 'none'}`}`);
        imagesLoaded = loaded.loaded.length;
      }
    }
  } finally {
    await rm(local, { recursive: true, force: true });
  }
  return { pack: args.pack, files: manifest.files.length, bytes, sqliteChecked, imagesLoaded, problems };
}
