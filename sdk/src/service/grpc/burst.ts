import { ValidationError } from '../../errors';
import * as w from '../../gen/spillway/v1/burst';
import type { FarmReport } from '../../model';
import { burstPlanToWire, burstStatusToWire, farmReportFromWire } from '../../model/wire-mapping';
import type { BurstManager } from '../burst/manager';
import { unary, type HandlerContext } from './handlers';

const SOURCE = /^[A-Za-z0-9._:-]{1,128}$/;

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
  const seen = new Set<string>();
  state.jobs.forEach((j, i) => {
    const at = `state.jobs[${i}]`;
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
