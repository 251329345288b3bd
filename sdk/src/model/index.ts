/** The SDK's own types for jobs, frames and events. */
export * from './frames';
