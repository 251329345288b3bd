/** Compute backends: the contract, and (as they land) `local`, `batch` and `scaleset`. */
export * from './backend';
export {
  chunkFrames,
  countChunks,
  framesOf,
  iterateChunks,
  parseFrameRange,
  type ChunkBounds,
  type FrameChunk,
  type FrameRun,
} from './frames';
export {
  EngineError,
  LocalComputeBackend,
  LocalEngine,
  RENDER_NICENESS,
  shellCommand,
  type LocalComputeBackendOptions,
  type LocalEngineOptions,
} from './local';
export {
  BatchComputeBackend,
  BatchError,
  frameOutputFiles,
  type BatchComputeBackendOptions,
  type BatchSharedKey,
} from './batch';
