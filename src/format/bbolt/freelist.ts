// The persisted freelist page (internal/freelist/shared.go Read, page.go FreelistPageCount): a
// freelist-typed page whose body is u64 page ids. `count` holds their number below 0xFFFF; at
// 0xFFFF the first u64 holds the real count and the ids follow it.
import { FREELIST_PAGE, PAGE_HEADER_SIZE, pageTypeName, u64 } from './layout';
import type { BboltFile } from './file';
import type { BboltFinding } from './report';

/** Parent-array value of a page reached but not through the tree (meta, freelist). */
export const ROOT = 0xfffffffe;
/** Parent-array value of a page not reached. */
export const NONE = 0xffffffff;

/** What the checker shares with the freelist reader. */
export interface Marks {
  file: BboltFile;
  /** The walked meta's high-water mark. */
  hwm: number;
  /** Pages tracked: [0, min(hwm, whole pages in the file)). */
  nTrack: number;
  /** Per tracked page: the page it was first reached from, ROOT, or NONE. */
  parent: Uint32Array;
  /** Bitmap of pages listed in the freelist. */
  freed: Uint8Array;
  add(f: BboltFinding): void;
}

export const isFreed = (m: Marks, id: number) => (m.freed[id >>> 3]! & (1 << (id & 7))) !== 0;

/** Why page `id` (not tracked) is out of bounds, in bbolt's words where it has them. */
export function outOfBounds(m: Marks, id: number, where: string): string {
  return id >= m.hwm ? `page ${id}: out of bounds: ${m.hwm} (${where})` : `page ${id}: out of bounds: past the end of the file (${m.file.fileBytes} bytes) (${where})`;
}

/** Ids read per positioned read of a large freelist. */
const CHUNK_IDS = 64 * 1024;

/**
 * Reads the freelist page `id` into `m.freed`, marking the freelist's own pages reached. Returns
 * whether it could be read (else unreachable pages cannot be judged) and how many ids it lists.
 */
export function loadFreelist(m: Marks, id: number, metaPage: 0 | 1): { usable: boolean; count: number } {
  const where = `freelist of meta page ${metaPage}`;
  const unusable = { usable: false, count: 0 };
  if (id >= m.nTrack) {
    m.add({ code: 'out-of-bounds', page: id, stack: [], message: outOfBounds(m, id, where) });
    return unusable;
  }
  const unit = m.file.readPage(id);
  const { flags, overflow } = unit.header;
  if (flags !== FREELIST_PAGE) {
    // bbolt's own words: freelist.Read panics with them.
    m.add({ code: 'invalid-page-type', page: id, stack: [], message: `invalid freelist page: ${id}, page type is ${pageTypeName(flags)}` });
    return unusable;
  }
  if (unit.header.id !== id) {
    m.add({ code: 'page-id-mismatch', page: id, stack: [], message: `page ${id}: Page expected to be: ${id}, but self identifies as ${unit.header.id} (${where})` });
  }
  if (id + overflow >= m.nTrack) {
    m.add({ code: 'out-of-bounds', page: id, stack: [], message: outOfBounds(m, id + overflow, `overflow of page ${id}, ${where}`) });
    return unusable;
  }
  for (let k = id; k <= id + overflow; k++) {
    if (m.parent[k] !== NONE) m.add({ code: 'multiple-references', page: k, stack: [], message: `page ${k}: multiple references (${where})` });
    else m.parent[k] = ROOT;
  }
  let count = unit.header.count;
  let first = PAGE_HEADER_SIZE;
  if (count === 0xffff) {
    if (first + 8 > unit.size) count = Infinity;
    else count = u64(unit.bytes(first, 8), 0);
    first += 8;
  }
  if (first + count * 8 > unit.size) {
    m.add({ code: 'malformed-page', page: id, stack: [], message: `page ${id}: freelist count ${count} does not fit in its ${unit.size} bytes (${where})` });
    return unusable;
  }
  for (let done = 0; done < count; ) {
    const n = Math.min(CHUNK_IDS, count - done);
    const ids = unit.bytes(first + done * 8, n * 8);
    for (let j = 0; j < n; j++) {
      const pid = u64(ids, j * 8);
      if (pid >= m.nTrack) {
        m.add({ code: 'out-of-bounds', page: pid, stack: [], message: outOfBounds(m, pid, `listed free in page ${id}`) });
      } else if (isFreed(m, pid)) {
        m.add({ code: 'already-freed', page: pid, stack: [], message: `page ${pid}: already freed` });
      } else {
        m.freed[pid >>> 3] = m.freed[pid >>> 3]! | (1 << (pid & 7));
        // A meta page or the freelist itself listed free: in use, yet bbolt may hand it out.
        if (m.parent[pid] !== NONE) m.add({ code: 'reachable-freed', page: pid, stack: [], message: `page ${pid}: reachable freed` });
      }
    }
    done += n;
  }
  return { usable: true, count };
}
