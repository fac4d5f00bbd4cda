// Estimate: how fast can 1,000 manifests be walked in JS if only the needed fields are decoded?
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
const dir = '/tmp/bt/db/images.lance/_versions';
const names = (await readdir(dir)).filter((n) => n.endsWith('.manifest'));
function varint(b: Buffer, p: { i: number }): number {
  let x = 0, mul = 1, byte;
  do { byte = b[p.i++]!; x += (byte & 0x7f) * mul; mul *= 128; } while (byte & 0x80);
  return x;
}
function skip(b: Buffer, p: { i: number }, wt: number) {
  if (wt === 0) varint(b, p); else if (wt === 2) { const l = varint(b, p); p.i += l; } else if (wt === 1) p.i += 8; else if (wt === 5) p.i += 4; else throw new Error(`wt ${wt} at ${p.i}`);
}
function walk(b: Buffer) {
  const pos = Number(b.readBigInt64LE(b.length - 16));
  const p = { i: pos + 4 }; const end = b.length - 16;
  const files: { path: string; size: number }[] = [];
  let version = 0;
  while (p.i < end) {
    const tag = varint(b, p); const f = tag >>> 3, wt = tag & 7;
    if (f === 2 && wt === 2) {
      const len = varint(b, p); const fend = p.i + len;
      while (p.i < fend) {
        const t2 = varint(b, p); const f2 = t2 >>> 3, w2 = t2 & 7;
        if (f2 === 2 && w2 === 2) {
          const l3 = varint(b, p); const e3 = p.i + l3; let path = '', size = 0;
          while (p.i < e3) {
            const t3 = varint(b, p);
            if (t3 >>> 3 === 1) { const l = varint(b, p); path = b.toString('utf8', p.i, p.i + l); p.i += l; }
            else if (t3 >>> 3 === 6) size = varint(b, p);
            else skip(b, p, t3 & 7);
          }
          files.push({ path, size });
        } else skip(b, p, w2);
      }
    } else if (f === 3 && wt === 0) version = varint(b, p);
    else skip(b, p, wt);
  }
  return { version, files };
}
for (let r = 0; r < 4; r++) {
  let t0 = performance.now();
  const bufs = await Promise.all(names.map((n) => readFile(join(dir, n))));
  const tRead = performance.now() - t0;
  t0 = performance.now();
  let n = 0; const seen = new Map<string, number>();
  for (const [k, b] of bufs.entries()) for (const f of (() => { try { return walk(b); } catch (e) { console.log(names[k], b.length, e.message); throw e; } })().files) { n++; if (!seen.has(f.path)) seen.set(f.path, f.size); }
  console.log(`read ${tRead.toFixed(0)} ms, walk ${n} refs ${seen.size} distinct: ${(performance.now() - t0).toFixed(0)} ms`);
}
