// Public entry point of the bbolt format layer: checkBbolt reads a bbolt file page by page and
// reports what bbolt's tx.Check would, and more, without panicking or hanging on damage.
export { checkBbolt, type CheckBboltOptions } from './check';
export { readEtcdDb, missingKeys, type EtcdDbState, type ReadEtcdDbOptions } from './etcd';
export { BboltFile, BboltFileError, isBboltFileError, PageUnit, type MetaPage } from './file';
export * from './layout';
export { MAX_BUCKETS, MAX_FINDINGS, type BboltBucketKeys, type BboltFinding, type BboltFindingCode, type BboltMetaReport, type BboltReport } from './report';
