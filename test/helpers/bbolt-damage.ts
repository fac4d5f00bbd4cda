// Page-level damage to real bbolt files (written by bbolt through storectl bbolt-write), for the
// checker's tests. Pages are found with our own reader (src/format/bbolt), then bytes are patched
// in place, as torn writes and bad sectors would leave them. Every damage names what it did.
import assert from 'node:assert/strict';
import { open, truncate } from 'node:fs/promises';
import {
  BboltFile, BRANCH_PAGE, ELEMENT_SIZE, FREELIST_PAGE, LEAF_PAGE, PAGE_HEADER_SIZE, BUCKET_LEAF_FLAG, pageHeader, sealMeta, u64,
} from '../../src/format/bbolt';

export interface Element {
  index: number;
  /** Offset of the element header within its page. */
  at: number;
  key: Buffer;
  /** Offset of the key within its page. */
  keyAt: number;
  /** Branch: the child page. */
  pgid: number;
  /** Leaf: element flags (1: bucket) and value size. */
  flags: number;
  vsize: number;
}

export interface TreePage {
  id: number;
  kind: 'branch' | 'leaf';
  /** The page it was reached from, null for the bucket's root. */
  parent: number | null;
  depth: number;
  /** Pages following it that are part of it. */
  overflow: number;
  elements: Element[];
}

/** Reads the elements of page `id` (with its overflow pages: test dbs are small). */
function elementsOf(file: BboltFile, id: number): { kind: 'branch' | 'leaf'; overflow: number; elements: Element[] } {
  const unit = file.readPage(id);
  const buf = unit.bytes(0, unit.size);
  const h = pageHeader(buf);
  assert.ok(h.flags === BRANCH_PAGE || h.flags === LEAF_PAGE, `page ${id} is not a branch or leaf`);
  const elements: Element[] = [];
  for (let index = 0; index < h.count; index++) {
    const at = PAGE_HEADER_SIZE + index * ELEMENT_SIZE;
    const branch = h.flags === BRANCH_PAGE;
    const pos = buf.readUInt32LE(branch ? at : at + 4);
    const ksize = buf.readUInt32LE(branch ? at + 4 : at + 8);
    const keyAt = at + pos;
    elements.push({
      index, at, keyAt, key: Buffer.from(buf.subarray(keyAt, keyAt + ksize)),
      pgid: branch ? u64(buf, at + 8) : 0, flags: branch ? 0 : buf.readUInt32LE(at), vsize: branch ? 0 : buf.readUInt32LE(at + 12),
    });
  }
  return { kind: h.flags === BRANCH_PAGE ? 'branch' : 'leaf', overflow: h.overflow, elements };
}

/**
 * The pages of top-level bucket `name`'s own tree (not its sub-buckets), from the active meta,
 * breadth first. Throws if the bucket is inline.
 */
export async function bucketTree(path: string, name: string): Promise<{ pageSize: number; root: number; pages: TreePage[] }> {
  const file = await BboltFile.open(path);
  try {
    const meta = file.metas[file.activeMeta()!];
    const top = elementsOf(file, meta.root);
    assert.equal(top.kind, 'leaf', 'storectl dbs have few top-level buckets: the root bucket is one leaf');
    const entry = top.elements.find((e) => e.key.toString() === name && e.flags & BUCKET_LEAF_FLAG);
    assert.ok(entry, `no bucket ${name}`);
    const value = file.readPage(meta.root).bytes(entry.keyAt + entry.key.length, 8);
    const root = u64(value, 0);
    assert.notEqual(root, 0, `bucket ${name} is inline`);
    const pages: TreePage[] = [];
    const queue: Array<{ id: number; parent: number | null; depth: number }> = [{ id: root, parent: null, depth: 0 }];
    for (let q = queue.shift(); q; q = queue.shift()) {
      const { kind, overflow, elements } = elementsOf(file, q.id);
      pages.push({ ...q, kind, overflow, elements });
      if (kind === 'branch') for (const e of elements) queue.push({ id: e.pgid, parent: q.id, depth: q.depth + 1 });
    }
    return { pageSize: file.pageSize, root, pages };
  } finally {
    await file.close();
  }
}

/** Path of page ids from the bucket root to `id`. */
export function pathTo(tree: { pages: TreePage[] }, id: number): number[] {
  const byId = new Map(tree.pages.map((p) => [p.id, p]));
  const out: number[] = [];
  for (let p = byId.get(id); p; p = p.parent === null ? undefined : byId.get(p.parent)) out.unshift(p.id);
  return out;
}

export async function patch(path: string, at: number, bytes: Buffer): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, at);
  } finally {
    await fh.close();
  }
}

export async function readBytes(path: string, at: number, len: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, at);
    return buf;
  } finally {
    await fh.close();
  }
}

