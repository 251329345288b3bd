/**
 * What the parts of the Deadline bridge (poll cycle, asset sync, output return, reconcile)
 * share: the two clients, the state, the configuration, and the few rules about a job that
 * each of them asks (can it run in the cloud and where do its outputs go, its deadline, a
 * task's cloud command).
 */
import {
  FirstSeen,
  cloudPathRules,
  type Episodes,
  type GpuDevice,
  type PathRule,
} from '@spillway/bridge-kit';
import type { BurstClient, Logger } from '@spillway/sdk';
import * as storage from '@spillway/sdk/storage';
import { buildCommand, infoValue, mapPath, pluginOf } from '../commands';
import type { DeadlineClient, DeadlineJob } from '../webservice';
import type { BridgeConfig } from './config';
import { jobDeadline } from './report';
import type { BridgeStateStore } from './state';

/** The ExtraInfo key of the GPUs each task of a job needs (`SpillwayGpus=1`). */
export const GPU_EXTRA_INFO_KEY = 'SpillwayGpus';

/** The GPUs a job's tasks need: ExtraInfo `SpillwayGpus`, 0 when absent or not a whole number. */
export function gpusOf(job: Pick<DeadlineJob, 'extraInfo'>): number {
  const v = infoValue(job.extraInfo, GPU_EXTRA_INFO_KEY)?.trim() ?? '';
  return /^\d{1,2}$/.test(v) ? Number(v) : 0;
}

/** Where a cloud task's command writes its outputs, relative to its working directory. */
export const CLOUD_OUTPUT_DIR = 'out';

/** How a job runs in the cloud, or why it cannot. */
export type JobRoute =
  | {
      readonly ok: true;
      /** The output folder as this host sees it. */
      readonly outputDir: string;
      /** The output folder is on a SHARED location: where on which mount the nodes write. */
      readonly shared?: { readonly mount: string; readonly path: string };
    }
  | { readonly ok: false; readonly reason: string };

/** Running totals, for logs and demos. */
export interface BridgeCounters {
  /** Tasks suspended and submitted to the cloud. */
  offloaded: number;
  /** Tasks completed from cloud outputs. */
  completed: number;
  /** Tasks whose cloud frames were recalled and resumed locally. */
  recalled: number;
  /** Tasks resumed locally because their cloud frame failed. */
  failedBack: number;
  /** Asset bytes this bridge uploaded (content the store lacked). */
  assetBytesUploaded: number;
  /** Output bytes fetched back from Blob Storage. */
  outputBytesFetched: number;
  /** Output bytes verified in place on a share (never moved). */
  outputBytesVerifiedInPlace: number;
}

/** The bridge's shared parts. */
export class BridgeContext {
  /** Jobs as last read from Deadline, by id. */
  readonly jobs = new Map<string, DeadlineJob>();
  readonly counters: BridgeCounters = {
    offloaded: 0,
    completed: 0,
    recalled: 0,
    failedBack: 0,
    assetBytesUploaded: 0,
    outputBytesFetched: 0,
    outputBytesVerifiedInPlace: 0,
  };
  private readonly firstSeen = new FirstSeen();

  constructor(
    readonly config: BridgeConfig,
    readonly deadline: DeadlineClient,
    readonly burst: BurstClient,
    readonly state: BridgeStateStore,
    readonly log: Logger,
    readonly episodes: Episodes,
    readonly signal: AbortSignal,
    /** `deadline:<name>`. */
    readonly source: string,
  ) {}

  /** `{ abortSignal }` for calls. */
  get sig(): { abortSignal: AbortSignal } {
    return { abortSignal: this.signal };
  }

