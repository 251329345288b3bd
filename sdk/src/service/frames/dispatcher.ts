import { setMaxListeners } from 'node:events';
import { TASK_LOST_CODE } from '../../compute/backend';
import type {
  ComputeBackend,
  ComputeJobSpec,
  ComputeTaskSpec,
  TaskEvent,
  TaskInfo,
} from '../../compute/backend';
import { MAX_COMMAND_LINE, validateJobSpec, validateTasks } from '../../compute/batch-vocabulary';
import { ValidationError } from '../../errors';
import type { FrameSpec, JobSpec, OutputFile } from '../../model/frames';
import { TERMINAL_FRAME_STATES } from '../../model/frames';
import type { Logger } from '../../logging';
import { backoffMs } from '../../retry';
import type { FrameStore } from './store';

/** Builds the backend job and tasks for the service's jobs and frames. */
export interface TaskFactory {
  /** The backend job of a service job (preparation fetches its assets). */
  jobFor(jobId: string, spec: JobSpec, group: string): ComputeJobSpec | Promise<ComputeJobSpec>;
  /** The backend task of one frame. `taskId` is the id to use. */
  taskFor(
    taskId: string,
    jobId: string,
    frameId: string,
    job: JobSpec,
    frame: FrameSpec,
  ): ComputeTaskSpec | Promise<ComputeTaskSpec>;
}

/** Options of `OutputResolver.outputsOf`. */
export interface OutputsOfOptions {
  readonly abortSignal?: AbortSignal;
  /**
   * Reads a file of the frame's task from its node, when the backend can (see
   * `ComputeBackend.readTaskFile`): the manifest is then read there, without a round trip to
   * storage. Undefined when the file is not there.
   */
  readonly readTaskFile?: (filePath: string) => Promise<Buffer | undefined>;
  /**
   * The job writes its outputs to a share (`JobSpec.sharedOutput`): only the node's record of
   * them (paths, sizes, SHA-256) is read, for the bridge to verify them in place. @default false
   */
  readonly onShare?: boolean;
}

/** Finds a succeeded frame's outputs (hashed on the node) once its task completed. */
export interface OutputResolver {
  /** The outputs; throws when they are missing or incomplete. */
  outputsOf(jobId: string, frameId: string, options?: OutputsOfOptions): Promise<OutputFile[]>;
}

/** What may happen to a group's frames now (its preflight on a node: mounts, licence servers). */
export interface DispatchGate {
  /** `go`: send; `wait`: hold them until `onChange` names the group; `refuse`: send them back to the farm. */
  verdict(
    group: string,
  ):
    | { readonly verdict: 'go' }
    | { readonly verdict: 'wait' }
    | { readonly verdict: 'refuse'; readonly reason: string };
  /** Called when a group's verdict may have changed; returns the unsubscribe function. */
  onChange(listener: (group: string) => void): () => void;
}

/** Options of the dispatcher. */
export interface DispatcherOptions {
  /** Capacity group for jobs that name none. */
  readonly defaultGroup: string;
  /** Holds or refuses a group's frames before they are sent. @default every group's frames go */
  readonly gate?: DispatchGate;
  readonly logger: Logger;
  /** First retry delay after a retryable backend fault; doubles each attempt. @default 500 */
  readonly retryBaseMs?: number;
  /** Longest retry delay. @default 30000 */
  readonly retryMaxMs?: number;
  /**
   * Attempts to hand a job's frames to the backend when its faults are retryable (503,
   * timeouts, the network); then its frames fail with the last fault, and go back to the
   * render manager. A fault that is not retryable fails them at once. @default 8
   */
  readonly maxDispatchAttempts?: number;
  /** Jobs handed to the backend at the same time. @default 8 */
  readonly concurrentJobs?: number;
}

/** Frames handed to the backend per call of the dispatch loop. */
const DISPATCH_SLICE = 500;

/** Task id of a frame's dispatch generation: generation 1 uses the frame id itself. */
export function taskIdOf(frameId: string, generation: number): string {
  return generation <= 1 ? frameId : `${frameId}-g${generation}`;
}

function parseTaskId(taskId: string): { frameId: string; generation: number } {
  const m = /^(f-[0-9a-f]+)(?:-g(\d+))?$/.exec(taskId);
  return m ? { frameId: m[1]!, generation: m[2] ? Number(m[2]) : 1 } : { frameId: taskId, generation: 0 };
}

