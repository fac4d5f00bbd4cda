/**
 * A Lance manifest whose bytes do not follow the format (formats.md section 1, "Manifest file
 * bytes"): too short, no trailing "LANC" magic, a manifest position or length that does not fit the
 * file, a protobuf that does not decode, or a value the format does not allow.
 *
 * The file is damaged or is not a manifest at all (a git-LFS pointer left in place of the real
 * bytes, a truncated copy, a staging file). Lance itself refuses to open this version. Do not retry
 * and do not rewrite the manifest: treat the version as unusable, report `file` and `offset`, and
 * look for a readable older version or a good copy of the file (LFS store, backup).
 */
export class LanceFormatError extends Error {
  override name = 'LanceFormatError' as const;

  constructor(
    /** The manifest file, as the caller named it (usually its path). */
    readonly file: string,
    /** Byte offset in the file where the problem was found. */
    readonly offset: number,
    /** What is wrong, in words. */
    readonly reason: string,
  ) {
    super(`${file}: ${reason} at byte ${offset}`);
  }
}

/** True for a LanceFormatError, also across realms and after serialization (matches by name). */
export const isLanceFormatError = (error: unknown): error is LanceFormatError =>
  error instanceof LanceFormatError || (error as { name?: unknown } | null)?.name === 'LanceFormatError';
