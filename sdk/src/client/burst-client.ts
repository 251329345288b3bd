import * as grpc from '@grpc/grpc-js';
import * as wb from '../gen/spillway/v1/burst';
import * as wc from '../gen/spillway/v1/capacity';
import * as wcost from '../gen/spillway/v1/cost';
import type { CostReport } from '../model/cost';
import * as w from '../gen/spillway/v1/frames';
import type {
  Frame,
  FrameEvent,
  FrameKey,
  FrameSpec,
  FrameState,
  FrameSubmission,
  Job,
  JobSpec,
  JobState,
} from '../model/frames';
import type { FrameLogChunk } from '../model/frame-logs';
import {
  eventFromWire,
  frameFromWire,
  frameSpecToWire,
  costReportFromWire,
  frameLogChunkFromWire,
  frameStates,
  jobFromWire,
  jobSpecToWire,
  jobStates,
  keyFromWire,
  keyToWire,
  submissionFromWire,
  burstPlanFromWire,
  burstStatusFromWire,
  farmReportToWire,
} from '../model/wire-mapping';
import type { BurstPlan, BurstStatus, FarmReport } from '../model/burst';
import { ValidationError } from '../errors';
import { backoffMs, sleep } from '../retry';
import { SUBMIT_LIMITS, validateSubmission } from '../model/validate';
import {
  callMetadata,
  callUnary,
  channelSetup,
  CLIENT_BACKOFF,
  DEFAULT_MAX_MESSAGE_BYTES,
  fromGrpcError,
  type UnaryMethod,
} from './call';
import { CapacityApi } from './capacity';

export { BurstServiceError, fromGrpcError } from './call';
import type { AssetClient } from './asset-client';

/** Options of a `BurstClient`. */
export interface BurstClientOptions {
  /** Bearer token sent with every call. @default none (loopback services need none) */
  readonly token?: string;
  /** TLS: the CA to trust (PEM), and a client certificate for mutual TLS. @default plain text */
  readonly tls?: {
    readonly ca?: Buffer;
    readonly cert?: Buffer;
    readonly key?: Buffer;
    readonly serverName?: string;
  };
  /** Deadline of each unary call. @default 30000 */
  readonly callTimeoutMs?: number;
  /** Attempts of a call that failed with UNAVAILABLE (all Spillway RPCs are idempotent). @default 4 */
  readonly maxAttempts?: number;
  /** Largest message. @default 16 MiB */
  readonly maxMessageBytes?: number;
}

/** Options every call takes. */
export interface CallOptions {
  readonly abortSignal?: AbortSignal;
  /** Overrides the client's call timeout. */
  readonly timeoutMs?: number;
}

/** Options of `submitFrames` and `submitFramesInBatches`. */
export interface SubmitFramesOptions extends CallOptions {
  /**
   * Frames per SubmitFrames call (the service takes at most `SUBMIT_LIMITS.maxFramesPerCall`).
   * @default 10000
   */
  readonly framesPerCall?: number;
}

/** Options of `followFrameLog`. */
export interface FollowFrameLogOptions {
  /** First byte of the log. @default 0 */
  readonly offset?: number;
  /** The attempt `offset` is in (from an earlier chunk). @default the frame's current attempt */
  readonly attempt?: number;
  /** Keep going while the frame runs, until it has finished and its whole log was sent. @default false */
  readonly follow?: boolean;
  /** Stops following; the iterator then ends. */
  readonly abortSignal?: AbortSignal;
  /** Longest pause between reconnect attempts. @default 5000 */
  readonly maxBackoffMs?: number;
}

/** Options of `watchFrames`. */
export interface WatchFramesOptions {
  /** Resume after this cursor. @default from the first retained event */
  readonly afterCursor?: string;
  /** Only this job's events. */
  readonly jobId?: string;
  /** Only this source's events. */
  readonly source?: string;
  /** Stops the watch; the iterator then ends. */
  readonly abortSignal?: AbortSignal;
  /** Called after each reconnect, with the cursor it resumed from. */
  readonly onReconnect?: (cursor: string, attempt: number) => void;
  /** Longest pause between reconnect attempts. @default 5000 */
  readonly maxBackoffMs?: number;
}

