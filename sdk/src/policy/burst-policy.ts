/**
 * The burst policy: a pure function from what the farms report (`FarmReport`, the same
 * type the bridges send) and the cloud's state to a plan (`PlanDecision`: frames to
 * offload and recall, node targets, and why). The service's planner, the simulator and
 * the tests all call it with those types: there is no second model of a job.
 */
import {
  localWorkers,
  type CapacityTarget,
  type FarmReport,
  type JobPlan,
  type OffloadDecision,
  type PlanDecision,
  type RecallDecision,
  type ReportedJob,
} from '../model/burst';

/** A job's frames in one capacity group's cloud. */
export interface CloudFrames {
  /** Offloaded and not started (recallable). */
  readonly queued: number;
  /** Running in the cloud now. */
  readonly running: number;
  /** How long each running frame has run, seconds, where known. @default unknown */
  readonly runningElapsedSeconds?: readonly number[];
}

/** One bridge's farm as the policy plans it: its report plus its frames in the cloud. */
export interface PolicyFarm {
  /** The bridge's latest report. */
  readonly report: FarmReport;
  /**
   * Its frames in the group's cloud, by `sourceJobId`. A job absent here counts its
   * report's `offloadedFrames` as running (not recallable).
   * @default every job's offloaded frames count as running
   */
  readonly cloud?: ReadonlyMap<string, CloudFrames>;
  /**
   * Seconds a local worker spends between finishing a task and starting its next (the
   * farm's per-task overhead, learned from its reports: `TaskGapLearner`); every frame not
   * started pays it on top of its frame time.
   * @default 0
   */
  readonly taskGapSeconds?: number;
}

/** One cloud node as the policy sees it. */
export interface PolicyNode {
  /** Capacity kind. */
  readonly kind: 'spot' | 'dedicated';
  /** Booting (requested, not yet taking work), idle or busy. */
  readonly state: 'booting' | 'idle' | 'busy';
  /** Booting nodes: seconds until they take work. @default the group's boot time */
  readonly readyInSeconds?: number;
  /** Idle nodes: seconds they have been idle. @default 0 */
  readonly idleForSeconds?: number;
}

/** A capacity group overflow can go to, with the figures it is planned with. */
export interface PolicyCapacityGroup {
  /** Group name (a job's `capacityGroup`). */
  readonly name: string;
  /**
   * `offload`: frames move to the group's cloud queue when the plan says so. `worker`
   * (worker burst): the group's nodes join the farm as workers and the render manager gives
   * them frames; the plan only sizes the group.
   * @default 'offload'
   */
  readonly mode?: 'offload' | 'worker';
  /**
   * Worker burst: the farm groups (Deadline groups or pools, OpenCue tags) its workers
   * serve. A job of one of them is this group's, whatever capacity group it names.
   * @default none
   */
  readonly farmGroups?: readonly string[];
  /** Quota: nodes alive at once. */
  readonly maxNodes: number;
  /** Spot nodes alive at once. @default maxNodes */
  readonly maxSpotNodes?: number;
  /** Dedicated nodes alive at once. @default maxNodes */
  readonly maxDedicatedNodes?: number;
  /** Frames a node runs at once. @default 1 */
  readonly slotsPerNode?: number;
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
  /** Spot evictions per running node-hour. */
  readonly spotEvictionsPerNodeHour: number;
  /** A node is billed per started interval of this length. */
  readonly billingGranularitySeconds: number;
  /**
   * Turnaround target for jobs without a deadline: due at submission + target; 0 means
   * overflow as soon as a frame cannot start locally.
   * @default undefined (such jobs stay local)
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
   * How many standard deviations of its finish time a frame must end before its job is
   * due (the last frames of a job are the slowest of many).
   * @default 2.5
   */
  readonly frameTimeSpread?: number;
  /**
   * When set, a job's local frames are in time while the summed chance that any of them
   * finishes after the job is due stays below this (each frame's chance from its projected
   * finish and its deviation), instead of each frame on its own `frameTimeSpread`
   * deviations: a job whose last frames end on many workers at once needs a wider guard
   * than one whose last frame ends alone. `0` turns it off (each frame on its own
   * `frameTimeSpread` deviations). 0.007 is the cheapest setting of the sweep with no miss
   * on the 78 tuning seeds (docs/policy.md, "Held-out seeds").
   * @default 0.007
   */
  readonly jobMissRisk?: number;
  /**
   * On spot, cloud frames end this many cloud frames before their job is due (the frame and
   * its redos padded together by `frameTimeSpread` deviations of their sum), so a frame
   * evicted near its end can still be redone.
   * @default the fewest redos (at least 1) that leave a chance below `evictionRisk` of one
   *   frame being evicted more often than that (Poisson at the group's eviction rate)
   */
  readonly evictionSlackFrames?: number;
  /**
   * New nodes are not asked for while nodes asked for this much later would finish as many
   * frames in time: capacity is bought as late as the plan allows. 0 asks at once. Off by
   * default: at 300 s it cut long-frames-deadline's cost by 4 % but missed 7 of 30 tuning
   * seeds there (the need grows while the nodes wait; see docs/policy.md).
   * @default 0
   */
  readonly scaleOutDeferralSeconds?: number;
  /**
   * The chance, per cloud frame, of more evictions than the slack allows for.
   * @default 0.01
   */
  readonly evictionRisk?: number;
  /**
   * Standard deviation of a frame time, as a fraction of its mean, while fewer than two
   * frames of the job have finished.
   * @default 0.25
   */
  readonly priorFrameTimeCv?: number;
  /**
   * Standard deviation of a reported progress fraction (render managers report it coarse
   * and uneven).
   * @default 0.05
   */
  readonly progressNoise?: number;
}

