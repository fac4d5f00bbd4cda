// The checker's block cache (src/format/bbolt/blocks.ts) on a simulated file: pages come back with
// the file's bytes whatever the access pattern; near pages are served from 64 KiB blocks, and a
// scattered walk, where blocks would not pay, falls back to single-page reads.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BlockCache } from '../../src/format/bbolt/blocks';

const PS = 4096;
const byteAt = (p: number) => (Math.imul(p, 0x9e3779b1) + Math.imul(Math.floor(p / PS), 0x85ebca6b)) >>> 24;

function simulated(fileBytes: number) {
  const reads: number[] = [];
  const cache = new BlockCache(PS, fileBytes, (buf, len, pos) => {
    reads.push(len);
    for (let i = 0; i < len; i++) buf[i] = byteAt(pos + i);
  });
  const page = (id: number) => {
    const { buf } = cache.get(id * PS, PS);
    for (const i of [0, 1, 100, PS - 1]) assert.equal(buf[i], byteAt(id * PS + i), `page ${id} byte ${i}`);
    return buf;
  };
  return { reads, page };
}

test('pages near each other come from a few 64 KiB block reads, including a short last block', () => {
  const pages = 1000;
  const { reads, page } = simulated(pages * PS + 100);
  for (let id = 0; id < pages; id++) page(id);
  assert.equal(reads.length, Math.ceil(pages / 16));
  assert.ok(reads.every((len) => len === 65536 || len === (pages % 16) * PS + 100), JSON.stringify([...new Set(reads)]));
});

test('a scattered walk switches to single-page reads, and pages stay right', () => {
  const pages = 1_000_000;
  const { reads, page } = simulated(pages * PS);
  // Every lookup in another block, far from the last: no block is ever hit again.
  for (let k = 0; k < 20_000; k++) page(((k * 7919) % (pages / 16)) * 16 + (k % 16));
  assert.equal(reads.filter((len) => len === 65536).length, 4096, 'blocks for one window, then single pages');
  assert.equal(reads.at(-1), PS);
});

test('a page is a view of a reused block: a copy (what PageUnit.detach makes) outlives it, the view does not', () => {
  const { page } = simulated(5000 * PS);
  const view = page(0);
  const copy = Buffer.from(view);
  page(1); // same block: the view still holds page 0
  assert.deepEqual(view, copy);
  for (let id = 16; id < 300 * 16; id += 16) page(id); // 299 more blocks: block 0's buffer is reused
  assert.notDeepEqual(view, copy);
  assert.deepEqual(copy, Buffer.from(Array.from({ length: PS }, (_, i) => byteAt(i))));
});
