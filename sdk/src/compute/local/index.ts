/** The local engine (the embedded default) and the contract over it. */
export {
  LocalEngine,
  nodeCores,
  type EngineJobNodeStatus,
  type EngineJobTaskRun,
  type EngineQuota,
  type LocalEngineOptions,
} from './engine';
export { LocalComputeBackend, groupStatusOf, taskInfoOf, type LocalComputeBackendOptions } from './backend';
export { EngineError } from './errors';
export { nodeStateOf } from '../batch-vocabulary';
export { globToRegExp, matchOutputFiles, withoutQuery } from './files';
export {
  runProcess,
  shellCommand,
  RENDER_NICENESS,
  type ProcessOutcome,
  type RunningProcess,
  type RunProcessOptions,
} from './process';
export type * from './types';
export {
  DurableLocalBackend,
  durableCommand,
  leaderAlive,
  leftoverProcessGroups,
  openDurableLocalBackend,
  resultsDir,
  type DurableLocalBackendOptions,
  type LeftoverProcessGroup,
  type OutputUrlSigner,
} from './durable';
