/**
 * The burst policy: a pure function from the farm's and the cloud's state to a plan
 * (frames to offload, frames to recall, node targets). Plain data in and out; the
 * service maps it to and from the `QueuedJob` / `FarmState` / `BurstPlan` messages.
 */

/** One job of the local farm with work left (proto `QueuedJob`). */
export interface PolicyJob {
  /** The job's id in the render manager (`source_job_id`). */
  readonly id: string;
  /** 0..100, higher first. */
  readonly priority: number;
  /** Frames waiting for a local worker. */
  readonly queuedFrames: number;
  /** Frames rendering on local workers. */
  readonly renderingFrames: number;
  /** Frames offloaded and not started in the cloud (recallable). */
  readonly cloudQueuedFrames: number;
  /** Frames running in the cloud. */
  readonly cloudRunningFrames: number;
  /** When the job reached the farm. */
  readonly submittedAtSeconds: number;
  /** The job's own deadline, if any. */
  readonly deadlineAtSeconds?: number;
  /** Observed (or estimated) time of one frame on a local worker. */
  readonly frameSeconds: number;
  /**
   * Observed standard deviation of the local frame time: a frame counts as in time only
   * when it finishes `frameTimeSpread` deviations before the moment.
   * @default 0
   */
  readonly frameSecondsStdev?: number;
  /**
   * When each of its frames rendering locally started, if known (one entry per busy worker
   * on the job). The projection then expects each to end at its start plus the frame time
   * given that it has already run this long, rather than half a frame from now.
   * @default unknown
   */
  readonly renderingStartedAtSeconds?: readonly number[];
  /**
   * False when the job cannot leave the farm.
   * @default true
   */
  readonly burstable?: boolean;
}

/** One cloud node as the policy sees it. */
export interface PolicyNode {
  /** Capacity kind. */
  readonly kind: 'spot' | 'dedicated';
  /** Booting (requested, not yet taking work), idle or busy. */
  readonly state: 'booting' | 'idle' | 'busy';
  /** Booting nodes: when they are expected to take work. */
  readonly readyAtSeconds?: number;
  /** Idle nodes: since when. */
  readonly idleSinceSeconds?: number;
}

/** The capacity group overflow goes to (proto `CapacityTarget` plus its configuration). */
export interface PolicyCapacityGroup {
  /** Group name. */
  readonly name: string;
  /** Quota: nodes alive at once. */
  readonly maxNodes: number;
  /** Request to first work. */
  readonly nodeBootSeconds: number;
  /** Cloud frame seconds per local frame second (cloud speed ÷ local speed). */
  readonly cloudFrameTimeRatio: number;
  /** Assets in and outputs back, per frame. */
  readonly transferSecondsPerFrame: number;
  /** Price of a dedicated node-hour. */
  readonly dedicatedPricePerHour: number;
  /** Price of a spot node-hour. */
  readonly spotPricePerHour: number;
  /** Observed spot evictions per running node-hour. */
  readonly spotEvictionsPerNodeHour: number;
  /** A node is billed per started interval of this length. */
  readonly billingGranularitySeconds: number;
  /**
   * Turnaround target for jobs without a deadline: in time = submission + target; 0 means
   * overflow as soon as a frame cannot start locally. Undefined: such jobs stay local.
   * @default undefined
   */
  readonly turnaroundTargetSeconds?: number;
  /** The group's nodes now. */
  readonly nodes: readonly PolicyNode[];
}

/** Tuning of the policy. */
export interface PolicyOptions {
  /**
   * Frame times are padded by this fraction when projecting, against drift of the mean.
   * @default 0.02
   */
  readonly safetyMargin?: number;
  /**
   * An idle node is released once idle this long (it is paid for the started billing
   * interval anyway); hysteresis against flapping.
   * @default the group's billingGranularitySeconds
   */
  readonly idleReleaseSeconds?: number;
  /**
   * Recall only when at least this many frames can come back.
   * @default 1
   */
  readonly recallHysteresisFrames?: number;
  /**
   * Frames are offloaded only for nodes that take work within this many seconds (busy,
   * idle, or booting and ready by then): the cloud queue stays short and recallable.
   * @default 120
   */
  readonly offloadLookaheadSeconds?: number;
  /**
   * How many standard deviations of frame time a frame must finish before its moment
   * (the last frames of a job are the slowest of many).
   * @default 2.5
   */
  readonly frameTimeSpread?: number;
}

