/**
 * After a restart: every task suspended in Deadline either has a cloud frame behind it (and
 * is settled if that frame finished) or is resumed when the bridge had suspended it; tasks
 * the bridge did not suspend (a user's) are left alone; no frame is submitted again.
 */
import { BurstServiceError, TERMINAL_FRAME_STATES, type Frame } from '@spillway/sdk';
import type { DeadlineJob, DeadlineTask } from '../webservice';
import type { BridgeContext } from './context';
import { stagingOf } from './poll';
import type { Settler } from './returns';
import { taskKey, taskIdOf } from './state';

/** Reconciles the state with the service and Deadline. */
export async function reconcile(ctx: BridgeContext, settler: Settler): Promise<void> {
  const { deadline, state, log } = ctx;
  const active = await deadline.listJobs(['active'], ctx.sig);
  const ids = new Set([...active.map((j) => j.id), ...state.records().map((r) => r.jobId)]);
  let settled = 0;
  for (const jobId of ids) {
    let tasks: DeadlineTask[];
    try {
      tasks = await deadline.listTasks(jobId, ctx.sig);
    } catch (err) {
      log.warn('job is gone from Deadline; forgetting its tasks', {
        job: jobId,
        error: (err as Error).message,
      });
      state.update((s) => {
        for (const k of Object.keys(s.tasks)) if (s.tasks[k]!.jobId === jobId) delete s.tasks[k];
      });
      continue;
    }
    const frames = await framesOf(ctx, jobId);
    const job = active.find((j) => j.id === jobId);
    if (job) ctx.jobs.set(jobId, job);
    for (const t of tasks) {
      const rec = state.task(jobId, t.taskId);
      const f = frames.get(t.taskId);
      if (t.state === 'completed') {
        if (rec && rec.phase !== 'local') state.forget(jobId, [t.taskId]);
        continue;
      }
      if (t.state !== 'suspended') {
        if (rec?.phase === 'suspending') state.forget(jobId, [t.taskId]);
        continue;
      }
      if (f) {
        if (!rec || rec.phase === 'suspending') adopt(ctx, jobId, t, f, job);
        if (TERMINAL_FRAME_STATES.has(f.state)) {
          await settler.settle(jobId, t.taskId, f.state, f.frameId, f.message ?? '', f.outputs);
          settled += 1;
        }
      } else if (rec && rec.phase !== 'local') {
        log.info('task suspended without a cloud frame; resuming it locally', { job: jobId, task: t.taskId });
        await deadline.taskCommand('resume', jobId, [t.taskId], ctx.sig);
        state.forget(jobId, [t.taskId]);
      } else if (rec?.phase === 'local') {
        await deadline.taskCommand('resume', jobId, [t.taskId], ctx.sig);
      }
    }
  }
  log.info('reconciled', {
    jobs: ids.size,
    inCloud: state.records((r) => r.phase === 'cloud').length,
    settled,
  });
}

/** A suspended task with a cloud frame the state did not record (crash after submit). */
function adopt(
  ctx: BridgeContext,
  jobId: string,
  t: DeadlineTask,
  f: Frame,
  job: DeadlineJob | undefined,
): void {
  const route = job ? ctx.route(job) : undefined;
  const outputDir = route?.ok ? route.outputDir : undefined;
  const built =
    job && outputDir ? ctx.cloudCommand(job, f.frameStart, f.frameEnd ?? f.frameStart) : undefined;
  const fetched = outputDir !== undefined && built?.supported === true && built.redirectsOutput;
  ctx.state.update((s) => {
    s.tasks[taskKey(jobId, t.taskId)] = {
      jobId,
      taskId: t.taskId,
      phase: 'cloud',
      frameId: f.frameId,
      frameStart: f.frameStart,
      frameEnd: f.frameEnd,
      ...(outputDir ? { outputDir } : {}),
      ...(fetched
        ? { staging: stagingOf(outputDir, jobId, t.taskId), expectFrameNumbers: built.expectFrameNumbers }
        : {}),
    };
  });
}

/** The service's frames of a Deadline job, by task id (none when the service never saw it). */
async function framesOf(ctx: BridgeContext, jobId: string): Promise<Map<number, Frame>> {
  const out = new Map<number, Frame>();
  let serviceJobId: string;
  try {
    serviceJobId = (await ctx.burst.getJob({ source: ctx.source, sourceJobId: jobId }, ctx.sig)).jobId;
  } catch (err) {
    if (err instanceof BurstServiceError && err.code === 'NOT_FOUND') return out;
    throw err;
  }
  for await (const f of ctx.burst.listFrames(serviceJobId, ctx.sig)) out.set(taskIdOf(f.key.sourceTaskId), f);
  return out;
}
