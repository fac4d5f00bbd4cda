import { readFileSync } from 'node:fs';
const b = readFileSync('/tmp/bt/db/images.lance/_versions/18446744073709550615.manifest');
const pos = Number(b.readBigInt64LE(b.length - 16));
console.log(b.length, pos, b.readUInt32LE(pos), b.length - pos - 20);
const p = { i: pos + 4 }; const end = b.length - 16;
function varint(): number { let x = 0, mul = 1, byte; do { byte = b[p.i++]!; x += (byte & 0x7f) * mul; mul *= 128; } while (byte & 0x80); return x; }
let k = 0;
while (p.i < end && k++ < 12) { const at = p.i; const tag = varint(); const wt = tag & 7; let info = '';
  if (wt === 0) info = String(varint()); else if (wt === 2) { const l = varint(); info = 'len ' + l; p.i += l; } else if (wt === 1) p.i += 8; else if (wt === 5) p.i += 4; else { console.log('bad', at, tag); break; }
  console.log(at, 'field', tag >>> 3, 'wt', wt, info); }
