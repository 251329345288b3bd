/** Cuebot's gRPC API: a typed client, its call helper and Cuebot's units. */
export { CuebotClient, parseHostPort, type CuebotClientOptions, type CuebotCallOptions } from './client';
export { OpenCueCallError, unaryCall, type UnaryCallOptions } from './call';
export {
  CORE_UNITS_PER_CORE,
  MAX_FRAME_PAGE,
  bytesToKb,
  coresToUnits,
  hostCoreUnits,
  kbToBytes,
  parseFrameName,
  renderHostCores,
  unitsToCores,
} from './units';
