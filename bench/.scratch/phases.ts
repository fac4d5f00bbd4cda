import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { parseManifest } from '../../src/format/lance/manifest';
import { inspectTable } from '../../src/engines/lance/inspect';
import { diagnoseLance } from '../../src/engines/lance/doctor';
const dir = '/tmp/bt/db/images.lance/_versions';
const t = (label: string, t0: number) => console.log(label.padEnd(40), Math.round(performance.now() - t0), 'ms');
for (let round = 0; round < 3; round++) {
  console.log('round', round);
  let t0 = performance.now();
  const names = (await readdir(dir)).filter((n) => n.endsWith('.manifest'));
  const bufs: Buffer[] = [];
  for (const n of names) bufs.push(await readFile(join(dir, n)));
  t('readFile x1000 (sequential)', t0);
  const total = bufs.reduce((s, b) => s + b.length, 0);
  t0 = performance.now();
  let frags = 0;
  for (let i = 0; i < bufs.length; i++) frags += parseManifest(bufs[i]!, names[i]!).fragments.length;
  t(`parseManifest x1000 (${frags} fragments, ${(total / 1e6).toFixed(1)} MB)`, t0);
  // raw protobuf decode only, no toObject
  const root = protobuf.loadSync('src/format/lance/table.proto');
  const M = root.lookupType('lance.table.Manifest');
  t0 = performance.now();
  for (const b of bufs) {
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const pos = Number(v.getBigInt64(b.length - 16, true));
    M.decode(b.subarray(pos + 4, b.length - 16));
  }
  t('protobufjs decode only (no toObject)', t0);
  t0 = performance.now();
  for (const b of bufs) {
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const pos = Number(v.getBigInt64(b.length - 16, true));
    M.toObject(M.decode(b.subarray(pos + 4, b.length - 16)), { longs: String, enums: Number, defaults: false });
  }
  t('protobufjs decode + toObject(longs:String)', t0);
  t0 = performance.now();
  await inspectTable('/tmp/bt/db/images.lance');
  t('inspectTable', t0);
  t0 = performance.now();
  await diagnoseLance('/tmp/bt/db/images.lance');
  t('diagnoseLance', t0);
}
