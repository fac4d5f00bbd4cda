// Prototype: the same per-file steps as copyVerifiedObject, to see what batching dir fsyncs and
// running files concurrently would buy. Not the product code.
import { createHash, randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { buildLanceIncident } from '../../src/demo/lance-incident';
import { diagnoseLance } from '../../src/engines/lance/doctor';
import { lfsObjectRelPath } from '../../src/format/lfs/pointer';
const which = process.argv[2] ?? 'seed';
const inc = await buildLanceIncident(which === 'seed' ? { versions: 'seed' } : { newRows: 3860, missing: 2950 });
const files = (await diagnoseLance(inc.tableDir)).restorable;
async function fsyncDir(d: string) { const fh = await open(d, 'r'); await fh.sync(); await fh.close(); }
async function one(f: (typeof files)[number], dirSync: boolean) {
  const dest = join(inc.tableDir, f.path);
  await lstat(dest).catch(() => undefined);
  const src = await open(join(inc.gitDir, lfsObjectRelPath(f.oid)), 'r');
  await src.stat();
  await mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.restore-tmp-${randomBytes(6).toString('hex')}`;
  const out = await open(tmp, 'wx', 0o644);
  const buf = Buffer.allocUnsafe(1 << 20); const h = createHash('sha256');
  let pos = 0; for (;;) { const { bytesRead } = await src.read(buf, 0, buf.length, pos); if (!bytesRead) break; h.update(buf.subarray(0, bytesRead)); await out.write(buf, 0, bytesRead, pos); pos += bytesRead; }
  if (h.digest('hex') !== f.oid) throw new Error('hash');
  if (process.env.NOSYNC !== '1') await out.sync(); await out.close();
  await link(tmp, dest); await unlink(tmp);
  if (dirSync && process.env.NOSYNC !== '1') await fsyncDir(dirname(dest));
  await src.close();
}
import * as fss from 'node:fs';
function oneSync(f: (typeof files)[number], dirSync: boolean) {
  const dest = join(inc.tableDir, f.path);
  try { fss.lstatSync(dest); } catch {}
  const bytes = fss.readFileSync(join(inc.gitDir, lfsObjectRelPath(f.oid)));
  if (createHash('sha256').update(bytes).digest('hex') !== f.oid) throw new Error('hash');
  const tmp = `${dest}.restore-tmp-${randomBytes(6).toString('hex')}`;
  const fd = fss.openSync(tmp, 'wx', 0o644); fss.writeSync(fd, bytes); if (process.env.NOSYNC !== '1') fss.fsyncSync(fd); fss.closeSync(fd);
  fss.linkSync(tmp, dest); fss.unlinkSync(tmp);
  if (dirSync && process.env.NOSYNC !== '1') { const d = fss.openSync(dirname(dest), 'r'); fss.fsyncSync(d); fss.closeSync(d); }
}
async function run(conc: number, dirSync: boolean) {
  if (conc === 0) { for (const f of files) oneSync(f, dirSync); if (!dirSync) await fsyncDir(join(inc.tableDir, 'data')); return; }
  let next = 0;
  await Promise.all(Array.from({ length: conc }, async () => { while (next < files.length) await one(files[next++]!, dirSync); }));
  if (!dirSync) await fsyncDir(join(inc.tableDir, 'data'));
}
const modes: [string, number, boolean][] = [['sync fs calls, dir fsync per file', 0, true], ['sync fs calls, dir fsync once', 0, false], ['seq, dir fsync per file (as now)', 1, true], ['seq, dir fsync once', 1, false], ['8 concurrent, dir fsync per file', 8, true], ['8 concurrent, dir fsync once', 8, false]];
const res: Record<string, number[]> = {};
for (let r = 0; r < 6; r++) for (const [name, c, d] of modes) {
  const t = performance.now(); await run(c, d); const ms = performance.now() - t;
  for (const f of files) await rm(join(inc.tableDir, f.path));
  if (r > 0) (res[name] ??= []).push(ms);
}
for (const [k, v] of Object.entries(res)) console.log(k.padEnd(40), v.sort((a, b) => a - b)[v.length >> 1]!.toFixed(0), 'ms');
await inc.cleanup();
