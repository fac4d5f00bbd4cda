// A verified object for the copy engine's tests: `bytes` stored under `<dir>/objects/<sha256>`.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function writeObject(dir: string, bytes: Buffer): Promise<{ path: string; oid: string; size: number }> {
  const oid = createHash('sha256').update(bytes).digest('hex');
  const path = join(dir, 'objects', oid);
  await mkdir(join(dir, 'objects'), { recursive: true });
  await writeFile(path, bytes);
  return { path, oid, size: bytes.length };
}
