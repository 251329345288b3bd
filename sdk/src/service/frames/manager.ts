import { NotFoundError, ValidationError } from '../../errors';
import type {
  Frame,
  FrameKey,
  FrameSpec,
  FrameState,
  FrameSubmission,
  Job,
  JobSpec,
  JobState,
} from '../../model/frames';
import type { FrameDispatcher } from './dispatcher';
import { validateSubmission } from '../../model/validate';
import { pageOf, type Page, type PageOptions } from '../paging';
import { frameIdOf, jobIdOf, type FrameStore } from './store';

export type { Page, PageOptions };

/**
 * The frame-offload domain: what the FrameService RPCs do, independent of gRPC. Validates
 * before anything is stored, stores before anything is dispatched.
 */
export class FrameManager {
  constructor(
    private readonly store: FrameStore,
    private readonly dispatcher: FrameDispatcher,
    /**
     * Refuses a capacity group frames cannot go to: NOT_FOUND naming it, FAILED_PRECONDITION
     * when the job's GPU need does not match it or a licence server of it cannot be reached.
     * @default every group accepted
     */
    private readonly groups?: {
      requireOffloadGroup(name: string | undefined, job?: Pick<JobSpec, 'gpus'>): void;
    },
    private readonly options: {
      /** Admits a valid submission (storage: its asset manifest exists, and stays). @default admits all */
      readonly admit?: <T>(job: JobSpec, submit: () => Promise<T>) => Promise<T>;
    } = {},
  ) {}

  /** Adds frames to a job (creating it); idempotent by key. Refuses a capacity group that does not exist. */
  async submit(
    job: JobSpec,
    frames: readonly FrameSpec[],
  ): Promise<{ jobId: string; frames: FrameSubmission[] }> {
    validateSubmission(job, frames);
    this.groups?.requireOffloadGroup(job.capacityGroup, job);
    // What would fail at dispatch fails here, before anything is stored.
    await this.dispatcher.preflight(job, frames, {
      jobId: jobIdOf(job.source, job.sourceJobId),
      frameIds: frames.map((f) =>
        frameIdOf({ source: job.source, sourceJobId: job.sourceJobId, sourceTaskId: f.sourceTaskId }),
      ),
    });
    const store = (): Promise<{ jobId: string; frames: FrameSubmission[] }> => this.store.submit(job, frames);
    const result = await (this.options.admit ? this.options.admit(job, store) : store());
    this.dispatcher.submitted(result.frames.filter((f) => f.created).map((f) => f.frameId));
    return result;
  }

  /** Recalls listed frames, or up to `maxFrames` queued frames of a job (latest first). */
  async recall(request: {
    keys?: readonly FrameKey[];
    jobId?: string;
    maxFrames?: number;
    reason?: string;
  }): Promise<{ recalled: FrameKey[]; notRecalled: FrameKey[] }> {
    const reason = request.reason || 'recalled to the local farm';
    const ids: string[] = [];
    const unknown: FrameKey[] = [];
    for (const key of request.keys ?? []) {
      const id = this.store.frameIdByKey(key);
      if (id) ids.push(id);
      else unknown.push(key);
    }
    if (request.jobId) {
      if (!this.store.getJob(request.jobId))
        throw new NotFoundError(`job ${JSON.stringify(request.jobId)} does not exist`);
      if (!request.maxFrames)
        throw new ValidationError('max_frames', request.maxFrames ?? 0, 'must be > 0 with job_id');
      const queued = this.store
        .framesOf(request.jobId)
        .filter((f) => f.state === 'queued')
        .reverse()
        .slice(0, request.maxFrames);
      ids.push(...queued.map((f) => f.frameId));
    }
    // A job with nothing queued is a valid request that recalls nothing.
    if (!request.jobId && ids.length === 0 && unknown.length === 0) {
      throw new ValidationError('keys', [], 'name frames by key, or a job_id with max_frames');
    }
    const { recalled, notRecalled } = await this.dispatcher.recall(ids, reason);
    const keyOf = (id: string): FrameKey => this.store.getFrame(id)!.key;
    return { recalled: recalled.map(keyOf), notRecalled: [...notRecalled.map(keyOf), ...unknown] };
  }

  /** Cancels a job's unfinished frames. Cancelling a finished job succeeds. */
  async cancel(jobId: string, reason?: string): Promise<Job> {
    if (!this.store.getJob(jobId)) throw new NotFoundError(`job ${JSON.stringify(jobId)} does not exist`);
    await this.dispatcher.cancel(jobId, reason || 'job cancelled');
    return this.store.getJob(jobId)!;
  }

  /** A job by service id, or by source and source job id. */
  getJob(ref: { jobId?: string; source?: string; sourceJobId?: string }): Job {
    let job: Job | undefined;
    if (ref.jobId) job = this.store.getJob(ref.jobId);
    else if (ref.source && ref.sourceJobId) {
      job = this.store
        .listJobs()
        .find((j) => j.spec.source === ref.source && j.spec.sourceJobId === ref.sourceJobId);
    } else {
      throw new ValidationError('job_id', '', 'give job_id, or source with source_job_id');
    }
    if (!job)
      throw new NotFoundError(
        `job ${JSON.stringify(ref.jobId ?? `${ref.source}/${ref.sourceJobId}`)} does not exist`,
      );
    return job;
  }

  listJobs(filter: { source?: string; states?: readonly JobState[] } & PageOptions): Page<Job> {
    const jobs = this.store
      .listJobs()
      .filter(
        (j) =>
          (!filter.source || j.spec.source === filter.source) &&
          (!filter.states?.length || filter.states.includes(j.state)),
      );
    return pageOf(jobs, filter);
  }

  listFrames(jobId: string, filter: { states?: readonly FrameState[] } & PageOptions): Page<Frame> {
    if (!this.store.getJob(jobId)) throw new NotFoundError(`job ${JSON.stringify(jobId)} does not exist`);
    const frames = this.store
      .framesOf(jobId)
      .filter((f) => !filter.states?.length || filter.states.includes(f.state));
    return pageOf(frames, filter);
  }
}
