import { setMaxListeners } from 'node:events';
import type {
  ComputeBackend,
  ComputeJobSpec,
  ComputeTaskSpec,
  TaskEvent,
  TaskInfo,
} from '../../compute/backend';
import type { FrameSpec, JobSpec, OutputFile } from '../../model/frames';
import { TERMINAL_FRAME_STATES } from '../../model/frames';
import type { Logger } from '../../logging';
import { sleep } from '../../retry';
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

/** What may happen to a group's frames now (a preflight on its nodes, for one). */
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
  /** First retry delay after a backend fault. @default 500 */
  readonly retryBaseMs?: number;
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

/**
 * Hands queued frames to the compute backend and turns the backend's task events into
 * frame events. It never trusts memory over the backend: on start it reconciles every
 * unfinished frame with the backend's view, and task ids derive from frame ids, so a
 * re-send after a crash is recognised by the backend instead of creating a second task.
 */
export class FrameDispatcher {
  private readonly pending = new Set<string>();
  /** Frames the gate holds, by group, until it changes its mind. */
  private readonly held = new Map<string, Set<string>>();
  private unsubscribeGate: (() => void) | undefined;
  private dispatching: Promise<void> | undefined;
  private readonly chains = new Map<string, Promise<void>>();
  private readonly createdJobs = new Set<string>();
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
      for (const id of ids) this.pending.add(id);
      this.schedule();
    });
    for (const frame of this.store.unfinishedFrames()) {
      const generation = this.store.dispatchedGeneration(frame.frameId);
      if (generation === 0) {
        this.pending.add(frame.frameId);
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
        this.pending.add(frame.frameId);
      } else {
        this.serialise(frame.frameId, () => this.applyTask(task, 'reconcile'));
      }
    }
    this.schedule();
  }

  /** Queues newly submitted frames for dispatch. */
  submitted(frameIds: readonly string[]): void {
    for (const id of frameIds) this.pending.add(id);
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped || this.pending.size === 0) return;
    this.dispatching ??= this.dispatchLoop().finally(() => {
      this.dispatching = undefined;
      this.schedule();
    });
  }

  private async dispatchLoop(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve)); // gather this tick's submissions
    const byJob = new Map<string, string[]>();
    for (const id of this.pending) {
      const frame = this.store.getFrame(id);
      if (!frame || frame.state !== 'queued' || this.store.isCancelled(frame.jobId)) {
        this.pending.delete(id);
        continue;
      }
      const list = byJob.get(frame.jobId) ?? [];
      list.push(id);
      byJob.set(frame.jobId, list);
    }
    for (const [jobId, all] of byJob) {
      if (!(await this.passGate(jobId, all))) continue;
      // In slices: a 10,000-frame submission never holds 10,000 task specs at once.
      for (let at = 0; at < all.length; at += DISPATCH_SLICE) {
        const frameIds = all.slice(at, at + DISPATCH_SLICE);
        if (!(await this.dispatchWithRetry(jobId, frameIds))) return;
      }
    }
  }

  /**
   * Asks the gate about the job's group: true to send the frames now; otherwise they are held
   * (until the gate changes its mind about the group) or sent back to the farm as recalled,
   * with the gate's reason, and are no longer pending.
   */
  private async passGate(jobId: string, frameIds: readonly string[]): Promise<boolean> {
    const gate = this.options.gate;
    if (!gate) return true;
    const group = this.store.specsOf(frameIds[0]!)!.job.capacityGroup ?? this.options.defaultGroup;
    const v = gate.verdict(group);
    if (v.verdict === 'go') return true;
    for (const id of frameIds) this.pending.delete(id);
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

  /** Dispatches frames of one job, retrying backend faults; false when stopped. */
  private async dispatchWithRetry(jobId: string, frameIds: readonly string[]): Promise<boolean> {
    let attempt = 0;
    for (;;) {
      try {
        await this.dispatchJob(jobId, frameIds);
        for (const id of frameIds) this.pending.delete(id);
        return true;
      } catch (err) {
        if (this.stopped) return false;
        attempt += 1;
        const delay = Math.min(30_000, (this.options.retryBaseMs ?? 500) * 2 ** Math.min(attempt, 6));
        this.options.logger.warn('dispatch failed; will retry', {
          jobId,
          frames: frameIds.length,
          attempt,
          error: errorText(err),
        });
        await sleep(delay * (0.5 + Math.random() / 2), this.abort.signal);
      }
    }
  }

  private async dispatchJob(jobId: string, frameIds: readonly string[]): Promise<void> {
    const first = this.store.specsOf(frameIds[0]!)!;
    const group = first.job.capacityGroup ?? this.options.defaultGroup;
    if (!this.createdJobs.has(jobId)) {
      await this.backend.createJob(await this.tasks.jobFor(jobId, first.job, group), {
        abortSignal: this.abort.signal,
      });
      this.createdJobs.add(jobId);
    }
    const byGeneration = new Map<number, string[]>();
    const specs = await Promise.all(
      frameIds.map((frameId) => {
        const s = this.store.specsOf(frameId)!;
        const g = this.store.nextGeneration(frameId);
        byGeneration.set(g, [...(byGeneration.get(g) ?? []), frameId]);
        return this.tasks.taskFor(taskIdOf(frameId, g), jobId, frameId, s.job, s.frame);
      }),
    );
    // Intent first: a crash after the backend call finds the generation and asks the backend.
    for (const [g, ids] of byGeneration) {
      const changed = ids.filter((id) => this.store.dispatchedGeneration(id) !== g);
      if (changed.length > 0) await this.store.markDispatched(changed, g);
    }
    const result = await this.backend.addTasks(jobId, specs, { abortSignal: this.abort.signal });
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
    // The backend job stays open when every frame has finished: a bridge may add frames to
    // the same job later (and does, after a recall or a restart). It ends on cancel.
  }

  /**
   * Recalls frames that have not started: their backend task is ended while still waiting,
   * and they become `recalled`. Frames already running are left alone.
   */
  async recall(
    frameIds: readonly string[],
    reason: string,
  ): Promise<{ recalled: string[]; notRecalled: string[] }> {
    const recalled: string[] = [];
    const notRecalled: string[] = [];
    // A dispatch in flight may be creating these frames' tasks: let it finish, then end them.
    while (this.dispatching) await this.dispatching;
    for (const frameId of frameIds) {
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
          this.pending.delete(frameId);
          await this.store.change(frameId, { type: 'recalled', state: 'recalled', message: reason });
          resolve(true);
        });
      });
      ((await done) ? recalled : notRecalled).push(frameId);
    }
    return { recalled, notRecalled };
  }

  /** Cancels every unfinished frame of a job and ends its backend job. */
  async cancel(jobId: string, reason: string): Promise<void> {
    await this.store.markCancelled(jobId);
    const work = this.store.framesOf(jobId).filter((f) => !TERMINAL_FRAME_STATES.has(f.state));
    await Promise.all(
      work.map(
        (frame) =>
          new Promise<void>((resolve) =>
            this.serialise(frame.frameId, async () => {
              const generation = this.store.dispatchedGeneration(frame.frameId);
              if (generation > 0)
                await this.backend.terminateTask(jobId, taskIdOf(frame.frameId, generation));
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

  /** Waits until no dispatch and no frame update is in flight (for orderly shutdown and tests). */
  async idle(): Promise<void> {
    while (this.dispatching || this.chains.size > 0) {
      await Promise.all([this.dispatching, ...this.chains.values()]);
    }
  }

  /** Stops dispatching and unsubscribes; frames keep their state for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.unsubscribe?.();
    this.unsubscribeGate?.();
    await Promise.allSettled([this.dispatching, ...this.chains.values()]);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
