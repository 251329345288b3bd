/** `BurstClient`: the typed client of the burst-capacity service. */
export {
  BurstClient,
  BurstServiceError,
  type BurstPlan,
  fromGrpcError,
  type BurstClientOptions,
  type CallOptions,
  type PagedIterable,
  type WatchFramesOptions,
} from './burst-client';
