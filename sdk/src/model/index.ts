/** The SDK's own types for jobs, frames and events, and for burst plans. */
export * from './frames';
export * from './burst';
export { SUBMIT_LIMITS, validateSubmission } from './validate';
export type { FrameLogChunk, FrameLogSource } from './frame-logs';
export type { CostReport, Evictions, GroupCost, JobCost, NodeHours } from './cost';
