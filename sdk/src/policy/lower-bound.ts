/**
 * A hindsight lower bound on the cloud spend that meets every deadline of a scenario.
 *
 * With the frames' real times known in advance, the local farm is relaxed to a fluid
 * machine of `workers` parallel capacity (frames divisible, any number of workers on one
 * job), each deadline job may use it between its submission and its deadline, and jobs
 * without a deadline are given none of it. Earliest-deadline-first maximises the deadline
 * work done locally in that relaxation (exchange argument), so what is left over is the
 * least reference work that any schedule must run in the cloud. It is priced at the
 * cheapest node-hour (spot, or dedicated if cheaper), at the cloud's speed, plus the
 * transfer time of the fewest frames that could carry it (the job's longest frames), with
 * no boot time, no billing round-up and no evictions. Every real run pays at least that.
 */
import type { Scenario } from './scenario';
import { sampleFrameTimes } from './simulator';

/** The bound and how it was reached. */
export interface LowerBound {
  /** Currency units. */
  readonly cost: number;
  /** Reference seconds of work that must run in the cloud, by job id. */
  readonly cloudWorkSecondsByJob: Readonly<Record<string, number>>;
}

/** Computes the scenario's lower bound (see the module comment). */
export function lowerBound(scenario: Scenario): LowerBound {
  const times = sampleFrameTimes(scenario);
  const W = scenario.localFarm.workers;
  const speed = scenario.localFarm.speed;
  const jobs = scenario.jobs
    .map((j, i) => ({ j, i, left: times[i]!.reduce((a, b) => a + b, 0) * speed }))
    .filter((x) => x.j.deadlineAtSeconds !== undefined);
  const points = [...new Set(jobs.flatMap((x) => [x.j.submitAtSeconds, x.j.deadlineAtSeconds!]))].sort(
    (a, b) => a - b,
  );
  for (let p = 0; p + 1 < points.length; p++) {
    const a = points[p]!;
    const b = points[p + 1]!;
    let capacity = W * (b - a);
    const open = jobs
      .filter((x) => x.j.submitAtSeconds <= a && x.j.deadlineAtSeconds! >= b && x.left > 0)
      .sort((x, y) => x.j.deadlineAtSeconds! - y.j.deadlineAtSeconds!);
    for (const x of open) {
      const take = Math.min(capacity, x.left);
      x.left -= take;
      capacity -= take;
      if (capacity <= 0) break;
    }
  }
  const c = scenario.cloud;
  const price = Math.min(c.spotPricePerHour, c.dedicatedPricePerHour);
  let cost = 0;
  const byJob: Record<string, number> = {};
  for (const x of jobs) {
    const refWork = x.left / speed; // local seconds back to reference seconds
    byJob[x.j.id] = refWork;
    if (refWork <= 1e-9) continue;
    const longest = Math.max(...times[x.i]!);
    const cloudSeconds = refWork * c.nodeSpeed + (refWork / longest) * c.transferSecondsPerFrame;
    cost += (cloudSeconds / 3600) * price;
  }
  return { cost, cloudWorkSecondsByJob: byJob };
}