/** Where one job's dispatch is: frames waiting, the slice in flight, retries. */
interface JobDispatch {
  /** Frames waiting to be handed over, in submission order. */
  readonly waiting: Set<string>;
  /** The frames of the call in flight, and the call. */
  inFlight?: { readonly frames: ReadonlySet<string>; readonly done: Promise<void> };
  /** Aborts the job's backend calls (cancel). */
  readonly abort: AbortController;
  /** Failed attempts in a row, and when the next may start. */
  attempts: number;
  /** Waits in a row for the account's active-job quota (no fault: not counted in attempts). */
  quotaWaits?: number;
  retryAt?: number;
  retryTimer?: NodeJS.Timeout;
}

/**
 * Hands queued frames to the compute backend and turns the backend's task events into
 * frame events. It never trusts memory over the backend: on start it reconciles every
 * unfinished frame with the backend's view, and task ids derive from frame ids, so a
 * re-send after a crash is recognised by the backend instead of creating a second task.
 *
 * Each job is dispatched on its own: a job whose frames cannot be handed over waits for its
 * retry without holding anything (no other job waits behind it), retries only retryable
 * faults, a bounded number of times, and then its frames fail with the reason. Cancelling
 * a job aborts its dispatch at once; a recall never waits for another job.
 */
export class FrameDispatcher {
  private readonly jobs = new Map<string, JobDispatch>();
  /** Jobs ready to dispatch, in arrival order, and how many are running. */
  private readonly ready: string[] = [];
  private running = 0;
  private gathering: NodeJS.Immediate | undefined;
  /** Frames the gate holds, by group, until it changes its mind. */
  private readonly held = new Map<string, Set<string>>();
  private unsubscribeGate: (() => void) | undefined;
  private readonly chains = new Map<string, Promise<void>>();
  private readonly createdJobs = new Set<string>();
  /** Backend jobs being ended because their frames all settled: a new dispatch to one waits. */
  private readonly ending = new Map<string, Promise<void>>();
  private unsubscribe: (() => void) | undefined;
  private readonly abort = new AbortController();
  private stopped = false;

  constructor(
    private readonly store: FrameStore,
    private readonly backend: ComputeBackend,
    private readonly tasks: TaskFactory,
    private readonly outputs: OutputResolver,
    private readonly options: DispatcherOptions,
  ) {
    // One signal aborts every backend call of the dispatcher: many listen at once, legitimately.
    setMaxListeners(0, this.abort.signal);
  }

  /** Subscribes to the backend and reconciles every unfinished frame. */
  async start(): Promise<void> {
    this.unsubscribe = this.backend.onTaskEvent((e) => this.onTaskEvent(e));
    this.unsubscribeGate = this.options.gate?.onChange((group) => {
      const ids = this.held.get(group);
      if (!ids) return;
      this.held.delete(group);
      const jobs = new Set<string>();
      for (const id of ids) {
        const frame = this.store.getFrame(id);
        if (!frame) continue;
        this.jobOf(frame.jobId).waiting.add(id);
        jobs.add(frame.jobId);
      }
      for (const jobId of jobs) this.makeReady(jobId);
    });
    const waiting: string[] = [];
    for (const frame of this.store.unfinishedFrames()) {
      const generation = this.store.dispatchedGeneration(frame.frameId);
      if (generation === 0) {
        waiting.push(frame.frameId);
        continue;
      }
      const task = await this.backend.getTask(frame.jobId, taskIdOf(frame.frameId, generation), {
        abortSignal: this.abort.signal,
      });
      if (!task) {
        // The backend lost it (an embedded engine restarted and killed what the last one
        // left running): back to the queue, and handed over again.
        if (frame.state !== 'queued') {
          await this.store.change(frame.frameId, {
            type: 'retrying',
            state: 'queued',
            message: 'the backend lost its task (the service restarted); dispatching it again',
          });
        }
        waiting.push(frame.frameId);
      } else {
        this.serialise(frame.frameId, () => this.applyTask(task, 'reconcile'));
      }
    }
    this.submitted(waiting);
  }

