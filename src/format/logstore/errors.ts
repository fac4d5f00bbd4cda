/**
 * A complete MANIFEST record whose VersionEdit payload does not decode: a varint or a length prefix
 * runs past the payload's end, a level out of range, an unknown tag. Never an end of file: the record
 * envelope was complete and its checksum matched, so the bytes are corrupt (Pebble c53275494,
 * "An unexpected EOF within the record indicates corruption").
 */
export class VersionEditError extends Error {
  override name = 'VersionEditError' as const;
  constructor(
    /** Byte offset within the record's payload where decoding failed. */
    readonly offset: number,
    /** The field being read, in our words (`newFile.size`, `tag`). */
    readonly field: string,
    /** The engine's own words ("VersionEdit: new-file entry", "pebble: corrupt manifest: failed to read uvarint"). */
    message: string,
  ) {
    super(message);
  }
}

export const isVersionEditError = (e: unknown): e is VersionEditError => (e as { name?: unknown } | null)?.name === 'VersionEditError';

/**
 * The caller's AbortSignal fired between two reads. Named `AbortError` (as fetch and the LFS engine
 * name theirs) so the activities' name-based failure mapping treats it as a cancellation.
 */
export class AbortError extends Error {
  override name = 'AbortError' as const;
  constructor(what: string, reason?: unknown) {
    super(`${what}: aborted${reason instanceof Error && reason.message ? ` (${reason.message})` : ''}`, { cause: reason });
  }
}
