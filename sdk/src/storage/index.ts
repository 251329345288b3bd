/**
 * Assets in, outputs back: content-addressed sync over Blob Storage, SAS issue, the
 * node-side pieces, output placement, and the embedded Azurite.
 */
export {
  startAzurite,
  defaultDataDir,
  AzuriteStartError,
  AzuriteLockedError,
  AZURITE_ACCOUNT_NAME,
  AZURITE_ACCOUNT_KEY,
  type Azurite,
  type StartAzuriteOptions,
} from './azurite';
export {
  openStorage,
  pipelineOptions,
  parseConnectionString,
  STORAGE_CONNECTION_STRING_ENV,
  DEFAULT_ASSET_CONTAINER,
  type OpenStorage,
  type OpenStorageOptions,
  type StorageClientOptions,
} from './client';
export {
  blobSize,
  PathEscapeError,
  IntegrityError,
  isAlreadyExists,
  StorageError,
  toStorageError,
  withoutQuery,
} from './errors';
export {
  buildManifest,
  defaultHashCacheFile,
  canonicalManifestJson,
  manifestId,
  parseManifest,
  hashFile,
  sha256Hex,
  type BuildManifestOptions,
  type BuiltManifest,
  type Manifest,
  type ManifestEntry,
} from './manifest';
export {
  mapPath,
  normaliseRelativePath,
  relativeToRoot,
  resolveInside,
  isAbsoluteAnywhere,
  type PathMappingRule,
} from './paths';
export {
  storageLayout,
  validContainerName,
  DEFAULT_CONTAINER,
  OUTPUTS_SUFFIX,
  CONTENT_PREFIX,
  MANIFEST_PREFIX,
  TOOLS_PREFIX,
  LOCKS_PREFIX,
  contentBlobName,
  manifestBlobName,
  manifestIdOf,
  contentHashOf,
  outputPrefix,
  logPrefix,
  NODE_DIRS,
  nodeAssetsDir,
  type StorageLayout,
} from './layout';
export {
  acquireSyncLock,
  acquireGcLock,
  listLocks,
  liveLocks,
  StorageBusyError,
  type HeldLock,
  type SeenLock,
  type StorageLockOptions,
} from './locks';
export {
  collectGarbage,
  planGarbage,
  parseDurationText,
  type CollectGarbageOptions,
  type ContentBlobInfo,
  type GarbagePlan,
  type GarbagePlanInput,
  type GarbageReport,
  type ManifestBlobInfo,
} from './gc';
export {
  syncAssets,
  touchManifest,
  TOUCHED_METADATA,
  listContent,
  headContent,
  findContent,
  type ExistenceCheck,
  type SyncAssetsOptions,
  type SyncProgress,
  type SyncResult,
} from './sync';
export {
  issueSas,
  sasPermissions,
  userDelegationSas,
  type IssueSasOptions,
  type IssuedSas,
  type SasAccess,
} from './sas';
export {
  buildPreparationCommand,
  buildEnterCommand,
  buildReleaseCommand,
  type EnterCommandOptions,
  type NodeCacheLimit,
  wrapRenderCommand,
  OUTPUTS_FILE,
  uploadNodeScript,
  shellQuote,
  NODE_SCRIPT_PATH,
  NODE_SCRIPT_ON_NODE,
  type PreparationCommandOptions,
  type WrapRenderOptions,
} from './node';
export {
  blendDependencies,
  pathsBelow,
  BLEND_PATHS_SCRIPT,
  type BlendDependencies,
  type BlendDependencyOptions,
} from './blender';
export { placeOutputs, type PlaceOutputsOptions, type PlacedOutput } from './outputs';
export { forEachLimited } from './pool';
export {
  BATCH_MOUNTS_DIR_VAR,
  DEFAULT_MOUNT_OPTIONS,
  MAX_MOUNTS,
  MOUNT_KINDS,
  SCALE_SET_MOUNTS_DIR,
  mountEnvName,
  mountExports,
  mountLogType,
  parseCredentialReference,
  relativeMountPathOf,
  parseMountFlag,
  renderMountCommands,
  storageSourceParts,
  toBatchMountConfiguration,
  validateMounts,
  validateScaleSetMounts,
  withoutSecrets,
  type BatchMountConfiguration,
  type BlobFileCache,
  type CredentialReference,
  type MountKind,
  type MountSpec,
} from './mounts';
export {
  isVariablePath,
  placePath,
  sharedPathRules,
  shellWordForPath,
  validateStorageLocations,
  type PathPlacement,
  type StorageKind,
  type StorageLocation,
} from './profiles';
export { mountFromWire, mountToWire, mountsFromWire } from './mounts-wire';
export { resolveMountSecrets } from './mounts-secrets';
