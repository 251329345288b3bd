/**
 * A hindsight lower bound on the cloud spend of any run that meets every deadline of a
 * scenario, with the frames' real times (the simulator's draws) known in advance.
 *
 * The cloud is idealised: a frame sent there costs (frame time × nodeSpeed + transfer per
 * frame) at the cheapest node-hour, with no boot, no billing round-up and no evictions, and
 * any number of nodes. Jobs without a deadline get no cloud spend. Whatever the simulator
 * (or a real farm) adds to that only makes a real run dearer. Two valid bounds are
 * computed and the larger is the bound (docs/policy.md, "The lower bound", has the proofs):
 *
 * - **fluid**: the local farm as a fluid machine of `workers` parallel capacity (frames
 *   divisible, any number of workers on one job), each deadline job using it between its
 *   submission and its deadline. Earliest-deadline-first maximises the deadline work done
 *   locally in that relaxation, so the rest is the least reference work any schedule must
 *   run in the cloud; its transfer is counted for the fewest (longest) frames that could
 *   carry it.
 * - **whole frames**: a frame runs wholly on one local worker or wholly in the cloud. For a
 *   window [s, e] (a submission, a later deadline), the frames of the deadline jobs that lie
 *   inside it and stay local are done inside it by `workers` workers, each at most
 *   (e − s) / speed reference seconds of them. That caps both the reference work and the
 *   number of frames the farm can keep (the fullest-by-count workers must hold the shortest
 *   frames), so at least the rest goes to the cloud; the other deadline jobs still owe their
 *   fluid bound (disjoint frames), and frames longer than their own job's window can never
 *   be local at all.
 */
import type { Scenario } from './scenario';
import { sampleFrameTimes } from './simulator';

/** The bound and how it was reached. */
export interface LowerBound {
  /** Currency units: the larger of the fluid and whole-frame bounds. */
  readonly cost: number;
  /** The fluid bound alone. */
  readonly fluidCost: number;
  /** The whole-frame bound alone. */
  readonly wholeFrameCost: number;
  /**
   * The fluid bound's cloud work (reference seconds) by job id, as earliest-deadline-first
   * splits it; only the total is forced: other schedules may split it otherwise.
   */
  readonly cloudWorkSecondsByJob: Readonly<Record<string, number>>;
}

interface BoundJob {
  /** Index into the scenario's jobs. */
  readonly index: number;
  readonly submit: number;
  readonly deadline: number;
  /** Reference frame times. */
  readonly times: readonly number[];
}

/** Computes the scenario's lower bound from the simulator's frame times (module comment). */
export function lowerBound(scenario: Scenario): LowerBound {
  return lowerBoundForFrameTimes(scenario, sampleFrameTimes(scenario));
}

/**
 * The same bound for given reference frame times (`times[j][f]`: frame f of job j, as
 * `sampleFrameTimes` returns them).
 */
export function lowerBoundForFrameTimes(
  scenario: Scenario,
  times: readonly (readonly number[])[],
): LowerBound {
  const c = scenario.cloud;
  const perSecond = Math.min(c.spotPricePerHour, c.dedicatedPricePerHour) / 3600;
  const all: BoundJob[] = [];
  scenario.jobs.forEach((j, index) => {
    if (j.deadlineAtSeconds !== undefined)
      all.push({
        index,
        submit: j.submitAtSeconds,
        deadline: j.deadlineAtSeconds,
        times: times[index] ?? [],
      });
  });
  const fluidAll = fluid(scenario, all, perSecond);
  const byJob: Record<string, number> = {};
  for (const x of all) byJob[scenario.jobs[x.index]!.id] = fluidAll.refWorkByJob.get(x.index) ?? 0;

  // Frames longer than their own job's window can never be local: they are cloud frames in
  // every schedule. The rest are the candidates the window argument is about.
  const speed = scenario.localFarm.speed;
  let forced = 0;
  const candidates: BoundJob[] = all.map((x) => {
    const room = (x.deadline - x.submit) / speed;
    const keep: number[] = [];
    for (const t of x.times) {
      if (t > room) forced += t * c.nodeSpeed + c.transferSecondsPerFrame;
      else keep.push(t);
    }
    return { ...x, times: keep };
  });
  let wholeFrame = forced * perSecond + fluid(scenario, candidates, perSecond).cost;
  const starts = [...new Set(candidates.map((x) => x.submit))];
  const ends = [...new Set(candidates.map((x) => x.deadline))];
  for (const s of starts) {
    for (const e of ends) {
      if (e <= s) continue;
      const inside = candidates.filter((x) => x.submit >= s && x.deadline <= e);
      if (inside.length === 0) continue;
      const outside = candidates.filter((x) => !(x.submit >= s && x.deadline <= e));
      const frames = inside.flatMap((x) => x.times);
      const insideBound = Math.max(
        windowBound(
          frames,
          scenario.localFarm.workers,
          (e - s) / speed,
          c.nodeSpeed,
          c.transferSecondsPerFrame,
        ) * perSecond,
        fluid(scenario, inside, perSecond).cost,
      );
      wholeFrame = Math.max(
        wholeFrame,
        forced * perSecond + insideBound + fluid(scenario, outside, perSecond).cost,
      );
    }
  }
  return {
    cost: Math.max(fluidAll.cost, wholeFrame),
    fluidCost: fluidAll.cost,
    wholeFrameCost: wholeFrame,
    cloudWorkSecondsByJob: byJob,
  };
}

