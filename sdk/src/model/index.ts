/** The SDK's own types for jobs, frames and events, and for burst plans. */
export * from './frames';
export * from './burst';
export { SUBMIT_LIMITS, validateSubmission } from './validate';
export {
  chunkFrames,
  countChunks,
  framesOf,
  iterateChunks,
  parseFrameRange,
  type ChunkBounds,
  type FrameChunk,
  type FrameRun,
} from './frame-range';
export type { FrameLogChunk, FrameLogSource } from './frame-logs';
export type { CostReport, Evictions, GroupCost, JobCost, NodeHours } from './cost';