  /**
   * Checks that these frames could be handed to the backend, by building exactly what
   * dispatch would build (the backend job and each distinct kind of task) and running the
   * backend's own checks on it: a submission that would fail at dispatch fails now, with
   * the submission's field named. Nothing is stored or sent.
   */
  async preflight(
    job: JobSpec,
    frames: readonly FrameSpec[],
    ids: { jobId: string; frameIds: readonly string[] },
  ): Promise<void> {
    const group = job.capacityGroup ?? this.options.defaultGroup;
    let jobSpec: ComputeJobSpec;
    try {
      jobSpec = await this.tasks.jobFor(ids.jobId, job, group);
      validateJobSpec(jobSpec);
    } catch (err) {
      throw err instanceof ValidationError ? undispatchable('job', err) : err;
    }
    // Frames on the template differ only in their numbers: one of each width is enough.
    const kinds = new Set<string>();
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      if (f.command === undefined) {
        const kind = `${String(f.frameStart).length}:${String(f.frameEnd).length}:${String(f.frameStep ?? 1).length}`;
        if (kinds.has(kind)) continue;
        kinds.add(kind);
      }
      const field = f.command === undefined ? 'job.command_template' : `frames[${i}].command`;
      try {
        // The longest task id a frame gets (its retries after restarts add "-gN").
        const task = await this.tasks.taskFor(
          `${ids.frameIds[i]!}-g999`,
          ids.jobId,
          ids.frameIds[i]!,
          job,
          f,
        );
        if (task.commandLine.length > MAX_COMMAND_LINE) {
          throw new ValidationError(
            field,
            `${task.commandLine.length} characters`,
            `makes a task command line of ${task.commandLine.length} characters (tokens such as #JOB# filled in, ` +
              `output collection added), over Azure Batch's ${MAX_COMMAND_LINE}: shorten the command or the job name`,
          );
        }
        validateTasks([task]);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        throw err.field === field ? err : undispatchable(field, err, `frame ${f.frameStart}-${f.frameEnd}`);
      }
    }
  }

  /** Queues newly submitted frames for dispatch. */
  submitted(frameIds: readonly string[]): void {
    for (const id of frameIds) {
      const frame = this.store.getFrame(id);
      if (!frame) continue;
      this.jobOf(frame.jobId).waiting.add(id);
    }
    // Gather this tick's submissions into as few calls as possible.
    this.gathering ??= setImmediate(() => {
      this.gathering = undefined;
      for (const [jobId, job] of this.jobs) if (job.waiting.size > 0) this.makeReady(jobId);
    });
  }

  private jobOf(jobId: string): JobDispatch {
    let job = this.jobs.get(jobId);
    if (!job) {
      const abort = new AbortController();
      setMaxListeners(0, abort.signal);
      job = { waiting: new Set(), abort, attempts: 0 };
      this.jobs.set(jobId, job);
    }
    return job;
  }

  /** Puts a job in line for dispatch unless it is running, waiting for a retry, or in line. */
  private makeReady(jobId: string): void {
    const job = this.jobs.get(jobId);
    if (this.stopped || !job || job.inFlight || job.retryTimer || this.ready.includes(jobId)) return;
    this.ready.push(jobId);
    this.pump();
  }

  private pump(): void {
    const limit = this.options.concurrentJobs ?? 8;
    while (!this.stopped && this.running < limit && this.ready.length > 0) {
      const jobId = this.ready.shift()!;
      this.running++;
      void this.dispatchJobFrames(jobId).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  /** Hands a job's waiting frames to the backend, a slice at a time, until none wait or a fault stops it. */
  private async dispatchJobFrames(jobId: string): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job) return;
    if (!this.passGate(jobId, job)) {
      if (job.waiting.size === 0 && !job.inFlight && !job.retryTimer) this.jobs.delete(jobId);
      return;
    }
    while (!this.stopped && job.waiting.size > 0) {
      const frameIds: string[] = [];
      for (const id of job.waiting) {
        const frame = this.store.getFrame(id);
        if (!frame || frame.state !== 'queued' || this.store.isCancelled(frame.jobId)) {
          job.waiting.delete(id);
          continue;
        }
        frameIds.push(id);
        // In slices: a 10,000-frame submission never holds 10,000 task specs at once.
        if (frameIds.length === DISPATCH_SLICE) break;
      }
      if (frameIds.length === 0) break;
      let failure: { error: unknown; atJob: boolean } | undefined;
      const done = this.dispatchSlice(jobId, frameIds, job.abort.signal).catch((error: unknown) => {
        failure = { error, atJob: !this.createdJobs.has(jobId) };
        // The job may have ended meanwhile (its group deleted, say): ask for it again.
        this.createdJobs.delete(jobId);
      });
      job.inFlight = { frames: new Set(frameIds), done };
      await done;
      job.inFlight = undefined;
      if (this.stopped || job.abort.signal.aborted) return;
      if (!failure) {
        for (const id of frameIds) job.waiting.delete(id);
        job.attempts = 0;
        job.quotaWaits = 0;
        continue;
      }
      const fault = this.backend.faultKind(jobId, failure.error);
      if (fault === 'wait') {
        // The account is full (Batch: its quota of active jobs); it frees itself as other
        // jobs' frames settle. Wait, unbounded: not a fault.
        job.quotaWaits = (job.quotaWaits ?? 0) + 1;
        const wait = backoffMs(Math.min(job.quotaWaits, 6), {
          initialIntervalMs: this.options.retryBaseMs ?? 500,
          maxIntervalMs: this.options.retryMaxMs ?? 30_000,
        });
        if (job.quotaWaits === 1) {
          this.options.logger.info('the compute account is at its quota of active jobs; the job waits', {
            jobId,
            reason: errorText(failure.error),
            frames: job.waiting.size,
          });
        }
        this.retryLater(jobId, job, wait);
        return;
      }
      job.quotaWaits = 0;
      job.attempts++;
      const max = this.options.maxDispatchAttempts ?? 8;
      const reason = errorText(failure.error);
      if (fault === 'retry' && job.attempts < max) {
        // The one backoff; the wait is a timer, so the job holds nothing while it waits.
        const wait = backoffMs(job.attempts, {
          initialIntervalMs: this.options.retryBaseMs ?? 500,
          maxIntervalMs: this.options.retryMaxMs ?? 30_000,
        });
        this.options.logger.warn('dispatch failed; will retry', {
          jobId,
          frames: frameIds.length,
          attempt: job.attempts,
          retryInMs: wait,
          error: reason,
        });
        this.retryLater(jobId, job, wait);
        return;
      }
      // Not retryable, or out of attempts: these frames cannot run in the cloud.
      const failed = failure.atJob ? [...job.waiting] : frameIds;
      const why =
        fault === 'retry'
          ? `could not be handed to the compute backend after ${job.attempts} attempts: ${reason}`
          : `could not be handed to the compute backend: ${reason}`;
      this.options.logger.error('dispatch failed; failing the frames', {
        jobId,
        frames: failed.length,
        error: reason,
      });
      for (const id of failed) job.waiting.delete(id);
      job.attempts = 0;
      await this.failFrames(failed, why);
    }
    if (job.waiting.size === 0 && !job.inFlight && !job.retryTimer) this.jobs.delete(jobId);
  }

  /** Puts the job back in line after `wait` ms; it holds nothing meanwhile. */
  private retryLater(jobId: string, job: JobDispatch, wait: number): void {
    job.retryAt = Date.now() + wait;
    job.retryTimer = setTimeout(() => {
      job.retryTimer = undefined;
      job.retryAt = undefined;
      this.makeReady(jobId);
    }, wait);
  }

  /**
   * Asks the gate about the job's group: true to send its waiting frames now; otherwise they
   * are held (until the gate changes its mind about the group) or sent back to the farm as
   * recalled, with the gate's reason, and no longer wait.
   */
  private passGate(jobId: string, job: JobDispatch): boolean {
    const gate = this.options.gate;
    const first = job.waiting.values().next().value;
    if (!gate || first === undefined) return true;
    const specs = this.store.specsOf(first);
    if (!specs) return true;
    const group = specs.job.capacityGroup ?? this.options.defaultGroup;
    const v = gate.verdict(group);
    if (v.verdict === 'go') return true;
    const frameIds = [...job.waiting];
    job.waiting.clear();
    if (v.verdict === 'wait') {
      const held = this.held.get(group) ?? new Set<string>();
      for (const id of frameIds) held.add(id);
      this.held.set(group, held);
      return false;
    }
    for (const id of frameIds) {
      this.serialise(id, async () => {
        const frame = this.store.getFrame(id);
        if (!frame || frame.state !== 'queued') return;
        await this.store.change(id, { type: 'recalled', state: 'recalled', message: v.reason });
      });
    }
    this.options.logger.warn('frames sent back: their capacity group refuses them', {
      jobId,
      group,
      frames: frameIds.length,
      reason: v.reason,
    });
    return false;
  }

  /** Fails frames that could not be dispatched (each in its frame's order of updates). */
  private async failFrames(frameIds: readonly string[], message: string): Promise<void> {
    await Promise.all(
      frameIds.map(
        (frameId) =>
          new Promise<void>((resolve) =>
            this.serialise(frameId, async () => {
              const frame = this.store.getFrame(frameId);
              if (frame && !TERMINAL_FRAME_STATES.has(frame.state)) {
                await this.store.change(frameId, { type: 'failed', state: 'failed', message });
              }
              resolve();
            }),
          ),
      ),
    );
  }

  /** Dispatches one slice of a job's frames. */
  private async dispatchSlice(
    jobId: string,
    frameIds: readonly string[],
    jobSignal: AbortSignal,
  ): Promise<void> {
    const abortSignal = AbortSignal.any([this.abort.signal, jobSignal]);
    const first = this.store.specsOf(frameIds[0]!)!;
    const group = first.job.capacityGroup ?? this.options.defaultGroup;
    await this.ending.get(jobId);
    if (!this.createdJobs.has(jobId)) {
      // A job that ended (its frames had all settled) is replaced by the backend.
      await this.backend.createJob(await this.tasks.jobFor(jobId, first.job, group), { abortSignal });
      this.createdJobs.add(jobId);
    }
    abortSignal.throwIfAborted();
    const byGeneration = new Map<number, string[]>();
    const specs = await Promise.all(
      frameIds.map((frameId) => {
        const s = this.store.specsOf(frameId)!;
        const g = this.store.nextGeneration(frameId);
        byGeneration.set(g, [...(byGeneration.get(g) ?? []), frameId]);
        return this.tasks.taskFor(taskIdOf(frameId, g), jobId, frameId, s.job, s.frame);
      }),
    );
    abortSignal.throwIfAborted();
    // Intent first: a crash after the backend call finds the generation and asks the backend.
    for (const [g, ids] of byGeneration) {
      const changed = ids.filter((id) => this.store.dispatchedGeneration(id) !== g);
      if (changed.length > 0) await this.store.markDispatched(changed, g);
    }
    const result = await this.backend.addTasks(jobId, specs, { abortSignal });
    this.options.logger.info('dispatched frames', {
      jobId,
      group,
      added: result.added.length,
      alreadyThere: result.alreadyExisted.length,
    });
  }

  private onTaskEvent(event: TaskEvent): void {
    const { frameId } = parseTaskId(event.task.taskId);
    this.serialise(frameId, () => this.applyTask(event.task, event.type));
  }

  /** Runs frame updates one at a time per frame, in arrival order. */
  private serialise(frameId: string, work: () => Promise<void>): void {
    const previous = this.chains.get(frameId) ?? Promise.resolve();
    const next = previous
      .then(work)
      .catch((err: unknown) =>
        this.options.logger.error('frame update failed', { frameId, error: errorText(err) }),
      )
      .finally(() => {
        if (this.chains.get(frameId) === next) this.chains.delete(frameId);
      });
    this.chains.set(frameId, next);
  }

  private async applyTask(task: TaskInfo, why: TaskEvent['type'] | 'reconcile'): Promise<void> {
    const { frameId, generation } = parseTaskId(task.taskId);
    const frame = this.store.getFrame(frameId);
    if (!frame || TERMINAL_FRAME_STATES.has(frame.state)) return;
    if (generation !== this.store.dispatchedGeneration(frameId) && generation !== 0) return; // a stale attempt
    const attempt = task.retryCount + task.requeueCount + 1;
    const nodeId = task.nodeId;

    if (why === 'preempted' && frame.state !== 'queued') {
      await this.store.change(frameId, {
        type: 'preempted',
        state: 'queued',
        nodeId,
        message: 'spot node preempted; requeued',
      });
      return;
    }
    if (why === 'retrying') {
      await this.store.change(frameId, {
        type: 'retrying',
        state: 'queued',
        nodeId,
        exitCode: task.exitCode,
        message: task.failure?.message ?? `attempt failed with exit code ${task.exitCode ?? '?'}; retrying`,
      });
      return;
    }
    if (
      (task.state === 'running' || task.state === 'preparing') &&
      (frame.state === 'queued' || attempt > frame.attempts)
    ) {
      await this.store.change(frameId, { type: 'started', state: 'running', attempt, nodeId });
      return;
    }
    if (task.state !== 'completed') return;
    if (task.failure?.code === TASK_LOST_CODE) {
      // Nothing ran to an end: the frame is handed over again, as a new task.
      await this.store.change(frameId, {
        type: 'retrying',
        state: 'queued',
        nodeId,
        message: `${task.failure.message}; dispatching it again`,
      });
      this.submitted([frameId]);
      return;
    }
    if (frame.attempts < attempt) {
      // The start was never seen (it happened while the service was down): record it first.
      await this.store.change(frameId, { type: 'started', state: 'running', attempt, nodeId });
    }
    if (task.result === 'success') {
      let outputs: OutputFile[];
      try {
        const signal = this.abort.signal;
        const backend = this.backend;
        outputs = await this.outputs.outputsOf(frame.jobId, frameId, {
          abortSignal: signal,
          ...(this.store.specsOf(frameId)?.job.sharedOutput ? { onShare: true } : {}),
          ...(backend.readTaskFile
            ? {
                readTaskFile: (file: string) =>
                  backend.readTaskFile!(frame.jobId, task.taskId, file, { abortSignal: signal }),
              }
            : {}),
        });
      } catch (err) {
        await this.store.change(frameId, {
          type: 'failed',
          state: 'failed',
          exitCode: task.exitCode,
          message: `task succeeded but its outputs are missing or incomplete: ${errorText(err)}`,
        });
        this.endIfSettled(frame.jobId);
        return;
      }
      await this.store.change(frameId, {
        type: 'succeeded',
        state: 'succeeded',
        exitCode: task.exitCode ?? 0,
        outputs,
      });
    } else {
      await this.store.change(frameId, {
        type: 'failed',
        state: 'failed',
        exitCode: task.exitCode,
        message: task.failure
          ? `${task.failure.code}: ${task.failure.message}`
          : `exit code ${task.exitCode ?? '?'}`,
      });
    }
    this.endIfSettled(frame.jobId);
  }

  /**
   * Ends the backend job once every frame of the job has settled, so it stops counting
   * against the account's active-job quota (Batch allows 100-300 active jobs). Frames added
   * to the job later (after a recall, say) open it again: `createJob` replaces an ended job.
   */
  private endIfSettled(jobId: string): void {
    if (this.stopped || this.store.getJob(jobId)?.state !== 'completed' || this.ending.has(jobId)) return;
    this.createdJobs.delete(jobId);
    const ending = this.backend
      .terminateJob(jobId, { abortSignal: this.abort.signal })
      .catch((err: unknown) =>
        this.options.logger.warn('ending the settled backend job failed', { jobId, error: errorText(err) }),
      )
      .finally(() => this.ending.delete(jobId));
    this.ending.set(jobId, ending);
  }

  /**
   * Recalls frames that have not started: their backend task is ended while still waiting,
   * and they become `recalled`. Frames already running are left alone. Waits only for a
   * backend call in flight with one of these frames (never for a retry's delay, never for
   * another job).
   */
  async recall(
    frameIds: readonly string[],
    reason: string,
  ): Promise<{ recalled: string[]; notRecalled: string[] }> {
    const recalled: string[] = [];
    const notRecalled: string[] = [];
    for (const frameId of frameIds) {
      const frame = this.store.getFrame(frameId);
      const job = frame ? this.jobs.get(frame.jobId) : undefined;
      // Not handed over yet: it never will be now.
      job?.waiting.delete(frameId);
      // Being handed over right now: let that call end, then end its task.
      if (job?.inFlight?.frames.has(frameId)) await job.inFlight.done;
      const done = new Promise<boolean>((resolve) => {
        this.serialise(frameId, async () => {
          const frame = this.store.getFrame(frameId);
          if (!frame || frame.state !== 'queued') return resolve(false);
          const generation = this.store.dispatchedGeneration(frameId);
          if (generation > 0) {
            const task = await this.backend.getTask(frame.jobId, taskIdOf(frameId, generation));
            if (task && task.state !== 'active') return resolve(false);
            if (task) await this.backend.terminateTask(frame.jobId, task.taskId);
          }
          await this.store.change(frameId, { type: 'recalled', state: 'recalled', message: reason });
          if (generation > 0) this.endIfSettled(frame.jobId);
          resolve(true);
        });
      });
      ((await done) ? recalled : notRecalled).push(frameId);
    }
    return { recalled, notRecalled };
  }

  /**
   * Cancels every unfinished frame of a job and ends its backend job. Cancel wins: the job's
   * dispatch stops at once (a call in flight is aborted, a retry never happens).
   */
  async cancel(jobId: string, reason: string): Promise<void> {
    await this.store.markCancelled(jobId);
    const job = this.jobs.get(jobId);
    if (job) {
      job.waiting.clear();
      clearTimeout(job.retryTimer);
      job.retryTimer = undefined;
      job.abort.abort(new Error(`job ${jobId} cancelled`));
      await job.inFlight?.done;
      this.jobs.delete(jobId);
    }
    const work = this.store.framesOf(jobId).filter((f) => !TERMINAL_FRAME_STATES.has(f.state));
    await Promise.all(
      work.map(
        (frame) =>
          new Promise<void>((resolve) =>
            this.serialise(frame.frameId, async () => {
              const generation = this.store.dispatchedGeneration(frame.frameId);
              if (generation > 0) {
                await this.backend
                  .terminateTask(jobId, taskIdOf(frame.frameId, generation))
                  .catch((err: unknown) =>
                    this.options.logger.warn('terminating a task failed', {
                      jobId,
                      frameId: frame.frameId,
                      error: errorText(err),
                    }),
                  );
              }
              const now = this.store.getFrame(frame.frameId)!;
              if (!TERMINAL_FRAME_STATES.has(now.state)) {
                await this.store.change(frame.frameId, {
                  type: 'cancelled',
                  state: 'cancelled',
                  message: reason,
                });
              }
              resolve();
            }),
          ),
      ),
    );
    if (this.createdJobs.has(jobId) || work.some((f) => this.store.dispatchedGeneration(f.frameId) > 0)) {
      await this.backend
        .terminateJob(jobId)
        .catch((err: unknown) =>
          this.options.logger.warn('terminating the backend job failed', { jobId, error: errorText(err) }),
        );
    }
  }

  /**
   * Waits until no dispatch, retry or frame update is pending (for orderly shutdown and
   * tests). A job waiting for a retry counts as pending until it dispatched or failed.
   */
  async idle(): Promise<void> {
    for (;;) {
      const inFlight = [...this.jobs.values()].flatMap((j) => (j.inFlight ? [j.inFlight.done] : []));
      const retrying = [...this.jobs.values()].some((j) => j.retryTimer !== undefined);
      const busy =
        this.gathering !== undefined ||
        this.running > 0 ||
        this.ready.length > 0 ||
        inFlight.length > 0 ||
        retrying ||
        this.chains.size > 0 ||
        this.ending.size > 0;
      if (!busy || this.stopped) return;
      await Promise.all([...inFlight, ...this.chains.values(), ...this.ending.values()]);
      await new Promise((r) => setTimeout(r, retrying || this.gathering ? 5 : 0));
    }
  }

  /** Stops dispatching and unsubscribes; frames keep their state for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.unsubscribe?.();
    this.unsubscribeGate?.();
    if (this.gathering) clearImmediate(this.gathering);
    this.gathering = undefined;
    for (const job of this.jobs.values()) clearTimeout(job.retryTimer);
    await Promise.allSettled([
      ...[...this.jobs.values()].flatMap((j) => (j.inFlight ? [j.inFlight.done] : [])),
      ...this.chains.values(),
      ...this.ending.values(),
    ]);
  }
}

/** A submission that could not be dispatched, as the ValidationError of the field that causes it. */
function undispatchable(field: string, err: ValidationError, detail?: string): ValidationError {
  return new ValidationError(
    field,
    err.value,
    `cannot be dispatched${detail ? ` (${detail})` : ''}: ${err.field} ${err.reason}`,
  );
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
