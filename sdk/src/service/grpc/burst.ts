import { ValidationError } from '../../errors';
import * as w from '../../gen/spillway/v1/burst';
import { durationFromWire, durationToWire, sourceKinds } from '../../model/wire-mapping';
import type { BurstManager } from '../burst/manager';
import type { FarmReport } from '../burst/planner';
import { unary, type HandlerContext } from './handlers';

const SOURCE = /^[A-Za-z0-9._:-]{1,128}$/;

/** Validates a wire farm report and turns it into the planner's shape. */
export function farmReportFromWire(state: w.FarmState | undefined): FarmReport {
  if (!state) throw new ValidationError('state', null, 'is required');
  if (!SOURCE.test(state.source)) {
    throw new ValidationError(
      'state.source',
      state.source,
      'must be 1-128 characters of A-Z a-z 0-9 . _ : -',
    );
  }
  return {
    source: state.source,
    observedAt: state.observedAt ?? new Date(),
    jobs: state.jobs.map((j, i) => {
      if (!j.sourceJobId)
        throw new ValidationError(`state.jobs[${i}].source_job_id`, j.sourceJobId, 'is required');
      if (j.priority > 100)
        throw new ValidationError(`state.jobs[${i}].priority`, j.priority, 'must be from 0 to 100');
      return {
        sourceJobId: j.sourceJobId,
        priority: j.priority,
        group: j.group,
        queuedFrames: j.queuedFrames,
        renderingFrames: j.renderingFrames,
        offloadedFrames: j.offloadedFrames,
        ...(j.submittedAt ? { submittedAt: j.submittedAt } : {}),
        ...(j.deadline ? { deadline: j.deadline } : {}),
        ...(j.frameTime ? { frameTimeMs: durationFromWire(j.frameTime) } : {}),
        burstable: j.burstable,
        ...(j.capacityGroup ? { capacityGroup: j.capacityGroup } : {}),
      };
    }),
    workers: state.workers.map((g) => ({ group: g.group, idle: g.idleWorkers, busy: g.busyWorkers })),
  };
}

/** The BurstService handlers. */
export function burstServiceHandlers(
  ctx: HandlerContext,
  burst: BurstManager,
  reportIntervalMs = 5000,
): w.BurstServiceServer {
  return {
    reportFarmState: unary(ctx, async (req: w.ReportFarmStateRequest) => {
      const plan = await burst.report(farmReportFromWire(req.state));
      return {
        plan: {
          planId: plan.planId,
          createdAt: new Date(),
          offload: plan.offload.map((o) => ({ ...o })),
          recall: plan.recall.map((r) => ({ ...r })),
          targets: plan.targets.map((t) => ({
            capacityGroup: t.capacityGroup,
            targetDedicatedNodes: t.dedicated,
            targetSpotNodes: t.spot,
          })),
          projectedCostPerHour: plan.projectedCostPerHour,
          reasons: [...plan.reasons],
          reportInterval: durationToWire(reportIntervalMs),
        },
      };
    }),
    getBurstStatus: unary(ctx, async () => {
      const s = await burst.status();
      return {
        maxSpendPerHour: s.maxSpendPerHour,
        costPerHour: s.costPerHour,
        spentTotal: s.spentTotal,
        currency: s.currency,
        current: s.groups.map((g) => ({
          capacityGroup: g.name,
          targetDedicatedNodes: g.dedicated,
          targetSpotNodes: g.spot,
        })),
        sources: s.sources.map((x) => ({
          source: x.source,
          sourceKind: sourceKinds.toWire('client'),
          lastReportAt: x.lastReportAt,
          queuedFrames: x.queuedFrames,
          cloudFrames: x.cloudFrames,
        })),
      };
    }),
  };
}
