/**
 * The bridge (offload mode): configuration, the poll cycle with its report and offload
 * choice, asset sync, output return, reconcile, and state.
 */
export * from './bridge';
export * from './config';
export { chooseOffload, workerCanTake, type OffloadInput } from './offload';
export { DEADLINE_EXTRA_INFO_KEY, farmReport, jobDeadline, reportGroupOf, type ReportInput } from './report';
export * from './state';
export { CLOUD_OUTPUT_DIR, type JobRoute } from './context';
export { stagingOf } from './poll';
