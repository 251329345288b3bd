/**
 * Settling a task with its cloud frame's final state. Succeeded: its outputs come back into
 * the job's output folder (the bridge kit's `OutputReturner`: fetch → verify → record →
 * place), then the task is marked Complete in Deadline. Failed, cancelled, recalled, or
 * outputs that fail verification: the task goes back to the local farm for good (resumed).
 * Idempotent: settling twice (an event after a reconcile, a recall answer and its event)
 * changes nothing the second time.
 */
import { isBadOutputError, OutputReturner, removeStaging, verifyInPlace } from '@spillway/bridge-kit';
import type { FrameState, OutputFile } from '@spillway/sdk';
import { cloudLogPath, saveCloudLog } from './cloud-log';
import type { BridgeContext } from './context';
import { taskKey, type TaskId, type TaskRecord } from './state';

/** Settles tasks. */
export class Settler {
  private readonly returner: OutputReturner;

  constructor(private readonly ctx: BridgeContext) {
    this.returner = new OutputReturner(ctx.burst, ctx.signal);
  }

  /** Brings a task in line with its cloud frame's final state. */
  async settle(
    jobId: string,
    taskId: TaskId,
    state: FrameState,
    frameId: string,
    message: string,
    outputs: readonly OutputFile[] = [],
  ): Promise<void> {
    const { state: store, log, counters } = this.ctx;
    const rec = store.task(jobId, taskId);
    if (!rec || rec.phase === 'local') return;
    if (state === 'succeeded') {
      let placed = 0;
      if (rec.inPlace && rec.outputDir) {
        // Written to the share by the node: checked where it is, nothing is downloaded.
        try {
          const checked = await verifyInPlace({
            frameId,
            outputs,
            outputDir: rec.outputDir,
            frameStart: rec.frameStart ?? 0,
            frameEnd: rec.frameEnd ?? rec.frameStart ?? 0,
            expectFrameNumbers: rec.expectFrameNumbers ?? false,
            abortSignal: this.ctx.signal,
          });
          placed = checked.files.length;
          counters.outputBytesVerifiedInPlace += checked.bytes;
        } catch (err) {
          if (!isBadOutputError(err)) throw err;
          await this.backToFarm(
            rec,
            `cloud frame succeeded but its outputs on the share failed verification: ${(err as Error).message}`,
          );
          counters.failedBack += 1;
          log.warn('cloud outputs on the share failed verification; task resumed on the local farm', {
            job: jobId,
            task: taskId,
            frame: frameId,
            reason: (err as Error).message,
          });
          return;
        }
      } else if (rec.staging && rec.outputDir) {
        try {
          const files = await this.returner.bringBack({
            frameId,
            outputs,
            outputDir: rec.outputDir,
            staging: rec.staging,
            frameStart: rec.frameStart ?? 0,
            frameEnd: rec.frameEnd ?? rec.frameStart ?? 0,
            expectFrameNumbers: rec.expectFrameNumbers ?? false,
            ...(rec.placed ? { placed: rec.placed } : {}),
            // Verified once, recorded, then moved: a rerun after a crash finishes the moves.
            onVerified: (list) =>
              store.update((s) =>
                Object.assign(s.tasks[taskKey(jobId, taskId)]!, { phase: 'placing', placed: list }),
              ),
          });
          placed = files.length;
          counters.outputBytesFetched += outputs
            .filter((o) => files.includes(o.path))
            .reduce((n, o) => n + o.sizeBytes, 0);
        } catch (err) {
          if (!isBadOutputError(err)) throw err; // a passing fault: the event comes again
          await this.backToFarm(
            rec,
            `cloud frame succeeded but its outputs failed verification: ${(err as Error).message}`,
          );
          counters.failedBack += 1;
          log.warn('cloud outputs failed verification; task resumed on the local farm', {
            job: jobId,
            task: taskId,
            frame: frameId,
            reason: (err as Error).message,
          });
          return;
        }
      }
      const cloudLog = await this.keepLog(jobId, taskId, frameId);
      await this.ctx.deadline.taskCommand('complete', jobId, [taskId], this.ctx.sig);
      store.forget(jobId, [taskId]);
      counters.completed += 1;
      log.info('completed', { job: jobId, task: taskId, frame: frameId, outputs: placed, cloudLog });
      return;
    }
    const why =
      state === 'recalled'
        ? `recalled: ${message || 'local workers are idle'}`
        : `cloud frame ${state}: ${message || 'no message'}`;
    const cloudLog = state === 'recalled' ? undefined : await this.keepLog(jobId, taskId, frameId);
    await this.backToFarm(rec, why);
    if (state === 'recalled') {
      counters.recalled += 1;
      log.info('recalled', { job: jobId, task: taskId, reason: message || 'local workers are idle' });
    } else {
      counters.failedBack += 1;
      log.warn('cloud frame failed; task resumed on the local farm', {
        job: jobId,
        task: taskId,
        frame: frameId,
        reason: message || state,
        cloudLog,
      });
    }
  }

  /** Saves the cloud frame's log beside the bridge's state (see `cloud-log.ts`); a failure costs only the log. */
  private async keepLog(jobId: string, taskId: TaskId, frameId: string): Promise<string | undefined> {
    try {
      return await saveCloudLog(
        this.ctx.burst,
        frameId,
        cloudLogPath(this.ctx.config.stateDir, jobId, taskId),
        this.ctx.sig.abortSignal,
      );
    } catch (err) {
      this.ctx.log.warn('could not keep the cloud log', {
        job: jobId,
        task: taskId,
        err: (err as Error).message,
      });
      return undefined;
    }
  }

  /** The task stays local for good: resumed in Deadline (when suspended), never offloaded again. */
  private async backToFarm(rec: TaskRecord, reason: string): Promise<void> {
    if (rec.staging) removeStaging(rec.staging);
    this.ctx.state.update((s) =>
      Object.assign(s.tasks[taskKey(rec.jobId, rec.taskId)]!, {
        phase: 'local',
        reason,
        placed: undefined,
        staging: undefined,
      }),
    );
    const tasks = await this.ctx.deadline.listTasks(rec.jobId, this.ctx.sig);
    if (tasks.find((t) => t.taskId === rec.taskId)?.state === 'suspended')
      await this.ctx.deadline.taskCommand('resume', rec.jobId, [rec.taskId], this.ctx.sig);
  }
}
