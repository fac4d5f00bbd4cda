// VersionEdit tags: LevelDB's (db/version_edit.cc) and Pebble's additions (internal/manifest/version_edit.go).
/** LevelDB's tags (Pebble reads them the same way). Tag 8 (large-value refs) is long gone. */
export const TAG = { comparator: 1, logNumber: 2, nextFileNumber: 3, lastSequence: 4, compactPointer: 5, deletedFile: 6, newFile: 7, prevLogNumber: 9 } as const;
/** Pebble's additions (RocksDB's numbering where it took RocksDB's encodings). */
export const PEBBLE_TAG = {
  exciseBounds: 10,
  tableMarkedForCompaction: 11,
  newFile2: 100,
  newFile3: 102,
  newFile4: 103,
  newFile5: 104,
  createdBackingTable: 105,
  removedBackingTable: 106,
  newBlobFile: 107,
  deletedBlobFile: 108,
} as const;
