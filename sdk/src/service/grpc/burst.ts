import { ValidationError } from '../../errors';
import * as w from '../../gen/spillway/v1/burst';
import type { FarmReport } from '../../model';
import { burstPlanToWire, burstStatusToWire, farmReportFromWire } from '../../model/wire-mapping';
import type { BurstManager } from '../burst/manager';
import { unary, type HandlerContext } from './handlers';

const SOURCE = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * What one farm report may claim. The plan walks every worker and every frame it is told
 * of, so a report beyond these (a bridge's bug or a hostile client) is refused before it
 * costs the service its memory or its event loop. Each is well beyond any real farm.
 */
export const FARM_REPORT_LIMITS = {
  /** Workers (idle + busy + offline) over all the report's worker groups. */
  workers: 100_000,
  /** Frames of one job in any one state (queued, rendering, offloaded, completed). */
  framesPerJob: 1_000_000,
  /** Queued + rendering + offloaded frames over all the report's jobs. */
  frames: 10_000_000,
} as const;

/**
 * Validates a wire farm report and maps it to the SDK's `FarmReport`.
 * @throws ValidationError naming the field (`state.jobs[2].rendering[0].progress`) and quoting the value
 */
export function validFarmReport(state: w.FarmState | undefined, receivedAt = new Date()): FarmReport {
  if (!state) throw new ValidationError('state', null, 'is required');
  if (!SOURCE.test(state.source)) {
    throw new ValidationError(
      'state.source',
      state.source,
      'must be 1-128 characters of A-Z a-z 0-9 . _ : -',
    );
  }
  let workers = 0;
  state.workers.forEach((g, i) => {
    for (const [name, n] of [
      ['idle_workers', g.idleWorkers],
      ['busy_workers', g.busyWorkers],
      ['offline_workers', g.offlineWorkers],
    ] as const) {
      workers += n;
      if (workers > FARM_REPORT_LIMITS.workers)
        throw new ValidationError(
          `state.workers[${i}].${name}`,
          n,
          `makes the report's workers more than ${FARM_REPORT_LIMITS.workers}`,
        );
    }
  });
  let frames = 0;
  const seen = new Set<string>();
  state.jobs.forEach((j, i) => {
    const at = `state.jobs[${i}]`;
    for (const [name, n] of [
      ['queued_frames', j.queuedFrames],
      ['rendering_frames', j.renderingFrames],
      ['offloaded_frames', j.offloadedFrames],
      ['completed_frames', j.completedFrames],
    ] as const) {
      if (n > FARM_REPORT_LIMITS.framesPerJob)
        throw new ValidationError(`${at}.${name}`, n, `must be at most ${FARM_REPORT_LIMITS.framesPerJob}`);
      if (name !== 'completed_frames') frames += n;
    }
    if (frames > FARM_REPORT_LIMITS.frames)
      throw new ValidationError(
        `${at}.queued_frames`,
        j.queuedFrames,
        `makes the report's unfinished frames more than ${FARM_REPORT_LIMITS.frames}`,
      );
    if (!j.sourceJobId) throw new ValidationError(`${at}.source_job_id`, j.sourceJobId, 'is required');
    if (seen.has(j.sourceJobId))
      throw new ValidationError(`${at}.source_job_id`, j.sourceJobId, 'must be unique in the report');
    seen.add(j.sourceJobId);
    if (j.priority > 100) throw new ValidationError(`${at}.priority`, j.priority, 'must be from 0 to 100');
    for (const [name, d] of [
      ['frame_time', j.frameTime],
      ['local_frame_time.mean', j.localFrameTime?.mean],
      ['local_frame_time.stdev', j.localFrameTime?.stdev],
      ['cloud_frame_time.mean', j.cloudFrameTime?.mean],
      ['cloud_frame_time.stdev', j.cloudFrameTime?.stdev],
    ] as const) {
      if (d && (d.seconds < 0 || d.nanos < 0))
        throw new ValidationError(`${at}.${name}`, `${d.seconds}s ${d.nanos}ns`, 'must not be negative');
    }
    j.rendering.forEach((f, k) => {
      if (f.progress !== undefined && !(f.progress >= 0 && f.progress <= 1))
        throw new ValidationError(`${at}.rendering[${k}].progress`, f.progress, 'must be from 0 to 1');
    });
  });
  return farmReportFromWire(state, receivedAt);
}

/** The BurstService handlers. */
export function burstServiceHandlers(ctx: HandlerContext, burst: BurstManager): w.BurstServiceServer {
  return {
    reportFarmState: unary(ctx, async (req: w.ReportFarmStateRequest) => {
      const plan = await burst.report(validFarmReport(req.state));
      return { plan: burstPlanToWire(plan) };
    }),
    getBurstStatus: unary(ctx, async () => burstStatusToWire(await burst.status())),
  };
}
