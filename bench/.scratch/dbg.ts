import { readFileSync, readdirSync } from 'node:fs';
const dir = '/tmp/bt/db/images.lance/_versions';
const n = readdirSync(dir).filter((n) => n.endsWith('.manifest')).sort().at(-1)!;
const b = readFileSync(dir + '/' + n);
console.log(n, b.length, b.readBigInt64LE(b.length - 16), b.readUInt32LE(Number(b.readBigInt64LE(b.length - 16))), b.subarray(b.length-16));
const p = { i: 241 + 4 }; const end = b.length - 16;
function varint(): number { let x = 0, mul = 1, byte; do { byte = b[p.i++]!; x += (byte & 0x7f) * mul; mul *= 128; } while (byte & 0x80); return x; }
while (p.i < end) { const at = p.i; const tag = varint(); const wt = tag & 7; let info = '';
  if (wt === 0) info = String(varint()); else if (wt === 2) { const l = varint(); info = 'len ' + l; p.i += l; } else if (wt === 1) p.i += 8; else if (wt === 5) p.i += 4; else { console.log('bad', at, tag); break; }
  console.log(at, 'field', tag >>> 3, 'wt', wt, info); }