/**
 * Typed, promise-based client of the Spillway burst-capacity service. One channel serves
 * every call. Methods take an options bag with `abortSignal`; failures are
 * `BurstServiceError`s.
 */
export class BurstClient {
  private readonly frames: w.FrameServiceClient;
  private readonly burst: wb.BurstServiceClient;
  private readonly channel: grpc.Channel;
  private readonly capacityService: wc.CapacityServiceClient;
  private readonly costService: wcost.CostServiceClient;
  /** Capacity groups (pools, scale sets) and their nodes. */
  readonly capacity: CapacityApi;
  private assetClient: AssetClient | undefined;

  constructor(
    /** `host:port` of the service. */
    readonly address: string,
    private readonly options: BurstClientOptions = {},
  ) {
    const { credentials, channelOptions } = channelSetup(options);
    this.channel = new grpc.Channel(address, credentials, channelOptions);
    this.frames = new w.FrameServiceClient(address, credentials, {
      ...channelOptions,
      channelOverride: this.channel,
    });
    this.burst = new wb.BurstServiceClient(address, credentials, {
      ...channelOptions,
      channelOverride: this.channel,
    });
    this.capacityService = new wc.CapacityServiceClient(address, credentials, {
      ...channelOptions,
      channelOverride: this.channel,
    });
    this.costService = new wcost.CostServiceClient(address, credentials, {
      ...channelOptions,
      channelOverride: this.channel,
    });
    this.capacity = new CapacityApi(this.capacityService, (method, request, options) =>
      this.unary(method, request, options, this.capacityService),
    );
  }

  private metadata(): grpc.Metadata {
    return callMetadata(this.options);
  }

  private unary<Req, Res>(
    method: UnaryMethod<Req, Res>,
    request: Req,
    options: CallOptions = {},
    target: grpc.Client = this.frames,
  ): Promise<Res> {
    return callUnary(target, method, request, options, this.options);
  }

  /**
   * Adds frames to a job (creating it), any number of them: `frames` may be an array, a
   * generator or an async iterable, read as it is sent. The frames go in calls of at most
   * `framesPerCall` frames and under the message limit, one call at a time. Idempotent by
   * frame key: after a failure, submitting the same frames again adds only the missing ones.
   * Resolves with every frame's submission, in order; for millions of frames use
   * `submitFramesInBatches`, which keeps none of them.
   */
  async submitFrames(
    job: JobSpec,
    frames: Iterable<FrameSpec> | AsyncIterable<FrameSpec>,
    options?: SubmitFramesOptions,
  ): Promise<{ jobId: string; frames: FrameSubmission[] }> {
    let jobId = '';
    const all: FrameSubmission[] = [];
    for await (const batch of this.submitFramesInBatches(job, frames, options)) {
      jobId = batch.jobId;
      for (const f of batch.frames) all.push(f);
    }
    return { jobId, frames: all };
  }

