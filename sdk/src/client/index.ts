/** `BurstClient`: the typed client of the burst-capacity service. */
export {
  BurstClient,
  BurstServiceError,
  fromGrpcError,
  type BurstClientOptions,
  type CallOptions,
  type PagedIterable,
  type SubmitFramesOptions,
  type WatchFramesOptions,
} from './burst-client';
export {
  CapacityApi,
  type CapacityCallOptions,
  type CapacityGroupInfo,
  type CapacityGroupInput,
  type CapacityNodeInfo,
} from './capacity';
export {
  AssetClient,
  type AssetSyncPlan,
  type CommitManifestOptions,
  type CommittedManifest,
  type FetchedOutput,
  type FetchOutputOptions,
  type PlanAssetSyncOptions,
  type StoredManifest,
  type TransferOptions,
  type UploadContentOptions,
  type UploadedContent,
} from './asset-client';
