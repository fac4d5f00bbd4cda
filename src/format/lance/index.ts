// Public entry point of the Lance format reader: bytes in, typed values or LanceFormatError out.
export type { LanceDataFile, LanceDeletionFile, LanceFragment, LanceIndex, LanceManifest, ManifestNamingScheme } from './manifest';
export { FOOTER_SIZE, MAGIC, VERSIONS_DIR, manifestFileName, parseManifest, parseManifestName } from './manifest';
export { LanceFormatError, isLanceFormatError } from './errors';