/**
 * The fluid bound for some deadline jobs alone (module comment): cost, and reference
 * seconds left for the cloud by job index.
 */
function fluid(
  scenario: Scenario,
  jobs: readonly BoundJob[],
  perSecond: number,
): { cost: number; refWorkByJob: Map<number, number> } {
  const W = scenario.localFarm.workers;
  const speed = scenario.localFarm.speed;
  const c = scenario.cloud;
  const left = jobs.map((x) => ({ x, left: x.times.reduce((a, b) => a + b, 0) * speed }));
  const points = [...new Set(jobs.flatMap((x) => [x.submit, x.deadline]))].sort((a, b) => a - b);
  for (let p = 0; p + 1 < points.length; p++) {
    const a = points[p]!;
    const b = points[p + 1]!;
    let capacity = W * (b - a);
    const open = left
      .filter((y) => y.x.submit <= a && y.x.deadline >= b && y.left > 0)
      .sort((y, z) => y.x.deadline - z.x.deadline);
    for (const y of open) {
      const take = Math.min(capacity, y.left);
      y.left -= take;
      capacity -= take;
      if (capacity <= 0) break;
    }
  }
  // EDF fixes how much work the cloud must take in all, not which job's: another schedule
  // may keep more of one job locally and less of another. So the transfer is counted on
  // the total, for the fewest frames of any of these jobs that could carry it (the
  // longest ones, the last one fractionally).
  const refWorkByJob = new Map<number, number>();
  let refWork = 0;
  for (const y of left) {
    refWorkByJob.set(y.x.index, y.left / speed); // local seconds back to reference seconds
    refWork += y.left / speed;
  }
  if (refWork <= 1e-9) return { cost: 0, refWorkByJob };
  const longestFirst = jobs.flatMap((x) => x.times).sort((a, b) => b - a);
  let frames = 0;
  let carried = 0;
  for (const t of longestFirst) {
    if (carried + t >= refWork) {
      frames += (refWork - carried) / t;
      break;
    }
    carried += t;
    frames++;
  }
  const cost = (refWork * c.nodeSpeed + frames * c.transferSecondsPerFrame) * perSecond;
  return { cost, refWorkByJob };
}

/**
 * Least cloud seconds (frame time × `nodeSpeed` + `transfer` each) for a set of frames when
 * the ones kept local must fit `workers` bins of `capacity` reference seconds each, whole.
 *
 * With K frames kept, the j workers holding the most of them hold at least ⌈jK/W⌉ frames,
 * at least the ⌈jK/W⌉ shortest, within j × capacity: the largest K passing that test for
 * every j is at least the most frames the farm can keep. The cloud gets the rest: at least
 * |frames| − K of them, and at least all the work beyond what the farm holds, which is at
 * most the smaller of W × capacity and the K longest frames.
 */