/** Everything a decision for one group is made from. */
export interface PolicyInput {
  /** Now, on the reports' clock. */
  readonly now: Date;
  /** Every farm's latest report (one budget, one cloud for the studio). */
  readonly farms: readonly PolicyFarm[];
  /** The source the plan is for (its offloads, recalls and job explanations). @default the first farm's */
  readonly source?: string;
  /** The capacity group planned. */
  readonly group: PolicyCapacityGroup;
  /** The group of jobs that name none. @default the planned group */
  readonly defaultGroup?: string;
  /**
   * The capacity group a job's overflow goes to.
   * @default its `capacityGroup`, else `defaultGroup`
   */
  readonly groupOf?: (job: ReportedJob) => string;
  /** Cap on what nodes alive at once cost per hour; undefined or 0: uncapped. */
  readonly maxSpendPerHour?: number;
  /** Tuning. */
  readonly options?: PolicyOptions;
}

/** A binary min-heap of worker or node lanes by the time they are free. */
class LaneHeap {
  private readonly t: number[] = [];
  private readonly v: number[] = [];
  get size(): number {
    return this.t.length;
  }
  /** A copy (for what-if projections). */
  clone(): LaneHeap {
    const h = new LaneHeap();
    h.t.push(...this.t);
    h.v.push(...this.v);
    return h;
  }
  /** Adds a lane free at `time` whose free time has variance `variance`. */
  push(time: number, variance = 0): void {
    const { t, v } = this;
    t.push(time);
    v.push(variance);
    let i = t.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (t[p]! <= time) break;
      t[i] = t[p]!;
      v[i] = v[p]!;
      i = p;
    }
    t[i] = time;
    v[i] = variance;
  }
  /** Takes the earliest lane. */
  pop(): { time: number; variance: number } {
    const { t, v } = this;
    const top = { time: t[0]!, variance: v[0]! };
    const lt = t.pop()!;
    const lv = v.pop()!;
    if (t.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= t.length) break;
        const r = l + 1;
        const c = r < t.length && t[r]! < t[l]! ? r : l;
        if (t[c]! >= lt) break;
        t[i] = t[c]!;
        v[i] = v[c]!;
        i = c;
      }
      t[i] = lt;
      v[i] = lv;
    }
    return top;
  }
}

const SQRT2PI = Math.sqrt(2 * Math.PI);

/** Inverse Mills ratio φ(a)/Q(a) of the standard normal. */
function millsRatio(a: number): number {
  // Far in the tail the ratio is ~a + 1/a.
  if (a > 8) return a + 1 / a;
  const phi = Math.exp(-0.5 * a * a) / SQRT2PI;
  return phi / (0.5 * erfc(a / Math.SQRT2));
}

/**
 * Expected duration of a normally distributed frame time (`mean`, `stdev`) given that it
 * has already lasted `elapsed`: mean + stdev·φ(a)/Q(a), a = (elapsed − mean)/stdev.
 */
export function meanGivenAtLeast(mean: number, stdev: number, elapsed: number): number {
  if (!(stdev > 0)) return Math.max(mean, elapsed);
  const a = (elapsed - mean) / stdev;
  if (a > 8) return elapsed + stdev / a;
  return Math.max(elapsed, mean + stdev * millsRatio(a));
}

/**
 * Variance of that duration given that it has lasted `elapsed`:
 * stdev²·(1 + a·λ − λ²), λ = φ(a)/Q(a).
 */