  /** Whether the job can run in the cloud, and where its outputs go (mapped). */
  route(job: DeadlineJob): JobRoute {
    const probe = buildCommand({ plugin: job.plugin, pluginInfo: job.pluginInfo, frameStart: 1 });
    if (!probe.supported) return { ok: false, reason: probe.reason };
    if (gpusOf(job) > 0 && !this.config.gpuCapacityGroup) {
      return {
        ok: false,
        reason: `the job needs GPUs (${GPU_EXTRA_INFO_KEY}) and the bridge names no GPU capacity group (--gpu-group)`,
      };
    }
    let dir = job.outputDirectories[0];
    const row = pluginOf(job.plugin);
    if (!dir && row?.renderer && row.outputKey) {
      // The plugin names its output: its folder is the output folder (a folder renderer's is it).
      const given = infoValue(job.pluginInfo, row.outputKey);
      const sep = given ? Math.max(given.lastIndexOf('/'), given.lastIndexOf('\\')) : -1;
      if (given && row.renderer.outputKind === 'folder') dir = given;
      else if (given && sep > 0) dir = given.slice(0, sep);
    }
    if (!dir) return { ok: false, reason: 'the job names no output directory' };
    const where = storage.placePath(dir, this.config.storageLocations);
    return {
      ok: true,
      outputDir: mapPath(dir, this.config.pathRules),
      ...(where.storage === 'shared' ? { shared: { mount: where.mount, path: where.pathInMount } } : {}),
    };
  }

  /** The rules a cloud frame's paths are mapped with: shared locations onto their mounts, then the studio's. */
  get cloudRules(): PathRule[] {
    return cloudPathRules(this.config.storageLocations, this.config.pathRules);
  }

  /** The capacity group a job's frames go to: the GPU group for a job that needs GPUs. */
  capacityGroupOf(job: Pick<DeadlineJob, 'extraInfo'>): string | undefined {
    return gpusOf(job) > 0 ? this.config.gpuCapacityGroup : this.config.capacityGroup;
  }

  private readonly gpuOfGroup = new Map<
    string,
    { at: number; gpu: { count: number; device: GpuDevice } | undefined }
  >();

  /**
   * The GPUs of a capacity group, as the service describes it (asked at most once a minute):
   * the renderer's GPU flags are added on a GPU group only.
   */
  async groupGpu(group: string | undefined): Promise<{ count: number; device: GpuDevice } | undefined> {
    if (!group) return undefined;
    const known = this.gpuOfGroup.get(group);
    if (known && Date.now() - known.at < 60_000) return known.gpu;
    const info = await this.burst.capacity.get(group, this.sig);
    const gpu = info.gpu
      ? { count: info.gpu.count, device: (info.gpu.device || 'CUDA') as GpuDevice }
      : undefined;
    this.gpuOfGroup.set(group, { at: Date.now(), gpu });
    return gpu;
  }

  /** The job's deadline for the policy. */
  deadlineOf(job: DeadlineJob): Date {
    return jobDeadline(
      job,
      this.config.turnaroundSeconds,
      this.firstSeen.of(job.id),
      this.config.deadlineKey,
    );
  }

  /** Forgets what it remembered of jobs that left the active list. */
  retainJobs(live: ReadonlySet<string>): void {
    this.firstSeen.retain(live);
  }

  /**
   * A task's command as a cloud node runs it: outputs go to `out/` in the task's working
   * directory, which the service uploads to Blob Storage when the task succeeds.
   */
  cloudCommand(
    job: DeadlineJob,
    frameStart: number,
    frameEnd: number,
    assetRoot?: string,
    /** The GPUs of the group the task runs on. @default none (a CPU group) */
    gpu?: { readonly count: number; readonly device: GpuDevice },
  ): ReturnType<typeof buildCommand> {
    return buildCommand({
      ...(assetRoot !== undefined ? { assetRoot } : {}),
      ...(gpu ? { gpu } : {}),
      plugin: job.plugin,
      pluginInfo: job.pluginInfo,
      frameStart,
      frameEnd,
      pathRules: this.cloudRules,
      outputDirectory: CLOUD_OUTPUT_DIR,
      executables: this.config.executables,
    });
  }
}