  /**
   * Submits frames like `submitFrames`, yielding each call's result as the service answers
   * it; reads `frames` only as fast as the service takes them, so memory stays bounded
   * whatever the number of frames.
   */
  async *submitFramesInBatches(
    job: JobSpec,
    frames: Iterable<FrameSpec> | AsyncIterable<FrameSpec>,
    options: SubmitFramesOptions = {},
  ): AsyncGenerator<{ jobId: string; frames: FrameSubmission[] }> {
    const wireJob = jobSpecToWire(job);
    let jobBytes: number;
    try {
      jobBytes = w.JobSpec.encode(wireJob).finish().length;
    } catch (err) {
      // A value that cannot be encoded (`priority: "abc"`): the validator names it.
      try {
        validateSubmission(job, [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1, command: 'true' }]);
      } catch (invalid) {
        if (invalid instanceof ValidationError && invalid.field.startsWith('job.')) throw invalid;
      }
      throw err;
    }
    const limits = {
      frames: options.framesPerCall ?? SUBMIT_LIMITS.maxFramesPerCall,
      // Room for the job, the field tags and gRPC framing.
      bytes: (this.options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES) - jobBytes - 64 * 1024,
    };
    if (!(Number.isInteger(limits.frames) && limits.frames >= 1)) {
      throw new ValidationError('framesPerCall', options.framesPerCall, 'must be a whole number >= 1');
    }
    for await (const batch of wireBatches(job, frames, limits)) {
      const res = await this.unary(this.frames.submitFrames, { job: wireJob, frames: batch }, options);
      yield { jobId: res.jobId, frames: res.frames.map(submissionFromWire) };
    }
  }

  /**
   * Streams frame events in order. Reconnects on UNAVAILABLE (a restarted service) and
   * resumes after the last event it yielded, so no event is lost or repeated. Ends when
   * `abortSignal` fires; throws on any other error.
   */
  async *watchFrames(options: WatchFramesOptions = {}): AsyncGenerator<FrameEvent> {
    let cursor = options.afterCursor ?? '';
    let failures = 0;
    while (!options.abortSignal?.aborted) {
      const call = this.frames.watchFrames(
        { afterCursor: cursor, jobId: options.jobId ?? '', source: options.source ?? '' },
        this.metadata(),
      );
      const onAbort = (): void => call.cancel();
      options.abortSignal?.addEventListener('abort', onAbort, { once: true });
      try {
        for await (const message of call as AsyncIterable<w.WatchFramesResponse>) {
          failures = 0;
          for (const e of message.events) {
            const event = eventFromWire(e);
            cursor = event.cursor;
            yield event;
          }
        }
        return; // the server ended the stream (it is shutting down cleanly): done
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (options.abortSignal?.aborted || e.code === grpc.status.CANCELLED) return;
        if (e.code !== grpc.status.UNAVAILABLE && e.code !== grpc.status.INTERNAL) throw fromGrpcError(err);
        failures += 1;
        const pause = backoffMs(failures, { ...CLIENT_BACKOFF, maxIntervalMs: options.maxBackoffMs ?? 5000 });
        await sleep(pause, options.abortSignal);
        options.onReconnect?.(cursor, failures);
      } finally {
        options.abortSignal?.removeEventListener('abort', onAbort);
        call.cancel();
      }
    }
  }

  /**
   * A frame's log (stdout and stderr as written) in chunks, from `offset`: from the node
   * while the frame renders, from storage after. With `follow` it goes on until the frame
   * has finished and its whole log was sent. `frame` is the frame's id (`f-...`; `jobId` may
   * then be '') or a frame number of the job. Reconnects on UNAVAILABLE and resumes after the
   * last byte it yielded.
   */
  async *followFrameLog(
    jobId: string,
    frame: string | number,
    options: FollowFrameLogOptions = {},
  ): AsyncGenerator<FrameLogChunk> {
    let offset = options.offset ?? 0;
    let attempt = options.attempt ?? 0;
    let failures = 0;
    const ref: w.FollowFrameLogRequest['frame'] =
      typeof frame === 'number' ? { $case: 'frameNumber', value: frame } : { $case: 'frameId', value: frame };
    while (!options.abortSignal?.aborted) {
      const call = this.frames.followFrameLog(
        { jobId, frame: ref, offset, attempt, follow: options.follow ?? false },
        this.metadata(),
      );
      const onAbort = (): void => call.cancel();
      options.abortSignal?.addEventListener('abort', onAbort, { once: true });
      try {
        for await (const message of call as AsyncIterable<w.FollowFrameLogResponse>) {
          failures = 0;
          const chunk = frameLogChunkFromWire(message);
          attempt = chunk.attempt;
          offset = chunk.offset + chunk.data.length;
          yield chunk;
          if (chunk.end) return;
        }
        return;
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (options.abortSignal?.aborted || e.code === grpc.status.CANCELLED) return;
        if (e.code !== grpc.status.UNAVAILABLE) throw fromGrpcError(err);
        failures += 1;
        await sleep(
          backoffMs(failures, { ...CLIENT_BACKOFF, maxIntervalMs: options.maxBackoffMs ?? 5000 }),
          options.abortSignal,
        );
      } finally {
        options.abortSignal?.removeEventListener('abort', onAbort);
        call.cancel();
      }
    }
  }

  /**
   * What capacity and frames cost from `since` (default: since the service began metering)
   * to now: per capacity group and per job, node-hours (dedicated and spot), spot evictions
   * and the work they lost, spend, and the cost per cloud frame.
   */
  async costReport(options: CallOptions & { since?: Date } = {}): Promise<CostReport> {
    const res = await this.unary(
      this.costService.getCostReport,
      { since: options.since },
      options,
      this.costService,
    );
    return costReportFromWire(res.report);
  }

  /** Takes back frames that have not started in the cloud. */
  async recallFrames(
    request: { keys?: readonly FrameKey[]; jobId?: string; maxFrames?: number; reason?: string },
    options?: CallOptions,
  ): Promise<{ recalled: FrameKey[]; notRecalled: FrameKey[] }> {
    const res = await this.unary(
      this.frames.recallFrames,
      {
        keys: (request.keys ?? []).map(keyToWire),
        jobId: request.jobId ?? '',
        maxFrames: request.maxFrames ?? 0,
        reason: request.reason ?? '',
      },
      options,
    );
    return { recalled: res.recalled.map(keyFromWire), notRecalled: res.notRecalled.map(keyFromWire) };
  }

  /** Cancels a job's unfinished frames. Cancelling a finished job succeeds. */
  async cancelJob(jobId: string, options?: CallOptions & { reason?: string }): Promise<Job> {
    const res = await this.unary(this.frames.cancelJob, { jobId, reason: options?.reason ?? '' }, options);
    return jobFromWire(res.job);
  }

  /** A job by service id, or by `{ source, sourceJobId }`. */
  async getJob(ref: string | { source: string; sourceJobId: string }, options?: CallOptions): Promise<Job> {
    const req = typeof ref === 'string' ? { jobId: ref, source: '', sourceJobId: '' } : { jobId: '', ...ref };
    return jobFromWire((await this.unary(this.frames.getJob, req, options)).job);
  }

  /** Every job (newest first), paged transparently. */
  listJobs(filter: { source?: string; states?: readonly JobState[] } & CallOptions = {}): PagedIterable<Job> {
    return paged(async (pageToken) => {
      const res = await this.unary(
        this.frames.listJobs,
        {
          pageSize: 500,
          pageToken,
          source: filter.source ?? '',
          states: (filter.states ?? []).map((s) => jobStates.toWire(s)),
        },
        filter,
      );
      return { items: res.jobs.map(jobFromWire), next: res.nextPageToken };
    });
  }

  /** A job's frames in submission order, paged transparently. */
  listFrames(
    jobId: string,
    filter: { states?: readonly FrameState[] } & CallOptions = {},
  ): PagedIterable<Frame> {
    return paged(async (pageToken) => {
      const res = await this.unary(
        this.frames.listFrames,
        { jobId, pageSize: 1000, pageToken, states: (filter.states ?? []).map((s) => frameStates.toWire(s)) },
        filter,
      );
      return { items: res.frames.map(frameFromWire), next: res.nextPageToken };
    });
  }

  /**
   * Reports a bridge's farm and returns the service's plan for it: frames to offload and
   * recall per job, the capacity the service is steering towards, and why, job by job.
   */
  async reportFarmState(report: FarmReport, options?: CallOptions): Promise<BurstPlan> {
    const res = await this.unary(
      this.burst.reportFarmState,
      { state: farmReportToWire(report) },
      options,
      this.burst,
    );
    return burstPlanFromWire(res.plan ?? wb.BurstPlan.fromPartial({}));
  }

  /**
   * The service's burst summary: budget and spend, capacity per group, each reporting
   * bridge with its last plan, and the figures each group is planned with (configured or
   * observed).
   */
  async burstStatus(options?: CallOptions): Promise<BurstStatus> {
    return burstStatusFromWire(await this.unary(this.burst.getBurstStatus, {}, options, this.burst));
  }

  /** The AssetService (asset content and manifests in, frame outputs back), on this client's channel. */
  get assets(): AssetClient {
    this.assetClient ??= new (require('./asset-client') as typeof import('./asset-client')).AssetClient(
      this.address,
      this.options,
      this.channel,
    );
    return this.assetClient;
  }

  /** Closes the channel. */
  close(): void {
    this.burst.close();
    this.capacityService.close();
    this.frames.close();
    this.channel.close();
  }
}

