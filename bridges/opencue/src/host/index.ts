/** The virtual host: Azure capacity as one render host of an OpenCue farm. */
export { VirtualHost, type VirtualHostOptions, type VirtualHostStatus } from './virtual-host';
export { CONFIG_DEFAULTS, readConfigFile, resolveConfig, type VirtualHostConfig } from './config';
export { cloudJobId, coreDetail, DEADLINE_ENV, jobDeadline } from './policy';
export { shouldOpen, type OpenInput } from './open';
export {
  farmReport,
  finishedFramesOf,
  hostOfResource,
  layerGroupOf,
  renderingFramesOf,
  type ObservedFrame,
  type ObservedHost,
  type ObservedJob,
  type ReportInput,
} from './report';
export { HostStateStore, type HostState, type LaunchRecord } from './state';
export { mapPaths, validatePathRules, type PathRule } from './paths';
