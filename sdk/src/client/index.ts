/** `BurstClient`: the typed client of the burst-capacity service. */
export {
  BurstClient,
  BurstServiceError,
  fromGrpcError,
  type BurstClientOptions,
  type CallOptions,
  type PagedIterable,
  type SubmitFramesOptions,
  type FollowFrameLogOptions,
  type WatchFramesOptions,
} from './burst-client';
export {
  CapacityApi,
  parseImageReference,
  type BudgetInfo,
  type CapacityCallOptions,
  type CapacityImage,
  type CapacityGroupInfo,
  type CapacityGroupInput,
  type CapacityNodeInfo,
  type LicenseServerInput,
  type WorkerStartupInput,
} from './capacity';
export {
  AssetClient,
  type AssetSyncPlan,
  type CollectGarbageOptions,
  type CommitManifestOptions,
  type CommittedManifest,
  type FetchedOutput,
  type FetchOutputOptions,
  type GarbageCollection,
  type PlanAssetSyncOptions,
  type StoredManifest,
  type TransferOptions,
  type UploadContentOptions,
  type UploadedContent,
} from './asset-client';