/** Everything a decision is made from. */
export interface PolicyInput {
  /** Now, in seconds on the same clock as the jobs' times. */
  readonly nowSeconds: number;
  /** Jobs with work left. */
  readonly jobs: readonly PolicyJob[];
  /** Local workers. */
  readonly farm: { readonly idleWorkers: number; readonly busyWorkers: number };
  /** The capacity group. */
  readonly group: PolicyCapacityGroup;
  /** Cap on what nodes alive at once cost per hour; undefined or 0: uncapped. */
  readonly maxSpendPerHour?: number;
  /** Tuning. */
  readonly options?: PolicyOptions;
}

/** Frames of one job to move to the cloud (proto `OffloadDecision`). */
export interface OffloadDecision {
  /** The job (`source_job_id`). */
  readonly jobId: string;
  /** Queued frames to take out of local dispatch and submit; the bridge picks which. */
  readonly frameCount: number;
  /** The group to submit them to. */
  readonly capacityGroup: string;
}

/** Not-yet-started cloud frames of one job to take back (proto `RecallDecision`). */
export interface RecallDecision {
  /** The job (`source_job_id`). */
  readonly jobId: string;
  /** Not-yet-started cloud frames to bring back. */
  readonly frameCount: number;
}

/** Node targets of one group (proto `CapacityTarget`). */
export interface CapacityTargetDecision {
  /** The group. */
  readonly capacityGroup: string;
  /** Target dedicated nodes alive (busy ones are never below it: scale-in drains). */
  readonly dedicatedNodes: number;
  /** Target spot nodes alive. */
  readonly spotNodes: number;
}

/** The policy's answer (proto `BurstPlan`). */
export interface BurstDecision {
  /** Frames to offload, by job. */
  readonly offload: readonly OffloadDecision[];
  /** Frames to recall, by job. */
  readonly recall: readonly RecallDecision[];
  /** Node targets per group. */
  readonly targets: readonly CapacityTargetDecision[];
  /** What the targeted nodes cost per hour. */
  readonly projectedCostPerHour: number;
  /** Short lines saying why. */
  readonly reasons: readonly string[];
}

