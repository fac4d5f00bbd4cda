// The image part of a full backup and its verify (issue 11), on the docker or podman CLI: which
// images a compose project uses (and from which source), their IDs and sizes, an archive of them
// saved and hashed, and that archive loaded into a separate storage with its IDs compared.
export { checkArg, ContainerCliError, ContainerInputError, normalizeImageId, type ContainerCli, type ContainerEngine } from './container-cli';
export { COMPOSE_PROJECT_LABEL, listProjectImages, type ImageListAttempt, type ImageSource, type ListOptions, type ProjectImages } from './image-list';
export { ImageArchiveExistsError, saveImages, type SavedArchive, type SaveOptions } from './image-save';
export { imageDetails, loadAndCompare, loadedRefs, type ImageDetail, type LoadComparison, type LoadOptions } from './image-load';
