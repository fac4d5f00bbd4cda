// Page elements as the checker reads them: bounds-checked (a damaged `pos` must not read another
// page's bytes as a key), and key order as tx_check.go's verifyKeyOrder checks it.
import type { PageUnit } from './file';
import { ELEMENT_SIZE, PAGE_HEADER_SIZE, goStack, hexKey } from './layout';
import type { BboltBucketKeys, BboltFinding } from './report';

/** One page on the walk's path (or an inline bucket's page, which has no id). */
export interface Frame {
  unit: PageUnit;
  /** The page id; for an inline page, the page whose leaf holds it. */
  page: number;
  kind: 'branch' | 'leaf' | 'inline leaf';
  /** Next element. */
  i: number;
  /** Keys must be ≥ lo and < hi: the parent's separator and the next one (null: no bound). */
  lo: Buffer | null;
  hi: Buffer | null;
  /** The previous key, or for a branch the greatest key under the previous child (tx_check's runningMin). */
  prev: Buffer | null;
  /** The greatest key seen under this page so far (tx_check's maxKeyInSubtree). */
  maxKey: Buffer | null;
  /** A branch's separator for the child being walked: the fallback bound when that child gives no key. */
  sep: Buffer | null;
  bucket: BboltBucketKeys;
  /** Length of the path of page ids before this frame. */
  pathLen: number;
  /** Where the bucket's own tree starts in the path: bbolt's stacks start there. */
  base: number;
}

export interface Element {
  key: Buffer;
  /** Offset of the value in the unit (leaf). */
  valueAt: number;
  vsize: number;
  /** Leaf element flags (1: the value is a bucket). */
  flags: number;
  /** Branch: the child page. */
  pgid: number;
}

type Sink = { add(f: BboltFinding): void };

/**
 * Element `i` of the frame's page, or null (reported as malformed-page) when its key or value
 * falls outside the page unit. `pos` counts from the element's own address (formats.md §3).
 */
export function readElement(f: Frame, i: number, path: readonly number[], sink: Sink): Element | null {
  const { unit } = f;
  const at = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
  const branch = f.kind === 'branch';
  const pos = unit.u32(branch ? at : at + 4);
  const ksize = unit.u32(branch ? at + 4 : at + 8);
  const vsize = branch ? 0 : unit.u32(at + 12);
  if (at + pos + ksize + vsize > unit.size) {
    const sizes = `pos ${pos}, ksize ${ksize}${branch ? '' : `, vsize ${vsize}`}`;
    const message = `page ${f.page}: ${f.kind} element ${i} points outside the page (${sizes}; the page is ${unit.size} bytes) (stack: ${goStack(path.slice(f.base))})`;
    sink.add({ code: 'malformed-page', page: f.page, stack: [...path], message });
    return null;
  }
  // A pgid above 2^53 comes out rounded: it is out of bounds anyway.
  const pgid = branch ? unit.u32(at + 12) * 0x1_0000_0000 + unit.u32(at + 8) : 0;
  return { key: unit.bytes(at + pos, ksize), valueAt: at + pos + ksize, vsize, flags: branch ? 0 : unit.u32(at), pgid };
}

/**
 * tx_check.go's verifyKeyOrder for key `i` of the frame's page, in its words. Two differences: the
 * page named for a branch key is the branch (bbolt names the child), and the upper-bound message
 * shows the bound (bbolt prints the previous key there). This runs for every key of the db: no
 * message or closure is made unless a key is out of order.
 */
export function checkKeyOrder(f: Frame, i: number, key: Buffer, path: readonly number[], sink: Sink): void {
  const { prev, hi } = f;
  const belowFirst = i === 0 && prev !== null && Buffer.compare(prev, key) > 0;
  const order = i > 0 && prev !== null ? Buffer.compare(prev, key) : -1;
  const aboveNext = hi !== null && Buffer.compare(key, hi) >= 0;
  if (!belowFirst && order < 0 && !aboveNext) return;
  const where = `key[${i}]=(hex)${hexKey(key)} on ${f.kind} page(${f.page})`;
  const stack = goStack(path.slice(f.base));
  const add = (message: string) => sink.add({ code: 'key-order', page: f.page, stack: [...path], message });
  if (belowFirst) add(`the first ${where} needs to be >= the key in the ancestor (${hexKey(prev)}). Stack: ${stack}`);
  if (order >= 0) add(`${where} needs to be > (found ${order > 0 ? '<' : '='}) than previous element (hex)${hexKey(prev)}. Stack: ${stack}`);
  if (aboveNext) add(`${where} needs to be < than key of the next element in ancestor (hex)${hexKey(hi)}. Pages stack: ${stack}`);
}