const u64le = (n: number | bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

/** Points branch `branch`'s element `index` at page `child`. */
export async function setBranchChild(path: string, pageSize: number, branch: number, index: number, child: number): Promise<void> {
  await patch(path, branch * pageSize + PAGE_HEADER_SIZE + index * ELEMENT_SIZE + 8, u64le(child));
}

/** Swaps the key bytes of two elements of one page (same key length: storectl's keys are). */
export async function swapKeys(path: string, pageSize: number, page: { id: number; elements: Element[] }, a: number, b: number): Promise<void> {
  const ea = page.elements[a]!;
  const eb = page.elements[b]!;
  assert.equal(ea.key.length, eb.key.length);
  await patch(path, page.id * pageSize + ea.keyAt, eb.key);
  await patch(path, page.id * pageSize + eb.keyAt, ea.key);
}

/** Sets the page header's flags (page type). */
export async function setPageFlags(path: string, pageSize: number, id: number, flags: number): Promise<void> {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(flags);
  await patch(path, id * pageSize + 8, b);
}

/** Flips a byte of meta page `page`'s checksum: Meta.Validate then says "checksum error". */
export async function breakMetaChecksum(path: string, pageSize: number, page: 0 | 1): Promise<void> {
  const at = page * pageSize + 72;
  const b = await readBytes(path, at, 1);
  b[0] = b[0]! ^ 0xff;
  await patch(path, at, b);
}

/** Rewrites fields of meta page `page` and seals it with a right checksum, as surgery would. */
export async function rewriteMeta(path: string, pageSize: number, page: 0 | 1, f: { version?: number; pageSize?: number; pgid?: number; freelist?: number }): Promise<void> {
  const buf = await readBytes(path, page * pageSize, 80);
  if (f.version !== undefined) buf.writeUInt32LE(f.version, 20);
  if (f.pageSize !== undefined) buf.writeUInt32LE(f.pageSize, 24);
  if (f.freelist !== undefined) buf.writeBigUInt64LE(BigInt(f.freelist), 48);
  if (f.pgid !== undefined) buf.writeBigUInt64LE(BigInt(f.pgid), 56);
  sealMeta(buf);
  await patch(path, page * pageSize, buf);
}

/** The active meta's freelist: its page, capacity in ids and the ids, in page order. */
export async function readFreelist(path: string): Promise<{ page: number; pageSize: number; capacity: number; ids: number[]; metaPage: 0 | 1; pgid: number }> {
  const file = await BboltFile.open(path);
  try {
    const metaPage = file.activeMeta()!;
    const meta = file.metas[metaPage];
    assert.ok(meta.freelist !== null, 'no freelist persisted');
    const unit = file.readPage(meta.freelist);
    assert.equal(unit.header.flags, FREELIST_PAGE);
    let count = unit.header.count;
    let first = PAGE_HEADER_SIZE;
    if (count === 0xffff) [count, first] = [u64(unit.bytes(first, 8), 0), first + 8];
    const body = unit.bytes(first, count * 8);
    const ids = Array.from({ length: count }, (_, i) => u64(body, i * 8));
    return { page: meta.freelist, pageSize: file.pageSize, capacity: (unit.size - PAGE_HEADER_SIZE) / 8 - 1, ids, metaPage, pgid: meta.pgid };
  } finally {
    await file.close();
  }
}

/**
 * Writes `ids` as the body of freelist page `page` (count, or 0xFFFF and the count as first u64,
 * as bbolt writes it). The ids must fit in the page unit as it is.
 */
export async function writeFreelistIds(path: string, pageSize: number, page: number, ids: number[]): Promise<void> {
  const big = ids.length >= 0xffff;
  const body = Buffer.alloc((ids.length + (big ? 1 : 0)) * 8);
  if (big) body.writeBigUInt64LE(BigInt(ids.length), 0);
  ids.forEach((id, i) => body.writeBigUInt64LE(BigInt(id), (i + (big ? 1 : 0)) * 8));
  const count = Buffer.alloc(2);
  count.writeUInt16LE(big ? 0xffff : ids.length);
  await patch(path, page * pageSize + 10, count);
  await patch(path, page * pageSize + PAGE_HEADER_SIZE, body);
}

/**
 * A freelist of at least 0xFFFF ids, forged as bbolt would write one: the file grows (sparse) by
 * `extra` free pages past the high-water mark, a new freelist page with its overflow pages goes
 * after them listing the old free ids, the old freelist's pages and the new ones, and the active
 * meta is resealed with the new freelist and high-water mark. The tree is untouched: a clean db
 * whose freelist needs the 0xFFFF rule.
 */
export async function forgeLargeFreelist(path: string, extra: number): Promise<{ freePages: number; page: number }> {
  const fl = await readFreelist(path);
  const { pageSize } = fl;
  const oldUnit = await readBytes(path, fl.page * pageSize, PAGE_HEADER_SIZE);
  const oldOverflow = pageHeader(oldUnit).overflow;
  const ids = [...fl.ids];
  for (let k = 0; k <= oldOverflow; k++) ids.push(fl.page + k);
  for (let k = 0; k < extra; k++) ids.push(fl.pgid + k);
  const page = fl.pgid + extra;
  const bytes = PAGE_HEADER_SIZE + (ids.length + 1) * 8;
  const overflow = Math.ceil(bytes / pageSize) - 1;
  await truncate(path, (page + overflow + 1) * pageSize);
  const header = Buffer.alloc(PAGE_HEADER_SIZE);
  header.writeBigUInt64LE(BigInt(page), 0);
  header.writeUInt16LE(FREELIST_PAGE, 8);
  header.writeUInt32LE(overflow, 12);
  await patch(path, page * pageSize, header);
  await writeFreelistIds(path, pageSize, page, ids.sort((a, b) => a - b));
  await rewriteMeta(path, pageSize, fl.metaPage, { freelist: page, pgid: page + overflow + 1 });
  return { freePages: ids.length, page };
}
