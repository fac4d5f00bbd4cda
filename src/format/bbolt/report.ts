// What checkBbolt reports. Plain data (JSON-safe: no bigint), so a CLI prints it and an activity
// returns it as is.

/**
 * Finding codes. The first nine are the issue's; bbolt's own check has a message for most of them
 * (tx_check.go), which `message` reuses. Two more name damage bbolt does not report but panics on or
 * reads past: `page-id-mismatch` (a page whose header names another id: bbolt's FastCheck panics
 * "Page expected to be: …"; the seed's duplicated page contents look like this), and
 * `malformed-page` (element counts, positions or bucket values that do not fit in their page).
 */
export type BboltFindingCode =
  | 'meta-invalid'
  | 'multiple-references'
  | 'cycle'
  | 'out-of-bounds'
  | 'invalid-page-type'
  | 'key-order'
  | 'reachable-freed'
  | 'already-freed'
  | 'unreachable-unfreed'
  | 'page-id-mismatch'
  | 'malformed-page';

export interface BboltFinding {
  code: BboltFindingCode;
  /** The page the finding is about (for an inline bucket, the page whose leaf holds it). */
  page: number;
  /**
   * Page ids from the root bucket's root page down to `page` (inclusive when `page` was reached
   * through the tree), through the leaf pages that hold nested buckets. Empty for meta and freelist
   * findings.
   */
  stack: number[];
  message: string;
  /** cycle: the loop, from the ancestor back to it (`[2733, 2213, 1929, 2898, 2733]`). */
  cycle?: number[];
  /** multiple-references: the stack through which the page was reached first. */
  firstStack?: number[];
}

export interface BboltMetaReport {
  page: 0 | 1;
  txid: number;
  /** The root bucket's root page. */
  root: number;
  /** The freelist page, or null when none is persisted (0xffffffffffffffff, as etcd runs bbolt). */
  freelist: number | null;
  /** The high-water mark: pages [0, pgid) are allocated. */
  pgid: number;
  pageSize: number;
  valid: boolean;
  /** Why not valid: bbolt's words ("invalid database", "version mismatch", "checksum error"). */
  error?: string;
}

export interface BboltBucketKeys {
  /** Names from the top, joined by `/` (bytes other than printable ASCII, `%` and `/` as %XX). */
  bucket: string;
  /** Leaf elements of the bucket that are not sub-buckets, on pages the checker could read. */
  keys: number;
  /** The bucket's root page; 0 for an inline bucket. */
  root: number;
}

export interface BboltReport {
  engine: 'bbolt';
  path: string;
  /** No finding at all. */
  healthy: boolean;
  pageSize: number;
  fileBytes: number;
  /** The meta bbolt would open with (higher txid if valid, else the other); null if neither is valid. */
  activeMeta: 0 | 1 | null;
  /** The meta whose tree was walked: activeMeta unless the caller asked for the other. */
  walkedMeta: 0 | 1 | null;
  metas: BboltMetaReport[];
  /** At most MAX_FINDINGS, in the order found. */
  findings: BboltFinding[];
  /** Findings past MAX_FINDINGS, counted but not kept. */
  findingsDropped: number;
  stats: {
    /** Page units (a page with its overflow pages is one) read in the tree walk. */
    pagesVisited: number;
    /** Buckets found, nested and inline ones included (the root bucket is not counted). */
    buckets: number;
    /** Readable keys: leaf elements that are not sub-buckets, over all buckets. */
    keys: number;
    /** Per bucket, the first MAX_BUCKETS buckets in walk order. */
    bucketKeys: BboltBucketKeys[];
    /**
     * Free pages: the persisted freelist's ids; with no freelist persisted, the unreachable pages
     * below the high-water mark (what bbolt rebuilds as free at open). null when not walked.
     */
    freePages: number | null;
  };
}

export const MAX_FINDINGS = 10_000;
export const MAX_BUCKETS = 10_000;
