/** Worker burst on Azure VM Scale Sets (`@azure/arm-compute`). */
export { ScaleSetBackend, type ScaleSetBackendOptions } from './backend';
export { ArmError, toArmError } from './errors';
export {
  capacityForTarget,
  GROUP_TAG,
  maxCapacityOf,
  priorityOf,
  toScaleSetModel,
  validateScaleSetSpec,
  type EvictionPolicy,
  type ScaleSetGroupSpec,
  type ScaleSetPriority,
} from './spec';
export {
  CUSTOM_DATA_MAX_BYTES,
  encodeCustomData,
  looksLikeSecret,
  renderWorkerStartup,
  shellQuote,
  validateWorkerStartup,
  type RenderManager,
  type RenderWorkerStartupOptions,
  type WorkerStartup,
} from './startup';
export {
  countNodes,
  diffNodes,
  groupStateOf,
  nodeStateOf,
  powerStateOf,
  toComputeNode,
  type DiffContext,
  type InstanceView,
} from './states';
