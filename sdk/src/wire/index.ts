/**
 * The generated `spillway.v1` wire types and gRPC service definitions.
 *
 * Most callers want the SDK's own types and `BurstClient` instead; these are here for
 * servers, bridges and tools that speak the wire contract directly. Never edit the
 * generated files: change `proto/` and run `npm run generate`.
 * @packageDocumentation
 */
export * as common from '../gen/spillway/v1/common';
export * as capacity from '../gen/spillway/v1/capacity';
export * as burst from '../gen/spillway/v1/burst';
export * as frames from '../gen/spillway/v1/frames';
export * as assets from '../gen/spillway/v1/assets';
export * as cost from '../gen/spillway/v1/cost';
export { SPILLWAY_V1_DESCRIPTOR_SET_BASE64 } from '../gen/descriptor';

/** Fully-qualified names of the `spillway.v1` services, as health checks and reflection use them. */
export const SPILLWAY_V1_SERVICE_NAMES = [
  'spillway.v1.CapacityService',
  'spillway.v1.BurstService',
  'spillway.v1.FrameService',
  'spillway.v1.AssetService',
  'spillway.v1.CostService',
] as const;
