// Which element of which branch page points at a page: what surgery must clear to cut a bad
// reference (a cycle back to an ancestor, a second reference to a page, a child out of bounds).
import { BboltFile } from './file';
import { BRANCH_PAGE, ELEMENT_SIZE, PAGE_HEADER_SIZE, u64 } from './layout';
import type { BboltFinding } from './report';

/** A branch element to clear: element `index` of branch page `page` points at `child`. */
export interface BadReference {
  page: number;
  index: number;
  child: number;
  /** The finding that named it. */
  code: BboltFinding['code'];
}

/** Findings about a page reached through a bad reference: clearing the reference leaves a walkable tree. */
const REFERENCE_CODES = new Set<BboltFinding['code']>(['cycle', 'multiple-references', 'out-of-bounds', 'invalid-page-type', 'malformed-page']);

/** The child page ids of branch page `id`, by element index; null when `id` is not a readable branch page. */
export function branchChildren(file: BboltFile, id: number): number[] | null {
  if (id < 2 || id >= file.filePages) return null;
  const unit = file.readPage(id);
  if (unit.header.flags !== BRANCH_PAGE || !unit.elementsFit()) return null;
  const children: number[] = [];
  for (let i = 0; i < unit.header.count; i++) children.push(u64(unit.bytes(PAGE_HEADER_SIZE + i * ELEMENT_SIZE + 8, 8), 0));
  return children;
}

/**
 * The branch elements behind each reference finding of a check of `path`. A finding whose page is
 * not reached from a branch (a bucket's root, an overflow page) has none: surgery cannot cut it,
 * and the result's check says so. When a branch holds two elements with the same child, the later
 * one is the reference the walk reported (it walks elements in order).
 */
export async function badReferences(path: string, findings: readonly BboltFinding[]): Promise<{ references: BadReference[]; uncut: BboltFinding[] }> {
  const file = await BboltFile.open(path);
  try {
    const references: BadReference[] = [];
    const uncut: BboltFinding[] = [];
    const seen = new Set<string>();
    for (const f of findings) {
      // An inline bucket's damage is inside its leaf's value: cutting the leaf would lose its neighbours too.
      if (!REFERENCE_CODES.has(f.code) || f.message.includes('inline bucket')) {
        if (REFERENCE_CODES.has(f.code)) uncut.push(f);
        continue;
      }
      const at = f.stack.lastIndexOf(f.page);
      const parent = at > 0 ? f.stack[at - 1]! : undefined;
      const children = parent === undefined ? null : branchChildren(file, parent);
      const index = children ? children.lastIndexOf(f.page) : -1;
      if (parent === undefined || index < 0) {
        uncut.push(f);
        continue;
      }
      const key = `${parent}:${index}`;
      if (seen.has(key)) continue;
      seen.add(key);
      references.push({ page: parent, index, child: f.page, code: f.code });
    }
    return { references, uncut };
  } finally {
    await file.close();
  }
}
