// The local Git LFS object store (formats.md section 2): find the pointer a path had (working tree,
// HEAD, or history), check an object against its pointer, and copy an object back into place
// without ever writing bytes that do not match. This module is the store's public face; each
// concern lives in its own module beside it. Engine code: no Temporal.
export * from './errors';
export { gitDir, gitTopLevel } from './git';
export { findPointers, type FoundPointer, type PointerSource } from './pointers';
export { hashFile, lfsObjectPath, verifyLfsObject, type HashOptions, type LfsObjectCheck } from './objects';
export { copyVerifiedObject, copyVerifiedObjects, type CopyVerifiedBatchOptions, type CopyVerifiedItem, type CopyVerifiedOptions, type CopyVerifiedResult } from './copy';
export { checkComponents } from './confine';
