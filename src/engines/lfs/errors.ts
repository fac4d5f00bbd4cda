// What the LFS store engine throws. Each says whether a retry can help; the guards match by name,
// so they also work on a serialized failure (an activity failure's `type`).

/**
 * `dir` is not inside a git working tree (or does not exist, or git is not installed). Nothing can
 * be looked up in LFS for it: check the path, or pass the repository explicitly.
 */
export class NotAGitRepositoryError extends Error {
  override name = 'NotAGitRepositoryError' as const;
  constructor(
    readonly dir: string,
    readonly detail: string,
  ) {
    super(`not a git repository (or no work tree): ${dir}${detail ? `: ${detail}` : ''}`);
  }
}

/**
 * The object the pointer names is not in the local LFS store. It may still exist on the LFS
 * server (`git lfs fetch`) or in another clone; retrying here will not help.
 */
export class LfsObjectMissingError extends Error {
  override name = 'LfsObjectMissingError' as const;
  constructor(
    readonly objectPath: string,
    readonly oid: string,
  ) {
    super(`LFS object ${oid} is not in the local store: ${objectPath} does not exist`);
  }
}

/**
 * The object's bytes do not hash to the pointer's oid or have another size: the store holds a
 * corrupt or truncated object (`git lfs fsck` would call it corrupt). Nothing was written at the
 * destination. Do not retry; get the object again (`git lfs fetch`, another clone, a backup).
 */
export class LfsObjectMismatchError extends Error {
  override name = 'LfsObjectMismatchError' as const;
  constructor(
    readonly objectPath: string,
    readonly expected: { oid: string; size: number },
    readonly actual: { oid: string; size: number },
  ) {
    super(
      `LFS object ${objectPath} does not match its pointer: expected sha256 ${expected.oid} (${expected.size} bytes), ` +
        `got sha256 ${actual.oid} (${actual.size} bytes); nothing was written`,
    );
  }
}

/**
 * The destination already exists with other content than the pointer's. Restores never overwrite
 * a file: move it aside (it may be a newer version, or the only copy of something) and run again.
 */
export class LfsDestinationConflictError extends Error {
  override name = 'LfsDestinationConflictError' as const;
  constructor(
    readonly destination: string,
    readonly expected: { oid: string; size: number },
    readonly actual: { oid?: string; size: number; kind: 'file' | 'pointer' | 'other' },
  ) {
    super(
      `refusing to overwrite ${destination}: it exists with other content (` +
        (actual.kind === 'other'
          ? 'not a regular file'
          : actual.kind === 'pointer'
            ? `this object's LFS pointer text, ${actual.size} bytes`
            : `${actual.size} bytes${actual.oid ? `, sha256 ${actual.oid}` : ''}`) +
        `) than the LFS object ${expected.oid} (${expected.size} bytes)`,
    );
  }
}

/** Name-based guards: they also match after serialization (an activity failure's `type`). */
const isNamed = (name: string) => (error: unknown) => (error as { name?: unknown } | null)?.name === name;
export const isNotAGitRepositoryError = isNamed('NotAGitRepositoryError') as (e: unknown) => e is NotAGitRepositoryError;
export const isLfsObjectMissingError = isNamed('LfsObjectMissingError') as (e: unknown) => e is LfsObjectMissingError;
export const isLfsObjectMismatchError = isNamed('LfsObjectMismatchError') as (e: unknown) => e is LfsObjectMismatchError;
export const isLfsDestinationConflictError = isNamed('LfsDestinationConflictError') as (e: unknown) => e is LfsDestinationConflictError;
export const isAbortError = isNamed('AbortError') as (e: unknown) => e is AbortError;

/**
 * The caller's AbortSignal fired: a copy or hash stopped between two chunks and removed its own temp
 * file. Named `AbortError`, as fetch and node:stream name theirs; `cause` is the signal's reason.
 */
export class AbortError extends Error {
  override name = 'AbortError' as const;
  constructor(what: string, reason?: unknown) {
    super(`${what}: aborted${reason instanceof Error && reason.message ? ` (${reason.message})` : ''}`, { cause: reason });
  }
}

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortError(what, signal.reason);
}
