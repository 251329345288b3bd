import type { PlanInput, PlanOutput } from './planner';

/**
 * The service's interim planner, a simple rule until the burst policy lands:
 *
 * 1. Local first: idle local workers take queued frames, highest priority first.
 * 2. Offload: frames that no idle worker can take, of burstable jobs that have a deadline,
 *    go to the cloud, up to what the group's maximum nodes can run.
 * 3. Recall: idle local workers left over take back frames still queued in the cloud.
 * 4. Capacity: each group is sized to its cloud frames (queued + running + offloaded now),
 *    spot nodes first, then dedicated, within its maxima and the spend cap.
 */
export function simpleRule(input: PlanInput): PlanOutput {
  const reasons: string[] = [];
  const idle = new Map<string, number>();
  for (const w of input.report.workers) idle.set(w.group, (idle.get(w.group) ?? 0) + w.idle);
  const take = (group: string, n: number): number => {
    let taken = 0;
    for (const g of [group, '']) {
      const free = idle.get(g) ?? 0;
      const t = Math.min(free, n - taken);
      idle.set(g, free - t);
      taken += t;
    }
    return taken;
  };

  const jobs = [...input.report.jobs].sort((a, b) => b.priority - a.priority);
  const room = new Map(
    input.groups.map((g) => [
      g.name,
      (g.maxDedicatedNodes + g.maxSpotNodes) * g.slotsPerNode - g.queuedInCloud - g.runningInCloud,
    ]),
  );
  const offload: { sourceJobId: string; frameCount: number; capacityGroup: string }[] = [];
  for (const job of jobs) {
    const overflow = job.queuedFrames - take(job.group, job.queuedFrames);
    if (overflow <= 0) continue;
    if (!job.burstable || !job.deadline) {
      reasons.push(
        `${job.sourceJobId}: ${overflow} frames wait locally (${!job.burstable ? 'not burstable' : 'no deadline'})`,
      );
      continue;
    }
    const group = job.capacityGroup ?? input.defaultGroup;
    const free = Math.max(0, room.get(group) ?? 0);
    const n = Math.min(overflow, free);
    if (n > 0) {
      offload.push({ sourceJobId: job.sourceJobId, frameCount: n, capacityGroup: group });
      room.set(group, free - n);
      reasons.push(`${job.sourceJobId}: offload ${n} frames no idle worker can take`);
    }
    if (n < overflow)
      reasons.push(`${job.sourceJobId}: ${overflow - n} frames wait: group ${group} is at its maximum`);
  }

  const recall: { sourceJobId: string; frameCount: number }[] = [];
  let spare = [...idle.values()].reduce((a, b) => a + b, 0);
  for (const job of jobs) {
    if (spare <= 0) break;
    const queued = input.cloudQueuedByJob.get(job.sourceJobId) ?? 0;
    const n = Math.min(spare, queued);
    if (n > 0) {
      recall.push({ sourceJobId: job.sourceJobId, frameCount: n });
      spare -= n;
      reasons.push(`${job.sourceJobId}: recall ${n} frames, local workers are idle`);
    }
  }

  let budgetLeft = input.maxSpendPerHour > 0 ? input.maxSpendPerHour : Infinity;
  let cost = 0;
  const targets = input.groups.map((g) => {
    const added = offload.filter((o) => o.capacityGroup === g.name).reduce((n, o) => n + o.frameCount, 0);
    const recalled = recall.reduce((n, r) => n + r.frameCount, 0);
    const work = Math.max(
      0,
      g.queuedInCloud + g.runningInCloud + added - (g.name === input.defaultGroup ? recalled : 0),
    );
    let nodes = Math.ceil(work / g.slotsPerNode);
    const spotAffordable = g.spotPerHour > 0 ? Math.floor(budgetLeft / g.spotPerHour) : Infinity;
    const spot = Math.min(nodes, g.maxSpotNodes, spotAffordable);
    nodes -= spot;
    budgetLeft -= spot * g.spotPerHour;
    const dedicatedAffordable =
      g.dedicatedPerHour > 0 ? Math.floor(budgetLeft / g.dedicatedPerHour) : Infinity;
    const dedicated = Math.min(nodes, g.maxDedicatedNodes, dedicatedAffordable);
    budgetLeft -= dedicated * g.dedicatedPerHour;
    cost += spot * g.spotPerHour + dedicated * g.dedicatedPerHour;
    if (dedicated < nodes)
      reasons.push(
        `group ${g.name}: ${nodes - dedicated} more nodes wanted than the maxima and budget allow`,
      );
    return { capacityGroup: g.name, dedicated, spot };
  });
  return { offload, recall, targets, projectedCostPerHour: cost, reasons };
}