/** A binary min-heap of numbers (worker or node free times). */
class TimeHeap {
  private readonly a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(v: number): void {
    const a = this.a;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= v) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = v;
  }
  pop(): number {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const c = r < a.length && a[r]! < a[l]! ? r : l;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

/**
 * Expected duration of a normally distributed frame time (`mean`, `stdev`) given that it
 * has already lasted `elapsed`: mean + stdev·φ(a)/Q(a), a = (elapsed − mean)/stdev.
 */
export function meanGivenAtLeast(mean: number, stdev: number, elapsed: number): number {
  if (!(stdev > 0)) return Math.max(mean, elapsed);
  const a = (elapsed - mean) / stdev;
  // Far in the tail the inverse Mills ratio is ~a + 1/a.
  if (a > 8) return elapsed + stdev / a;
  const phi = Math.exp(-0.5 * a * a) / Math.sqrt(2 * Math.PI);
  return Math.max(elapsed, mean + (stdev * phi) / (0.5 * erfc(a / Math.SQRT2)));
}

/** Complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** When a job must be done for the policy, or undefined when it is never worth cloud money. */
export function inTimeAt(job: PolicyJob, turnaroundTargetSeconds?: number): number | undefined {
  if (job.deadlineAtSeconds !== undefined) return job.deadlineAtSeconds;
  if (turnaroundTargetSeconds === undefined) return undefined;
  return job.submittedAtSeconds + turnaroundTargetSeconds;
}

/** The farm's dispatch order: priority, then submission, then id. */
export function farmOrder(a: PolicyJob, b: PolicyJob): number {
  return (
    b.priority - a.priority ||
    a.submittedAtSeconds - b.submittedAtSeconds ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/**
 * Decides one burst plan.
 *
 * 1. Local projection: the local farm's queue (plus frames waiting in the cloud, which
 *    could come back) is played forward in the farm's own order on its workers, frame
 *    times padded by `safetyMargin`. The tail of a job that would finish after its
 *    in-time moment is what the cloud should take; jobs with no in-time moment never go.
 * 2. Cloud sizing: the fewest nodes (busy, idle, booting, then new ones that pay the boot
 *    time) that finish the cloud frames in time, earliest deadline first, with transfer
 *    time, cloud speed and eviction losses counted; within quota and budget.
 * 3. Offload the difference; recall frames not started in the cloud when local workers are
 *    idle now and the projection says the farm finishes them in time.
 * 4. Scale in by draining: booting nodes are cancelled first, idle ones released after
 *    `idleReleaseSeconds`, busy ones only stop taking work.
 */
export function decideBurst(input: PolicyInput): BurstDecision {
  const { nowSeconds: now, group } = input;
  const margin = input.options?.safetyMargin ?? 0.02;
  const idleRelease = input.options?.idleReleaseSeconds ?? group.billingGranularitySeconds;
  const recallMin = input.options?.recallHysteresisFrames ?? 1;
  const lookaheadSeconds = input.options?.offloadLookaheadSeconds ?? 120;
  const spread = input.options?.frameTimeSpread ?? 2.5;
  const reasons: string[] = [];
  const jobs = [...input.jobs].sort(farmOrder);
  const target = group.turnaroundTargetSeconds;

  // 1. Local projection.
  const workers = new TimeHeap();
  for (let i = 0; i < input.farm.idleWorkers; i++) workers.push(now);
  // Busy workers: at their frame's expected end given how long it has run, when its start is
  // known; otherwise half a frame from now.
  const localFree = jobs.flatMap((j) =>
    Array.from({ length: j.renderingFrames }, (_, k) => {
      const started = j.renderingStartedAtSeconds?.[k];
      return started === undefined
        ? now + j.frameSeconds / 2
        : Math.max(now, started + meanGivenAtLeast(j.frameSeconds, j.frameSecondsStdev ?? 0, now - started));
    }),
  );
  const meanFt =
    jobs.reduce((s, j) => s + j.frameSeconds * j.renderingFrames, 0) /
    Math.max(
      1,
      jobs.reduce((s, j) => s + j.renderingFrames, 0),
    );
  for (let i = 0; i < input.farm.busyWorkers; i++) workers.push(localFree[i] ?? now + meanFt / 2);
  const wantCloud = new Map<string, number>();
  for (const job of jobs) {
    const due = inTimeAt(job, target);
    const asap = job.deadlineAtSeconds === undefined && target === 0;
    const notStarted = job.queuedFrames + job.cloudQueuedFrames;
    let late = 0;
    for (let k = 0; k < notStarted && workers.size > 0; k++) {
      const t = workers.pop();
      const finish = t + job.frameSeconds * (1 + margin);
      const risk = spread * (job.frameSecondsStdev ?? 0);
      const isLate = job.burstable !== false && due !== undefined && (asap ? t > now : finish + risk > due);
      if (isLate) {
        workers.push(t);
        late = notStarted - k; // the rest of this job starts no earlier
        break;
      }
      workers.push(finish);
    }
    if (workers.size === 0 && due !== undefined && job.burstable !== false) late = notStarted;
    if (late > 0) wantCloud.set(job.id, late);
  }

  // 2. Cloud sizing.
  const cloudFt = (job: PolicyJob): number =>
    job.frameSeconds * group.cloudFrameTimeRatio + group.transferSecondsPerFrame;
  const alive = group.nodes;
  const ft0 = Math.max(0, ...jobs.map(cloudFt));
  const lossFraction = Math.min(
    0.5,
    (group.spotEvictionsPerNodeHour * (group.nodeBootSeconds + ft0 / 2)) / 3600,
  );
  const spotEffective = group.spotPricePerHour / (1 - lossFraction);
  const kind: 'spot' | 'dedicated' = spotEffective <= group.dedicatedPricePerHour ? 'spot' : 'dedicated';
  const price = kind === 'spot' ? group.spotPricePerHour : group.dedicatedPricePerHour;
  const inflate = (1 + margin) / (kind === 'spot' ? 1 - lossFraction : 1);
  // A spot frame evicted near the end must still be redone in time: keep one frame of slack.
  const evictionGuard = (job: PolicyJob): number =>
    kind === 'spot' && group.spotEvictionsPerNodeHour > 0 ? cloudFt(job) : 0;
  // Nodes in the order the plan keeps them: busy, idle, booting (soonest first).
  const busyFree = jobs.flatMap((j) =>
    Array.from({ length: j.cloudRunningFrames }, () => now + cloudFt(j) / 2),
  );
  const ordered: number[] = [];
  const busy = alive.filter((n) => n.state === 'busy');
  busy.forEach((_, i) => ordered.push(busyFree[i] ?? now + ft0 / 2));
  const idle = alive.filter((n) => n.state === 'idle');
  idle.forEach(() => ordered.push(now));
  const booting = alive.filter((n) => n.state === 'booting');
  booting
    .map((n) => Math.max(now, n.readyAtSeconds ?? now + group.nodeBootSeconds))
    .sort((a, b) => a - b)
    .forEach((t) => ordered.push(t));
  const spendCap = input.maxSpendPerHour && input.maxSpendPerHour > 0 ? input.maxSpendPerHour : Infinity;
  const aliveSpend = alive.reduce(
    (s, n) => s + (n.kind === 'spot' ? group.spotPricePerHour : group.dedicatedPricePerHour),
    0,
  );
  const budgetRoom = price > 0 ? Math.floor((spendCap - aliveSpend) / price + 1e-9) : Infinity;
  const maxNew = Math.max(0, Math.min(group.maxNodes - alive.length, budgetRoom));
  const maxTotal = ordered.length + maxNew;

  const cloudJobs = jobs
    .filter((j) => (wantCloud.get(j.id) ?? 0) > 0)
    .map((j) => ({ job: j, due: inTimeAt(j, target)!, count: wantCloud.get(j.id)! }))
    .sort((a, b) => a.due - b.due || farmOrder(a.job, b.job));
  /** Frames of each job the cloud finishes in time with the first `n` nodes. */
  const served = (n: number): Map<string, number> => {
    const out = new Map<string, number>();
    if (n === 0) return out;
    const heap = new TimeHeap();
    for (let i = 0; i < n; i++) heap.push(ordered[i] ?? now + group.nodeBootSeconds);
    for (const { job, due, count } of cloudJobs) {
      const asap = job.deadlineAtSeconds === undefined && target === 0;
      const ft = cloudFt(job) * inflate;
      const latest =
        due - evictionGuard(job) - spread * (job.frameSecondsStdev ?? 0) * group.cloudFrameTimeRatio;
      let ok = 0;
      for (let k = 0; k < count; k++) {
        const t = heap.pop();
        if (!asap && t + ft > latest) {
          heap.push(t);
          break;
        }
        heap.push(t + ft);
        ok++;
      }
      out.set(job.id, ok);
    }
    return out;
  };
  const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
  const wanted = total(wantCloud);
  let nodes = 0;
  let best = served(maxTotal);
  const bestCount = total(best);
  const asapFrames = cloudJobs
    .filter((c) => c.job.deadlineAtSeconds === undefined && target === 0)
    .reduce((s, c) => s + c.count, 0);
  if (bestCount > 0) {
    // Fewest nodes that serve as many frames in time as the most we may have.
    let lo = 1;
    let hi = maxTotal;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (total(served(mid)) >= bestCount) hi = mid;
      else lo = mid + 1;
    }
    nodes = Math.max(lo, Math.min(maxTotal, asapFrames));
    best = served(nodes);
  }
  if (bestCount < wanted)
    reasons.push(
      `${wanted - bestCount} late frames stay local: the cloud cannot finish them in time within ${group.maxNodes} nodes and the budget`,
    );
  if (maxNew < group.maxNodes - alive.length && nodes >= maxTotal && budgetRoom < Infinity)
    reasons.push(`budget reached: ${input.maxSpendPerHour}/h allows ${alive.length + maxNew} nodes`);

  // 3. Offload and recall.
  const offload: OffloadDecision[] = [];
  const recall: RecallDecision[] = [];
  let freeNow = Math.max(0, input.farm.idleWorkers - jobs.reduce((s, j) => s + j.queuedFrames, 0));
  // Lazy offload: the cloud queue holds about one frame per node that can take work soon,
  // so frames stay local (and cheap) while the projection firms up.
  const soon = now + lookaheadSeconds;
  const takers = alive.filter((n) => n.state !== 'booting' || (n.readyAtSeconds ?? Infinity) <= soon).length;
  let room = Math.max(0, Math.min(takers, nodes) - jobs.reduce((s, j) => s + j.cloudQueuedFrames, 0));
  const byDue = [...jobs].sort(
    (a, b) => (inTimeAt(a, target) ?? Infinity) - (inTimeAt(b, target) ?? Infinity) || farmOrder(a, b),
  );
  for (const job of byDue) {
    const inCloud = Math.min(wantCloud.get(job.id) ?? 0, best.get(job.id) ?? 0);
    const delta = inCloud - job.cloudQueuedFrames;
    if (delta > 0) {
      const n = Math.min(delta, job.queuedFrames, room);
      room -= n;
      if (n > 0) {
        offload.push({ jobId: job.id, frameCount: n, capacityGroup: group.name });
        reasons.push(
          `${job.id}: offload ${n} frames that would finish locally after ${inTimeAt(job, target)}s`,
        );
      }
    } else if (delta < 0 && freeNow > 0) {
      const n = Math.min(-delta, freeNow);
      if (n >= recallMin) {
        recall.push({ jobId: job.id, frameCount: n });
        freeNow -= n;
        reasons.push(`${job.id}: recall ${n} frames not started in the cloud, local workers are idle`);
      }
    }
  }

  // 4. Targets, with drain-only scale-in.
  let keep = nodes;
  if (keep < alive.length) {
    // Idle nodes are kept until idle long enough; busy ones drain (counted until done).
    const youngIdle = idle.filter((n) => now - (n.idleSinceSeconds ?? now) < idleRelease).length;
    // A node more than half booted has cost more than finishing its boot would: keep it.
    const lateBoot = booting.filter(
      (n) => (n.readyAtSeconds ?? now) - now < group.nodeBootSeconds / 2,
    ).length;
    keep = Math.max(keep, Math.min(alive.length - booting.length, busy.length + youngIdle) + lateBoot);
    keep = Math.min(keep, alive.length);
    if (keep < alive.length)
      reasons.push(`scale in: ${alive.length - keep} nodes not needed (drained, never killed)`);
  } else if (keep > alive.length) {
    reasons.push(`scale out: ${keep - alive.length} ${kind} nodes (boot ${group.nodeBootSeconds}s)`);
  }
  // Keep the kinds we already have first; new capacity is of the chosen kind.
  const haveSpot = alive.filter((n) => n.kind === 'spot').length;
  const haveDedicated = alive.length - haveSpot;
  let spotNodes: number;
  let dedicatedNodes: number;
  if (keep >= alive.length) {
    spotNodes = haveSpot + (kind === 'spot' ? keep - alive.length : 0);
    dedicatedNodes = haveDedicated + (kind === 'dedicated' ? keep - alive.length : 0);
  } else {
    const other = kind === 'spot' ? haveDedicated : haveSpot;
    const dropOther = Math.min(other, alive.length - keep);
    const dropMine = alive.length - keep - dropOther;
    spotNodes = kind === 'spot' ? haveSpot - dropMine : haveSpot - dropOther;
    dedicatedNodes = kind === 'spot' ? haveDedicated - dropOther : haveDedicated - dropMine;
  }
  const projectedCostPerHour =
    spotNodes * group.spotPricePerHour + dedicatedNodes * group.dedicatedPricePerHour;
  return {
    offload,
    recall,
    targets: [{ capacityGroup: group.name, dedicatedNodes, spotNodes }],
    projectedCostPerHour,
    reasons,
  };
}
