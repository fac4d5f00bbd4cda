/**
 * A path taken from a Lance manifest (data file, deletion file, transaction file) that would reach
 * outside the table directory: absolute, with `..` segments, backslashes or NUL bytes, or leading
 * through a symlink whose target lies outside the table.
 *
 * Manifests are untrusted input (they come from a git repository, a backup, a user's upload). This
 * is never retried and never repaired automatically: stop, and have a person look at `source` (the
 * manifest that names the path) and `path` before any file of this table is touched.
 */
export class UnsafePathError extends Error {
  override name = 'UnsafePathError' as const;

  constructor(
    /** The offending path, as written in the manifest (or as passed to resolveInsideTable). */
    readonly path: string,
    /** Why it is refused. */
    readonly reason: string,
    /** The manifest naming the path, or the table directory when no manifest is involved. */
    readonly source: string,
  ) {
    super(`${source}: unsafe path ${JSON.stringify(path)}: ${reason}; refusing to use it`);
  }
}

/**
 * A directory that cannot be read as a Lance table at all: no `_versions/`, no manifest in it, or
 * both manifest naming schemes mixed (Lance refuses such a table: "Found multiple manifest naming
 * schemes in the same directory"). Not retryable: check the path, or fix `_versions/` by hand
 * (moving the stray names aside) before running the repair again.
 */
export class LanceTableError extends Error {
  override name = 'LanceTableError' as const;

  constructor(
    /** The directory at fault, usually `<table>/_versions`. */
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

/** Name-based guards: they also hold for errors that crossed a realm or were serialized. */
export const isUnsafePathError = (error: unknown): error is UnsafePathError =>
  error instanceof UnsafePathError || (error as { name?: unknown } | null)?.name === 'UnsafePathError';
export const isLanceTableError = (error: unknown): error is LanceTableError =>
  error instanceof LanceTableError || (error as { name?: unknown } | null)?.name === 'LanceTableError';