/** An async iterable of items that can also be walked page by page. */
export interface PagedIterable<T> extends AsyncIterable<T> {
  byPage(): AsyncIterable<T[]>;
}

/**
 * Groups frames into the wire frames of one SubmitFrames call each: at most `limits.frames`
 * frames and `limits.bytes` encoded bytes, each group checked by the service's own
 * validator before it is sent (so a bad value is named, `frames[12345].frame_end`, instead of
 * failing to encode). Pulls from `frames` one call ahead, never more; an empty input is
 * one empty call (the service says why it is refused).
 */
async function* wireBatches(
  job: JobSpec,
  frames: Iterable<FrameSpec> | AsyncIterable<FrameSpec>,
  limits: { readonly frames: number; readonly bytes: number },
): AsyncGenerator<w.FrameSpec[]> {
  let batch: FrameSpec[] = [];
  let wire: w.FrameSpec[] = [];
  let bytes = 0;
  let offset = 0;
  let sent = false;
  const flush = (): w.FrameSpec[] => {
    checkBatch(job, batch, offset);
    const out = wire;
    offset += batch.length;
    batch = [];
    wire = [];
    bytes = 0;
    sent = true;
    return out;
  };
  for await (const frame of frames) {
    const encoded = frameSpecToWire(frame);
    let size: number;
    try {
      size = w.FrameSpec.encode(encoded).finish().length + 6; // + field tag and length
    } catch (err) {
      checkBatch(job, [frame], offset + batch.length); // names the field and value
      throw err;
    }
    if (batch.length > 0 && (batch.length >= limits.frames || bytes + size > limits.bytes)) yield flush();
    batch.push(frame);
    wire.push(encoded);
    bytes += size;
  }
  if (batch.length > 0 || !sent) yield flush();
}

/** `validateSubmission` on one call's frames, naming frames by their index in the whole submission. */
function checkBatch(job: JobSpec, frames: readonly FrameSpec[], offset: number): void {
  if (frames.length === 0) return; // the service answers an empty submission
  try {
    validateSubmission(job, frames);
  } catch (err) {
    const m = err instanceof ValidationError ? /^frames\[(\d+)\](.*)$/.exec(err.field) : null;
    if (!m) throw err;
    const e = err as ValidationError;
    throw new ValidationError(`frames[${offset + Number(m[1])}]${m[2]}`, e.value, e.reason);
  }
}

function paged<T>(fetch: (token: string) => Promise<{ items: T[]; next: string }>): PagedIterable<T> {
  async function* pages(): AsyncGenerator<T[]> {
    let token = '';
    do {
      const page = await fetch(token);
      yield page.items;
      token = page.next;
    } while (token !== '');
  }
  return {
    byPage: pages,
    async *[Symbol.asyncIterator]() {
      for await (const page of pages()) yield* page;
    },
  };
}
