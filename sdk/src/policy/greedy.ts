/**
 * The greedy planner: a named baseline (`planner: greedy` in the service's configuration),
 * never the default. It is the rule the service planned with before the policy, in the
 * style of Deadline's Spot Event Plugin: offload whatever no idle worker can take.
 */
import {
  localWorkers,
  type CapacityTarget,
  type JobPlan,
  type OffloadDecision,
  type PlanDecision,
  type RecallDecision,
} from '../model/burst';
import { farmOrder, type PlanBurstInput } from './burst-policy';

/**
 * 1. Local first: idle local workers take queued frames, in the farm's order.
 * 2. Offload: frames that no idle worker can take, of burstable jobs with a deadline (or,
 *    with a turnaround target, any burstable job), go to the cloud, up to what the group's
 *    maximum nodes can run.
 * 3. Recall: idle local workers left over take back frames still queued in the cloud.
 * 4. Capacity: each group is sized to its cloud frames (queued + running + offloaded now),
 *    spot nodes first, then dedicated, within its maxima and the spend cap.
 */
export function greedyPlan(input: PlanBurstInput): PlanDecision {
  const planned = input.source ?? input.farms[0]?.report.source;
  const farm = input.farms.find((f) => f.report.source === planned);
  const defaultGroup = input.defaultGroup ?? input.groups[0]?.name ?? '';
  const reasons: string[] = [];
  if (!farm) return { offload: [], recall: [], targets: [], jobs: [], projectedCostPerHour: 0, reasons };
  let idle = localWorkers(farm.report).idle;
  const groupOf = new Map(input.groups.map((g) => [g.name, g]));
  const cloudOf = (id: string): { queued: number; running: number } => {
    const c = farm.cloud?.get(id);
    return (
      c ?? { queued: 0, running: farm.report.jobs.find((j) => j.sourceJobId === id)?.offloadedFrames ?? 0 }
    );
  };
  // Cloud frames per group across every farm, and the room the group's maxima leave.
  const inCloud = new Map<string, number>();
  for (const f of input.farms)
    for (const j of f.report.jobs) {
      const g = j.capacityGroup ?? defaultGroup;
      const c = f.cloud?.get(j.sourceJobId);
      inCloud.set(g, (inCloud.get(g) ?? 0) + (c ? c.queued + c.running : j.offloadedFrames));
    }
  const room = new Map(
    input.groups.map((g) => [
      g.name,
      g.maxNodes * Math.max(1, g.slotsPerNode ?? 1) - (inCloud.get(g.name) ?? 0),
    ]),
  );
  const offload: OffloadDecision[] = [];
  const plans = new Map<string, { reason: string; offload: number; recall: number }>();
  const jobs = [...farm.report.jobs].sort(farmOrder);
  for (const job of jobs) {
    const local = Math.min(idle, job.queuedFrames);
    idle -= local;
    const overflow = job.queuedFrames - local;
    const groupName = job.capacityGroup ?? defaultGroup;
    const group = groupOf.get(groupName);
    const due = job.deadline !== undefined || group?.turnaroundTargetSeconds !== undefined;
    if (overflow <= 0) {
      plans.set(job.sourceJobId, {
        reason: 'idle local workers take its queued frames',
        offload: 0,
        recall: 0,
      });
      continue;
    }
    if (!job.burstable || !due || !group) {
      const why = !job.burstable
        ? 'not burstable'
        : !group
          ? `capacity group ${JSON.stringify(groupName)} does not exist`
          : 'no deadline and no turnaround target';
      plans.set(job.sourceJobId, {
        reason: `${overflow} frames wait locally (${why})`,
        offload: 0,
        recall: 0,
      });
      continue;
    }
    const free = Math.max(0, room.get(groupName) ?? 0);
    const n = Math.min(overflow, free);
    room.set(groupName, free - n);
    if (n > 0) offload.push({ sourceJobId: job.sourceJobId, frameCount: n, capacityGroup: groupName });
    plans.set(job.sourceJobId, {
      reason:
        `offload ${n} frames no idle worker can take` +
        (n < overflow ? `; ${overflow - n} wait: group ${groupName} is at its maximum` : ''),
      offload: n,
      recall: 0,
    });
  }

  const recall: RecallDecision[] = [];
  for (const job of jobs) {
    if (idle <= 0) break;
    const n = Math.min(idle, cloudOf(job.sourceJobId).queued);
    if (n > 0) {
      recall.push({ sourceJobId: job.sourceJobId, frameCount: n });
      idle -= n;
      plans.set(job.sourceJobId, {
        reason: `recall ${n} frames, local workers are idle`,
        offload: 0,
        recall: n,
      });
    }
  }

  let budgetLeft = input.maxSpendPerHour && input.maxSpendPerHour > 0 ? input.maxSpendPerHour : Infinity;
  let cost = 0;
  const targets: CapacityTarget[] = input.groups.map((g) => {
    const added = offload.filter((o) => o.capacityGroup === g.name).reduce((n, o) => n + o.frameCount, 0);
    const back = recall
      .filter(
        (r) =>
          (farm.report.jobs.find((j) => j.sourceJobId === r.sourceJobId)?.capacityGroup ?? defaultGroup) ===
          g.name,
      )
      .reduce((n, r) => n + r.frameCount, 0);
    const work = Math.max(0, (inCloud.get(g.name) ?? 0) + added - back);
    let nodes = Math.ceil(work / Math.max(1, g.slotsPerNode ?? 1));
    const maxSpot = g.maxSpotNodes ?? g.maxNodes;
    const maxDedicated = g.maxDedicatedNodes ?? g.maxNodes;
    const spotAffordable = g.spotPricePerHour > 0 ? Math.floor(budgetLeft / g.spotPricePerHour) : Infinity;
    const spot = Math.min(nodes, maxSpot, g.maxNodes, spotAffordable);
    nodes -= spot;
    budgetLeft -= spot * g.spotPricePerHour;
    const dedicatedAffordable =
      g.dedicatedPricePerHour > 0 ? Math.floor(budgetLeft / g.dedicatedPricePerHour) : Infinity;
    const dedicated = Math.min(nodes, maxDedicated, g.maxNodes - spot, dedicatedAffordable);
    budgetLeft -= dedicated * g.dedicatedPricePerHour;
    const groupCost = spot * g.spotPricePerHour + dedicated * g.dedicatedPricePerHour;
    cost += groupCost;
    const why: string[] = [];
    if (dedicated < nodes)
      why.push(`${nodes - dedicated} more nodes wanted than the maxima and budget allow`);
    reasons.push(...why.map((w) => `group ${g.name}: ${w}`));
    return {
      capacityGroup: g.name,
      dedicatedNodes: dedicated,
      spotNodes: spot,
      costPerHour: groupCost,
      reasons: why,
    };
  });
  const jobPlans: JobPlan[] = jobs.map((j) => {
    const p = plans.get(j.sourceJobId)!;
    const c = cloudOf(j.sourceJobId);
    if (p.offload > 0 || p.recall > 0) reasons.unshift(`${j.sourceJobId}: ${p.reason}`);
    return {
      sourceJobId: j.sourceJobId,
      capacityGroup: j.capacityGroup ?? defaultGroup,
      ...(j.deadline ? { dueAt: j.deadline } : {}),
      cloudFrames: c.queued + c.running + p.offload - p.recall,
      offloadFrames: p.offload,
      recallFrames: p.recall,
      reason: p.reason,
    };
  });
  return { offload, recall, targets, jobs: jobPlans, projectedCostPerHour: cost, reasons };
}