export function varianceGivenAtLeast(mean: number, stdev: number, elapsed: number): number {
  if (!(stdev > 0)) return 0;
  const a = (elapsed - mean) / stdev;
  if (a > 8) return (stdev / a) ** 2;
  const l = millsRatio(a);
  return Math.max(0, stdev * stdev * (1 + a * l - l * l));
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

/**
 * A frame-time mean raised to what frames still running already show: the mean over the
 * `finished` frames (at `mean`) and the running ones counted at how long they have run so
 * far. A running frame takes at least that long, so this is a lower bound of those frames'
 * mean: a slow farm or cloud shows before its first frame finishes, and a fast first frame
 * does not hide slow ones still running. Only ever raises `mean`.
 */
export function raisedByRunning(mean: number, finished: number, elapsed: readonly number[]): number {
  if (elapsed.length === 0) return mean;
  const sum = mean * finished + elapsed.reduce((a, e) => a + Math.max(0, e), 0);
  return Math.max(mean, sum / (finished + elapsed.length));
}

/** A job's local frame time as the policy uses it, seconds. */
export interface FrameTimeEstimate {
  readonly mean: number;
  readonly stdev: number;
  /** Where the mean comes from. */
  readonly from: 'observed' | 'estimate' | 'progress' | 'elapsed';
}

/**
 * A job's local frame time: the mean of its finished local frames; else the studio's
 * estimate (either raised by its rendering frames' run so far, `raisedByRunning`); else elapsed ÷ progress of its rendering frames (those at least 15 % done);
 * else, when only their starts are known, the longest any has run so far: a lower bound
 * (no spread), so that a job whose first frames run past its deadline is seen late before
 * one finishes, and never more than it is. The spread is the observed one from two finished frames on; before that, from three
 * rendering frames' elapsed ÷ progress (less the reports' own noise), weighed with
 * `priorCv` × mean as two more samples; else `priorCv` × mean. Undefined when nothing is
 * known yet.
 */
export function estimateFrameTime(
  job: ReportedJob,
  now: Date,
  priorCv = 0.25,
  progressNoise = 0.05,
): FrameTimeEstimate | undefined {
  // Each rendering frame far enough along: its whole time (de-biased for the noisy
  // divisor) and the variance the report's noise adds to it.
  const totals = (job.rendering ?? [])
    .filter(
      (f) => f.startedAt !== undefined && f.progress !== undefined && f.progress >= 0.15 && f.progress < 1,
    )
    .map((f) => {
      const e = (now.getTime() - f.startedAt!.getTime()) / 1000;
      const p = f.progress!;
      return { t: e / p / (1 + (progressNoise / p) ** 2), v: ((e * progressNoise) / (p * p)) ** 2 };
    })
    .filter((x) => x.t > 0);
  const spreadFromProgress = (mean: number): number => {
    const prior = priorCv * mean;
    const n = totals.length;
    if (n < 3) return prior;
    const m = totals.reduce((a, x) => a + x.t, 0) / n;
    const sample = totals.reduce((a, x) => a + (x.t - m) ** 2, 0) / (n - 1);
    const noise = totals.reduce((a, x) => a + x.v, 0) / n;
    const seen = Math.max(0, sample - noise);
    return Math.sqrt((n * seen + 2 * prior * prior) / (n + 2));
  };
  // Its rendering frames' run so far (a running frame is at least this long).
  const running = (job.rendering ?? [])
    .filter((f) => f.startedAt !== undefined)
    .map((f) => (now.getTime() - f.startedAt!.getTime()) / 1000);
  const local = job.localFrameTime;
  if (local && local.samples >= 1 && local.meanMs > 0) {
    const mean = raisedByRunning(local.meanMs / 1000, local.samples, running);
    return {
      mean,
      stdev: local.samples >= 2 ? local.stdevMs / 1000 : spreadFromProgress(mean),
      from: 'observed',
    };
  }
  if (job.frameTimeMs !== undefined && job.frameTimeMs > 0) {
    const mean = raisedByRunning(job.frameTimeMs / 1000, 0, running);
    return { mean, stdev: spreadFromProgress(mean), from: 'estimate' };
  }
  if (totals.length > 0) {
    const mean = totals.reduce((a, x) => a + x.t, 0) / totals.length;
    return { mean, stdev: spreadFromProgress(mean), from: 'progress' };
  }
  const longest = Math.max(0, ...running);
  if (longest > 0) return { mean: longest, stdev: 0, from: 'elapsed' };
  return undefined;
}

/**
 * When a rendering frame's worker is expected to be free (seconds from now) and the
 * variance of that moment: from its start (the frame time given it has run this long),
 * sharpened by its progress where reported; half a frame (uniform phase) when neither is
 * known.
 */
export function projectRenderingFrame(
  frame: { readonly elapsedSeconds?: number; readonly progress?: number },
  ft: { readonly mean: number; readonly stdev: number },
  progressNoise = 0.05,
): { remaining: number; variance: number } {
  const { elapsedSeconds: e, progress: p } = frame;
  if (e === undefined) {
    if (p !== undefined) {
      const left = Math.max(0, 1 - p);
      return { remaining: ft.mean * left, variance: (ft.stdev * left) ** 2 + (ft.mean * progressNoise) ** 2 };
    }
    return { remaining: ft.mean / 2, variance: ft.mean ** 2 / 12 + ft.stdev ** 2 / 4 };
  }
  let total = meanGivenAtLeast(ft.mean, ft.stdev, e);
  let variance = varianceGivenAtLeast(ft.mean, ft.stdev, e);
  if (p !== undefined && p >= 0.15) {
    if (p >= 1) return { remaining: 0, variance: 0 };
    // elapsed ÷ progress, with the report's noise carried through (less the bias a noisy
    // divisor adds: E[1/p̂] ≈ (1 + (noise/p)²)/p); weighed against the prior by precision.
    // Below 15 % a report says too little to move the prior.
    const tp = e / p / (1 + (progressNoise / p) ** 2);
    const vp = ((e * progressNoise) / (p * p)) ** 2;
    if (variance <= 0) {
      total = Math.max(e, tp);
      variance = vp;
    } else if (vp <= 0) {
      total = Math.max(e, tp);
      variance = 0;
    } else {
      const w = 1 / vp / (1 / vp + 1 / variance);
      total = Math.max(e, w * tp + (1 - w) * total);
      variance = 1 / (1 / vp + 1 / variance);
    }
  }
  return { remaining: Math.max(0, total - e), variance };
}

/**
 * How many redos to leave room for: the fewest k ≥ 1 such that a frame is evicted more than
 * k times with a chance below `risk`, evictions arriving as a Poisson process with `mean`
 * expected evictions per frame.
 */
export function redoSlots(mean: number, risk: number): number {
  let k = 0;
  let term = Math.exp(-mean); // P(N = 0)
  let cdf = term;
  while (k < 10 && (k < 1 || 1 - cdf > risk)) {
    k++;
    term *= mean / k;
    cdf += term;
  }
  return k;
}

/** The farm's dispatch order: priority, then submission, then id. */
export function farmOrder(a: ReportedJob, b: ReportedJob): number {
  return (
    b.priority - a.priority ||
    (a.submittedAt?.getTime() ?? 0) - (b.submittedAt?.getTime() ?? 0) ||
    (a.sourceJobId < b.sourceJobId ? -1 : a.sourceJobId > b.sourceJobId ? 1 : 0)
  );
}

/** "1h05m" / "12m30s" / "45s" for a number of seconds. */
export function formatSeconds(seconds: number): string {
  const s = Math.round(Math.abs(seconds));
  const sign = seconds < 0 ? '-' : '';
  if (s >= 3600)
    return `${sign}${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${sign}${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${sign}${s}s`;
}

/** One job as the policy works with it (times in seconds from now). */
interface Work {
  readonly source: string;
  readonly job: ReportedJob;
  readonly mine: boolean;
  readonly capacityGroup: string;
  /** Offloadable to this group; else why not. */
  readonly blocked?: string;
  readonly due?: number;
  readonly asap: boolean;
  readonly ft?: FrameTimeEstimate;
  readonly cloudQueued: number;
  readonly cloudRunning: number;
  readonly runningElapsed: readonly number[];
  /** Local frames not in time: what the cloud should take. */
  late: number;
  /** Projected local finish of its frames that stay local (all of them when `late` is 0). */
  localFinish?: number;
  /** Projected local finish if every not-started frame stayed local. */
  allLocalFinish?: number;
  /** Frames the cloud finishes in time (set by sizing). */
  served: number;
  offload: number;
  recall: number;
}

/**
 * Decides the plan for one capacity group.
 *
 * 1. Local projection, per farm: the farm's queue (plus its frames waiting in the cloud,
 *    which could come back) is played forward in the farm's own order on its workers.
 *    Idle workers are free now; a busy worker when its frame is expected to end (from its
 *    start and progress where reported). A frame is in time when its projected finish,
 *    padded by `safetyMargin` plus `frameTimeSpread` deviations of its finish time, is
 *    before its job is due. The tail of a job that is not in time is what the cloud should
 *    take; jobs that are never due, not burstable or of another group never go.
 * 2. Cloud sizing, over every farm: the fewest nodes (busy, idle, booting, then new ones
 *    that pay the boot time) that finish the cloud frames in time, earliest due first,
 *    with transfer time, cloud speed and eviction losses counted; within quota and budget.
 * 3. Offload the difference, lazily (only for nodes that take work soon); recall frames
 *    not started in the cloud when local workers are idle now and the projection says the
 *    farm finishes them in time.
 * 4. Scale in by draining: booting nodes are cancelled first, idle ones released after
 *    `idleReleaseSeconds`, busy ones only stop taking work.
 */
export function decideBurst(input: PolicyInput): PlanDecision {
  const { group } = input;
  const nowMs = input.now.getTime();
  const margin = input.options?.safetyMargin ?? 0.02;
  const idleRelease = input.options?.idleReleaseSeconds ?? group.billingGranularitySeconds;
  const recallMin = input.options?.recallHysteresisFrames ?? 1;
  const lookaheadSeconds = input.options?.offloadLookaheadSeconds ?? 120;
  const spread = input.options?.frameTimeSpread ?? 2.5;
  const priorCv = input.options?.priorFrameTimeCv ?? 0.25;
  const progressNoise = input.options?.progressNoise ?? 0.05;
  const missRisk = input.options?.jobMissRisk === 0 ? undefined : (input.options?.jobMissRisk ?? 0.007);
  const evictionSlack = input.options?.evictionSlackFrames;
  const evictionRisk = input.options?.evictionRisk ?? 0.01;
  const deferral = input.options?.scaleOutDeferralSeconds ?? 0;
  const slots = Math.max(1, Math.floor(group.slotsPerNode ?? 1));
  const target = group.turnaroundTargetSeconds;
  const defaultGroup = input.defaultGroup ?? group.name;
  const planned = input.source ?? input.farms[0]?.report.source;
  const rel = (d: Date): number => (d.getTime() - nowMs) / 1000;
  const groupReasons: string[] = [];

  // 1. Local projection, farm by farm.
  const works: Work[] = [];
  for (const farm of input.farms) {
    const report = farm.report;
    const jobs = [...report.jobs].sort(farmOrder);
    const farmWorks = jobs.map((job): Work => {
      const capacityGroup = input.groupOf?.(job) ?? job.capacityGroup ?? defaultGroup;
      const ft = estimateFrameTime(job, input.now, priorCv, progressNoise);
      const due =
        job.deadline !== undefined
          ? rel(job.deadline)
          : target !== undefined && job.submittedAt !== undefined
            ? rel(job.submittedAt) + target
            : target !== undefined
              ? target
              : undefined;
      const cloud = farm.cloud?.get(job.sourceJobId);
      // `burstable` says whether its frames can leave the farm; worker burst moves no frame
      // (the group's nodes join the farm), so it does not apply there.
      const blocked =
        !job.burstable && group.mode !== 'worker'
          ? 'not burstable'
          : capacityGroup !== group.name
            ? `goes to group ${capacityGroup}`
            : due === undefined
              ? 'no deadline and no turnaround target: never worth cloud money'
              : ft === undefined
                ? 'frame time not known yet (no finished frame, estimate or progress)'
                : undefined;
      return {
        source: report.source,
        job,
        mine: report.source === planned,
        capacityGroup,
        ...(blocked ? { blocked } : {}),
        ...(due === undefined ? {} : { due }),
        asap: job.deadline === undefined && target === 0,
        ...(ft ? { ft } : {}),
        cloudQueued: cloud?.queued ?? 0,
        cloudRunning: cloud?.running ?? (cloud ? 0 : job.offloadedFrames),
        runningElapsed: cloud?.runningElapsedSeconds ?? [],
        late: 0,
        served: 0,
        offload: 0,
        recall: 0,
      };
    });
    works.push(...farmWorks);
    const known = farmWorks.filter((w) => w.ft);
    const fallbackFt: FrameTimeEstimate = known.length
      ? {
          mean: known.reduce((s, w) => s + w.ft!.mean, 0) / known.length,
          stdev: known.reduce((s, w) => s + w.ft!.stdev, 0) / known.length,
          from: 'estimate',
        }
      : { mean: 0, stdev: 0, from: 'estimate' };
    const ftOf = (w: Work): FrameTimeEstimate => w.ft ?? fallbackFt;

    const workers = new LaneHeap();
    const { idle: idleWorkers, busy: busyWorkers } = localWorkers(report);
    for (let i = 0; i < idleWorkers; i++) workers.push(0);
    const busyLanes: { remaining: number; variance: number }[] = [];
    for (const w of farmWorks) {
      const rendering = w.job.rendering ?? [];
      for (let k = 0; k < w.job.renderingFrames; k++) {
        const f = rendering[k];
        busyLanes.push(
          projectRenderingFrame(
            {
              ...(f?.startedAt ? { elapsedSeconds: Math.max(0, -rel(f.startedAt)) } : {}),
              ...(f?.progress !== undefined ? { progress: f.progress } : {}),
            },
            ftOf(w),
            progressNoise,
          ),
        );
      }
    }
    for (let i = 0; i < busyWorkers; i++) {
      const b = busyLanes[i] ?? projectRenderingFrame({}, fallbackFt, progressNoise);
      workers.push(b.remaining, b.variance);
    }

    const gap = Math.max(0, farm.taskGapSeconds ?? 0);
    for (const w of farmWorks) {
      const ft = ftOf(w);
      const notStarted = w.job.queuedFrames + w.cloudQueued;
      const canGo = w.blocked === undefined;
      let late = 0;
      let finish: number | undefined;
      let risk = 0;
      for (let k = 0; k < notStarted; k++) {
        if (workers.size === 0) {
          if (canGo) late = notStarted - k;
          break;
        }
        const lane = workers.pop();
        const start = lane.time + gap;
        const end = start + ft.mean * (1 + margin);
        const sd = Math.sqrt(ft.stdev * ft.stdev + lane.variance);
        let isLate = false;
        if (canGo) {
          if (w.asap) isLate = lane.time > 0;
          else if (missRisk === undefined) isLate = end + spread * sd > w.due!;
          else {
            const p = sd > 0 ? 0.5 * erfc((w.due! - end) / sd / Math.SQRT2) : end > w.due! ? 1 : 0;
            isLate = risk + p > missRisk;
            if (!isLate) risk += p;
          }
        }
        if (isLate) {
          // What-if: the rest stayed local too, for the explanation.
          const rest = workers.clone();
          rest.push(lane.time, lane.variance);
          let all = finish ?? 0;
          for (let r = k; r < notStarted; r++) {
            const l = rest.pop();
            all = Math.max(all, l.time + gap + ft.mean);
            rest.push(l.time + gap + ft.mean);
          }
          w.allLocalFinish = all;
          workers.push(lane.time, lane.variance);
          late = notStarted - k; // the rest of this job starts no earlier
          break;
        }
        workers.push(end);
        finish = Math.max(finish ?? -Infinity, start + ft.mean);
      }
      w.late = late;
      if (finish !== undefined) w.localFinish = finish;
      if (late === 0 && finish !== undefined) w.allLocalFinish = finish;
    }
  }

  // 2. Cloud sizing over every farm's jobs of this group.
  const mineOfGroup = works.filter((w) => w.capacityGroup === group.name);
  // Observed (or local × ratio + transfer), raised by what its running cloud frames show:
  // a slow cloud is seen before its first frame comes back.
  const cloudFt = (w: Work): number => {
    const observed = w.job.cloudFrameTime;
    if (observed && observed.samples >= 1 && observed.meanMs > 0)
      return raisedByRunning(observed.meanMs / 1000, observed.samples, w.runningElapsed);
    return raisedByRunning(
      (w.ft?.mean ?? 0) * group.cloudFrameTimeRatio + group.transferSecondsPerFrame,
      0,
      w.runningElapsed,
    );
  };
  const cloudSd = (w: Work): number => {
    const observed = w.job.cloudFrameTime;
    if (observed && observed.samples >= 2) return observed.stdevMs / 1000;
    return (w.ft?.stdev ?? 0) * group.cloudFrameTimeRatio;
  };
  const alive = group.nodes;
  const ft0 = Math.max(0, ...mineOfGroup.map(cloudFt));
  const lossFraction = Math.min(
    0.5,
    (group.spotEvictionsPerNodeHour * (group.nodeBootSeconds + ft0 / 2)) / 3600,
  );
  const maxSpot = group.maxSpotNodes ?? group.maxNodes;
  const maxDedicated = group.maxDedicatedNodes ?? group.maxNodes;
  const spotEffective = group.spotPricePerHour / (1 - lossFraction);
  let kind: 'spot' | 'dedicated' = spotEffective <= group.dedicatedPricePerHour ? 'spot' : 'dedicated';
  if (kind === 'spot' && maxSpot <= 0) kind = 'dedicated';
  else if (kind === 'dedicated' && maxDedicated <= 0) kind = 'spot';
  const price = kind === 'spot' ? group.spotPricePerHour : group.dedicatedPricePerHour;
  const inflate = (1 + margin) / (kind === 'spot' ? 1 - lossFraction : 1);
  // A spot frame evicted near the end must still be redone in time: keep one frame of slack.
  // The frame and its redo must both fit: their sum has √2 times one frame's deviation, of
  // which the sizing below already pads one.
  const evictionGuard = (w: Work): number => {
    if (kind !== 'spot' || !(group.spotEvictionsPerNodeHour > 0)) return 0;
    const k = evictionSlack ?? redoSlots((group.spotEvictionsPerNodeHour * cloudFt(w)) / 3600, evictionRisk);
    return k * cloudFt(w) + (Math.sqrt(k + 1) - 1) * spread * cloudSd(w);
  };

  // Nodes in the order the plan keeps them (busy, idle, booting soonest first), each with
  // the times its lanes are free.
  // A busy node's lane is free when its frame is expected to end, with the variance of that
  // moment (a frame planned behind a long-running one must not start late).
  const runningLeft = mineOfGroup
    .flatMap((w) =>
      Array.from({ length: w.cloudRunning }, (_, k) => {
        const e = w.runningElapsed[k];
        const ft = cloudFt(w);
        if (e === undefined) return { t: ft / 2, v: (ft * ft) / 12 };
        const sd = cloudSd(w);
        return {
          t: Math.max(0, meanGivenAtLeast(ft, sd, e) - e),
          v: varianceGivenAtLeast(ft, sd, e),
        };
      }),
    )
    .sort((a, b) => a.t - b.t);
  const busy = alive.filter((n) => n.state === 'busy');
  const idle = alive.filter((n) => n.state === 'idle');
  const booting = alive.filter((n) => n.state === 'booting');
  const free = (t: number, v = 0): { t: number; v: number } => ({ t, v });
  const ordered: { t: number; v: number }[][] = [];
  let r = 0;
  for (let i = 0; i < busy.length; i++) {
    const lanes: { t: number; v: number }[] = [];
    for (let s = 0; s < slots; s++)
      lanes.push(
        r < runningLeft.length ? runningLeft[r++]! : s === 0 ? free(ft0 / 2, (ft0 * ft0) / 12) : free(0),
      );
    ordered.push(lanes);
  }
  for (let i = 0; i < idle.length; i++) ordered.push(Array.from({ length: slots }, () => free(0)));
  booting
    .map((n) => Math.max(0, n.readyInSeconds ?? group.nodeBootSeconds))
    .sort((a, b) => a - b)
    .forEach((t) => ordered.push(Array.from({ length: slots }, () => free(t))));
  const spendCap = input.maxSpendPerHour && input.maxSpendPerHour > 0 ? input.maxSpendPerHour : Infinity;
  const aliveSpend = alive.reduce(
    (s, n) => s + (n.kind === 'spot' ? group.spotPricePerHour : group.dedicatedPricePerHour),
    0,
  );
  const aliveOfKind = alive.filter((n) => n.kind === kind).length;
  const budgetRoom = price > 0 ? Math.floor((spendCap - aliveSpend) / price + 1e-9) : Infinity;
  const kindRoom = (kind === 'spot' ? maxSpot : maxDedicated) - aliveOfKind;
  const maxNew = Math.max(0, Math.min(group.maxNodes - alive.length, kindRoom, budgetRoom));
  const maxTotal = ordered.length + maxNew;

  const cloudWorks = mineOfGroup
    .filter((w) => w.late > 0)
    .sort((a, b) => a.due! - b.due! || farmOrder(a.job, b.job));
  /** Frames of each job the cloud finishes in time with the first `n` nodes. */
  const served = (n: number, newReadyIn = group.nodeBootSeconds): number[] => {
    const out = cloudWorks.map(() => 0);
    if (n === 0) return out;
    const heap = new LaneHeap();
    for (let i = 0; i < n; i++)
      for (const l of ordered[i] ?? Array.from({ length: slots }, () => free(newReadyIn)))
        heap.push(l.t, l.v);
    cloudWorks.forEach((w, i) => {
      const ft = cloudFt(w) * inflate;
      const sd = cloudSd(w);
      const slack = evictionGuard(w);
      let ok = 0;
      for (let k = 0; k < w.late; k++) {
        const lane = heap.pop();
        const end = lane.time + ft + slack + spread * Math.sqrt(sd * sd + lane.variance);
        if (!w.asap && end > w.due!) {
          heap.push(lane.time, lane.variance);
          break;
        }
        heap.push(lane.time + ft);
        ok++;
      }
      out[i] = ok;
    });
    // Frames already waiting in the cloud (an evicted frame, or one whose node ran late)
    // that the guarded plan cannot fit: best effort, without the guards, where the cloud
    // still finishes them in time and sooner than the farm would (else they come back).
    cloudWorks.forEach((w, i) => {
      const stranded = Math.min(w.late, w.cloudQueued) - out[i]!;
      const ft = cloudFt(w) * (1 + margin);
      const by = Math.min(w.due!, w.allLocalFinish ?? Infinity);
      for (let k = 0; k < stranded; k++) {
        const lane = heap.pop();
        if (!w.asap && lane.time + ft > by) {
          heap.push(lane.time, lane.variance);
          break;
        }
        heap.push(lane.time + ft);
        out[i]!++;
      }
    });
    return out;
  };
  const total = (m: readonly number[]): number => m.reduce((a, b) => a + b, 0);
  const wanted = cloudWorks.reduce((s, w) => s + w.late, 0);
  let nodes = 0;
  let best = served(maxTotal);
  const bestCount = total(best);
  const asapFrames = cloudWorks.filter((w) => w.asap).reduce((s, w) => s + w.late, 0);
  if (bestCount > 0) {
    // Fewest nodes that serve as many frames in time as the most we may have.
    let lo = 1;
    let hi = maxTotal;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (total(served(mid)) >= bestCount) hi = mid;
      else lo = mid + 1;
    }
    nodes = Math.max(lo, Math.min(maxTotal, Math.ceil(asapFrames / slots)));
    best = served(nodes);
  }
  cloudWorks.forEach((w, i) => (w.served = best[i]!));
  if (bestCount < wanted)
    groupReasons.push(
      `${wanted - bestCount} late frames stay local: the cloud cannot finish them in time within ${group.maxNodes} nodes${spendCap < Infinity ? ' and the budget' : ''}`,
    );
  if (
    maxNew < group.maxNodes - alive.length &&
    nodes >= maxTotal &&
    budgetRoom <= kindRoom &&
    budgetRoom < Infinity
  )
    groupReasons.push(`budget reached: ${input.maxSpendPerHour}/h allows ${alive.length + maxNew} nodes`);
  else if (nodes >= maxTotal && maxNew < group.maxNodes - alive.length && bestCount < wanted)
    groupReasons.push(`quota reached: at most ${kind === 'spot' ? maxSpot : maxDedicated} ${kind} nodes`);

  // 3. Offload and recall (only the planned source's jobs are told; every source's cloud
  // frames take room).
  const soon = lookaheadSeconds;
  const takers = alive.filter((n) => n.state !== 'booting' || (n.readyInSeconds ?? Infinity) <= soon).length;
  let room = Math.max(
    0,
    Math.min(takers, nodes) * slots - mineOfGroup.reduce((s, w) => s + w.cloudQueued, 0),
  );
  const plannedFarm = input.farms.find((f) => f.report.source === planned);
  const plannedWorks = works.filter((w) => w.mine);
  let freeNow = Math.max(
    0,
    (plannedFarm ? localWorkers(plannedFarm.report).idle : 0) -
      plannedWorks.reduce((s, w) => s + w.job.queuedFrames, 0),
  );
  const byDue = [...mineOfGroup].sort(
    (a, b) => (a.due ?? Infinity) - (b.due ?? Infinity) || farmOrder(a.job, b.job),
  );
  // Worker burst: the render manager hands the group's workers frames; nothing moves.
  for (const w of group.mode === 'worker' ? [] : byDue) {
    const inCloud = Math.min(w.late, w.served);
    const delta = inCloud - w.cloudQueued;
    if (delta > 0) {
      const n = Math.min(delta, w.job.queuedFrames, room);
      room -= n;
      if (w.mine) w.offload = n;
    } else if (delta < 0 && w.mine) {
      // Frames the cloud will not finish in time even without the guards come back to the
      // farm's queue at once; the others when local workers are idle now.
      const stranded = Math.max(0, Math.min(w.late, w.cloudQueued) - w.served);
      const spare = Math.min(-delta - stranded, freeNow);
      const n = stranded + (spare >= recallMin ? spare : 0);
      if (n > 0) {
        w.recall = n;
        freeNow = Math.max(0, freeNow - n);
      }
    }
  }

  // 4. Targets, with drain-only scale-in; scale-out waits while new nodes asked for
  // `scaleOutDeferralSeconds` later would serve as many frames in time (the projection
  // firms up meanwhile, and a node not booted costs nothing).
  let keep = nodes;
  if (
    keep > ordered.length &&
    deferral > 0 &&
    total(served(nodes, group.nodeBootSeconds + deferral)) >= total(best)
  ) {
    keep = ordered.length;
    if (keep < nodes)
      groupReasons.push(`${nodes - keep} more nodes will be needed; not yet (they would wait)`);
  }
  if (keep < alive.length) {
    // Idle nodes are kept until idle long enough; busy ones drain (counted until done).
    const youngIdle = idle.filter((n) => (n.idleForSeconds ?? 0) < idleRelease).length;
    // A node more than half booted has cost more than finishing its boot would: keep it.
    const lateBoot = booting.filter(
      (n) => (n.readyInSeconds ?? group.nodeBootSeconds) < group.nodeBootSeconds / 2,
    ).length;
    // A spare: while spot frames run in the cloud that, evicted now, could be redone in time
    // on a node that is up but not on one that still has to boot, one idle node stays.
    const redoable =
      kind === 'spot' &&
      group.spotEvictionsPerNodeHour > 0 &&
      mineOfGroup.some(
        (w) =>
          w.cloudRunning > 0 &&
          w.due !== undefined &&
          w.due - cloudFt(w) >= 0 &&
          w.due - cloudFt(w) < group.nodeBootSeconds,
      );
    const spare = redoable && idle.length > 0 ? 1 : 0;
    keep = Math.max(
      keep,
      Math.min(alive.length - booting.length, busy.length + Math.max(youngIdle, spare)) + lateBoot,
    );
    keep = Math.min(keep, alive.length);
    if (keep < alive.length)
      groupReasons.push(`scale in: ${alive.length - keep} nodes not needed (drained, never killed)`);
  } else if (keep > alive.length) {
    groupReasons.push(
      `scale out: ${keep - alive.length} ${kind} nodes (boot ${formatSeconds(group.nodeBootSeconds)})`,
    );
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
  // With no node left, frames waiting in the cloud would wait forever: they come back, to
  // run on the farm in its order (the cloud can no longer finish them in time either).
  if (spotNodes + dedicatedNodes === 0 && group.mode !== 'worker')
    for (const w of mineOfGroup) if (w.mine && w.cloudQueued > w.recall) w.recall = w.cloudQueued;

  // Explanations, for the planned source's jobs of this group.
  const at = (s: number | undefined): Date | undefined =>
    s === undefined ? undefined : new Date(nowMs + Math.round(s * 1000));
  const offload: OffloadDecision[] = [];
  const recall: RecallDecision[] = [];
  const jobs: JobPlan[] = [];
  const reasons: string[] = [];
  for (const w of plannedWorks
    .filter((x) => x.capacityGroup === group.name)
    .sort((a, b) => farmOrder(a.job, b.job))) {
    const id = w.job.sourceJobId;
    const reason = explain(w, group.mode ?? 'offload');
    jobs.push({
      sourceJobId: id,
      capacityGroup: w.capacityGroup,
      ...(w.due === undefined ? {} : { dueAt: at(w.due) }),
      ...(w.allLocalFinish === undefined ? {} : { projectedLocalFinishAt: at(w.allLocalFinish) }),
      cloudFrames: Math.min(w.late, w.served) + w.cloudRunning,
      offloadFrames: w.offload,
      recallFrames: w.recall,
      reason,
    });
    if (w.offload > 0) offload.push({ sourceJobId: id, frameCount: w.offload, capacityGroup: group.name });
    if (w.recall > 0) recall.push({ sourceJobId: id, frameCount: w.recall });
    if (w.offload > 0 || w.recall > 0 || w.late > 0) reasons.push(`${id}: ${reason}`);
  }
  reasons.push(...groupReasons.map((g) => `group ${group.name}: ${g}`));
  const targetOut: CapacityTarget = {
    capacityGroup: group.name,
    dedicatedNodes,
    spotNodes,
    costPerHour: projectedCostPerHour,
    reasons: groupReasons,
  };
  return { offload, recall, targets: [targetOut], jobs, projectedCostPerHour, reasons };
}

/** One line on what the plan does with a job and why. */
function explain(w: Work, mode: 'offload' | 'worker'): string {
  const due = w.due === undefined ? '' : `due in ${formatSeconds(w.due)}`;
  if (w.blocked !== undefined) {
    if (w.due !== undefined && w.allLocalFinish !== undefined && w.allLocalFinish > w.due)
      return `stays local (${w.blocked}); local finish in ${formatSeconds(w.allLocalFinish)}, ${due}`;
    return `stays local: ${w.blocked}`;
  }
  if (w.recall > 0)
    return w.late > w.served
      ? `recall ${w.recall} frames not started in the cloud: no cloud node will take them in time (${due})`
      : `recall ${w.recall} frames not started in the cloud: local workers are idle and finish them in time (${due})`;
  if (w.late === 0) {
    const finish =
      w.localFinish === undefined
        ? 'nothing left to start'
        : `local finish in ${formatSeconds(w.localFinish)}`;
    return `in time locally: ${finish}, ${due}`;
  }
  const local = w.allLocalFinish === undefined ? '' : `local finish in ${formatSeconds(w.allLocalFinish)}, `;
  const head = `${w.late} frames would finish locally too late (${local}${due})`;
  const stay = w.late - w.served;
  const parts: string[] = [];
  if (mode === 'worker') {
    if (w.served > 0) parts.push(`${Math.min(w.late, w.served)} for cloud workers`);
    if (stay > 0) parts.push(`${stay} stay late: cloud workers cannot finish them in time`);
    return parts.length > 0 ? `${head}: ${parts.join('; ')}` : head;
  }
  if (w.offload > 0) parts.push(`offload ${w.offload} now`);
  const more = Math.min(w.late, w.served) - w.cloudQueued - w.offload;
  if (more > 0) parts.push(`${more} more as cloud nodes free up`);
  if (stay > 0) parts.push(`${stay} stay local: the cloud cannot finish them in time`);
  return parts.length > 0 ? `${head}: ${parts.join('; ')}` : head;
}

/** Everything a plan across every capacity group is made from. */
export interface PlanBurstInput extends Omit<PolicyInput, 'group'> {
  /** The studio's capacity groups, each with its figures and nodes. */
  readonly groups: readonly PolicyCapacityGroup[];
}

/**
 * The plan for one source across every capacity group: `decideBurst` per group (each job
 * goes to its own group), one spend cap shared by all. Jobs that name a group that does not
 * exist stay local, with that as the reason.
 */
export function planBurst(input: PlanBurstInput): PlanDecision {
  const defaultGroup = input.defaultGroup ?? input.groups[0]?.name ?? '';
  const nodeCost = (g: PolicyCapacityGroup): number =>
    g.nodes.reduce((s, n) => s + (n.kind === 'spot' ? g.spotPricePerHour : g.dedicatedPricePerHour), 0);
  const cap = input.maxSpendPerHour && input.maxSpendPerHour > 0 ? input.maxSpendPerHour : 0;
  // A job of a farm group a worker-burst group serves is that group's; else the capacity
  // group it names, else the default.
  const servedBy = new Map<string, string>();
  for (const g of input.groups)
    if (g.mode === 'worker')
      for (const f of g.farmGroups ?? []) if (f && !servedBy.has(f)) servedBy.set(f, g.name);
  const groupOf = (job: ReportedJob): string =>
    servedBy.get(job.group) ??
    (job.pool ? servedBy.get(job.pool) : undefined) ??
    job.capacityGroup ??
    defaultGroup;
  const parts = input.groups.map((group) => {
    const othersCost = input.groups.filter((g) => g !== group).reduce((s, g) => s + nodeCost(g), 0);
    return decideBurst({
      ...input,
      group,
      defaultGroup,
      groupOf,
      ...(cap > 0 ? { maxSpendPerHour: Math.max(1e-9, cap - othersCost) } : {}),
    });
  });
  const planned = input.source ?? input.farms[0]?.report.source;
  const names = new Set(input.groups.map((g) => g.name));
  const orphans: JobPlan[] = (input.farms.find((f) => f.report.source === planned)?.report.jobs ?? [])
    .filter((j) => !names.has(groupOf(j)))
    .map((j) => ({
      sourceJobId: j.sourceJobId,
      capacityGroup: groupOf(j),
      ...(j.deadline ? { dueAt: j.deadline } : {}),
      cloudFrames: 0,
      offloadFrames: 0,
      recallFrames: 0,
      reason: `stays local: capacity group ${JSON.stringify(groupOf(j))} does not exist`,
    }));
  return {
    offload: parts.flatMap((p) => p.offload),
    recall: parts.flatMap((p) => p.recall),
    targets: parts.flatMap((p) => p.targets),
    jobs: [...parts.flatMap((p) => p.jobs), ...orphans],
    projectedCostPerHour: parts.reduce((s, p) => s + p.projectedCostPerHour, 0),
    reasons: [...parts.flatMap((p) => p.reasons), ...orphans.map((o) => `${o.sourceJobId}: ${o.reason}`)],
  };
}