export function windowBound(
  frames: readonly number[],
  workers: number,
  capacity: number,
  nodeSpeed: number,
  transfer: number,
): number {
  const n = frames.length;
  if (n === 0) return 0;
  const asc = [...frames].sort((a, b) => a - b);
  const prefix = [0];
  for (const t of asc) prefix.push(prefix[prefix.length - 1]! + t);
  const fits = (k: number): boolean => {
    for (let j = 1; j <= workers; j++)
      if (prefix[Math.ceil((j * k) / workers)]! > j * capacity + 1e-9) return false;
    return true;
  };
  // fits() is monotone in k: fewer frames need no more room.
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  const kMax = lo;
  const total = prefix[n]!;
  const longestK = total - prefix[n - kMax]!;
  const localWork = Math.min(workers * capacity, longestK);
  return Math.max(0, total - localWork) * nodeSpeed + (n - kMax) * transfer;
}

/** A whole-frame schedule found with hindsight: what its cloud frames cost. */
export interface HindsightSchedule {
  /** Currency units, priced like the bound (no boot, no round-up, no evictions). */
  readonly cost: number;
  /** Frames it sends to the cloud. */
  readonly cloudFrames: number;
  /** Frames it keeps on local workers. */
  readonly localFrames: number;
}

/**
 * A feasible whole-frame schedule with the frames' real times known, to show how tight the
 * bound is: the least whole-frame hindsight cost lies between `lowerBound(...).cost` and
 * this. Only for scenarios whose deadline jobs share one window (same submission and
 * deadline); undefined otherwise. Each worker in turn is filled in the frames' drawn
 * order while more than three of the longest frames' room is left, then the rest of its
 * room is filled exactly (subset sum over whole seconds, frame times rounded up, among the
 * next 200 unplaced frames); what no worker holds goes to the cloud.
 */
export function hindsightSchedule(scenario: Scenario): HindsightSchedule | undefined {
  return hindsightScheduleForFrameTimes(scenario, sampleFrameTimes(scenario));
}

/** `hindsightSchedule` for given reference frame times. */
export function hindsightScheduleForFrameTimes(
  scenario: Scenario,
  times: readonly (readonly number[])[],
): HindsightSchedule | undefined {
  const jobs = scenario.jobs.filter((j) => j.deadlineAtSeconds !== undefined);
  if (jobs.length === 0) return { cost: 0, cloudFrames: 0, localFrames: 0 };
  const s = jobs[0]!.submitAtSeconds;
  const e = jobs[0]!.deadlineAtSeconds!;
  if (jobs.some((j) => j.submitAtSeconds !== s || j.deadlineAtSeconds !== e)) return undefined;
  const c = scenario.cloud;
  const capacity = (e - s) / scenario.localFarm.speed;
  const left = scenario.jobs.flatMap((j, i) =>
    j.deadlineAtSeconds === undefined ? [] : [...(times[i] ?? [])],
  );
  const longest = Math.max(0, ...left);
  let localFrames = 0;
  for (let w = 0; w < scenario.localFarm.workers && left.length > 0; w++) {
    let load = 0;
    for (let i = 0; i < left.length;) {
      if (capacity - load - left[i]! >= 3 * longest) {
        load += left[i]!;
        left.splice(i, 1);
        localFrames++;
      } else i++;
    }
    // Exact fill of the remaining room: reachedBy[g] = the candidate that first reached g.
    const room = Math.floor(capacity - load);
    if (room <= 0) continue;
    const size = left.slice(0, 200).map((t) => Math.ceil(t));
    const reachedBy = new Int32Array(room + 1).fill(-1);
    reachedBy[0] = size.length;
    size.forEach((t, k) => {
      for (let g = room; g >= t; g--) if (reachedBy[g] === -1 && reachedBy[g - t] !== -1) reachedBy[g] = k;
    });
    let g = room;
    while (reachedBy[g] === -1) g--;
    const used: number[] = [];
    // Each cell was reached from a cell reached by an earlier candidate: distinct frames.
    while (g > 0) {
      const k = reachedBy[g]!;
      used.push(k);
      g -= size[k]!;
    }
    for (const k of used.sort((a, b) => b - a)) {
      left.splice(k, 1);
      localFrames++;
    }
  }
  const perSecond = Math.min(c.spotPricePerHour, c.dedicatedPricePerHour) / 3600;
  const cost = left.reduce((sum, t) => sum + t * c.nodeSpeed + c.transferSecondsPerFrame, 0) * perSecond;
  return { cost, cloudFrames: left.length, localFrames };
}
