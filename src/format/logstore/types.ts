// Verdicts of the LevelDB/Pebble log format (WALs and MANIFESTs share it): what the format layer
// tells the doctor, the activities and the CLI. Plain data, JSON-safe (no bigint, no Buffer).

export type LogStatus = 'clean' | 'torn-tail' | 'zeroed-tail' | 'corrupt';

/** Why a file stops being readable at `firstBadOffset`. */
export type CorruptionKind =
  | 'checksum' // a chunk's masked CRC32C does not match
  | 'length' // a chunk's length runs past its block, inside the file
  | 'chunk-type' // a type byte no writer emits
  | 'orphan-chunk' // MIDDLE/LAST without FIRST, or FIRST/FULL while a record is open
  | 'log-number' // a recyclable chunk of another log (stale bytes of a recycled file)
  | 'zeroed' // zeros where a header should be, with valid chunks after them
  | 'version-edit'; // a complete record whose VersionEdit payload is short or has an unknown tag

export interface LogCorruption {
  kind: CorruptionKind;
  offset: number;
  message: string;
}

export interface LogVerdict {
  status: LogStatus;
  fileBytes: number;
  /** Where the last complete, valid record before any problem ends: the truncation point. */
  validBytes: number;
  /** null when clean. */
  firstBadOffset: number | null;
  /** Set when status is 'corrupt'. */
  corruption?: LogCorruption;
  /** corrupt only: whether complete valid records follow the bad offset (corruption in the middle, not at the end). */
  validRecordsAfter: boolean;
  /** Complete valid records before `validBytes`. */
  records: number;
  /** Chunk header format seen: 7-byte legacy, 11-byte recyclable, 19-byte WAL-sync. */
  headerFormat: 'legacy' | 'recyclable' | 'wal-sync' | 'none';
  /**
   * clean only, when the log ends before EOF as Pebble reads it: at its EOF trailer (a recyclable
   * header carrying the next log number) or at stale chunks of another log (a recycled file).
   */
  stoppedAt?: { offset: number; reason: 'eof-trailer' | 'stale-chunk' };
  /** Not clean: what was found where, in words (for a tail too, which has no `corruption`). */
  detail?: string;
}

export interface LogRecord {
  /** Offset of the record's first chunk header. */
  offset: number;
  /** Offset just past the record's last chunk. */
  end: number;
  payload: Buffer;
}
