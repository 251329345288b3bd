/**
 * Controllers the simulator runs: Spillway's policy and baselines modelled on the published
 * behaviour of existing burst tools. Every baseline runs spot (low-priority) nodes, their
 * cheapest option, and joins the farm as workers.
 */
import type { FarmReport, ReportedJob } from '../model/burst';
import { decideBurst, type PolicyOptions } from './burst-policy';
import { SeededRandom } from '../random';
import type { Controller, SimAction, SimView } from './simulator';

/** Queued local frames that no idle local worker can take now. */
function overflow(view: SimView): number {
  const queued = view.jobs.reduce((s, j) => s + j.queuedLocal, 0);
  return Math.max(0, queued - view.idleWorkers);
}

function spotOnly(spot: number): SimAction {
  return { spotNodes: Math.max(0, spot), dedicatedNodes: 0 };
}

/** Nodes idle at least `seconds`. */
function idleFor(view: SimView, seconds: number): number {
  return view.nodes.filter((n) => n.state === 'idle' && view.nowSeconds - n.idleSinceSeconds >= seconds)
    .length;
}

/** Never bursts: the local farm alone. */
export const neverBurst: Controller = {
  name: 'never',
  description: 'Never bursts: the local farm renders everything.',
  mode: 'worker',
  decide: () => spotOnly(0),
};

/**
 * Like Deadline's Spot Event Plugin: a target of one instance per queued task of the group;
 * instances idle for 10 minutes are shut down.
 */
export const spotEventPlugin: Controller = {
  name: 'spot-event-plugin',
  description:
    'Deadline Spot Event Plugin style: targets one spot instance per queued task and shuts instances down after 10 idle minutes.',
  mode: 'worker',
  decide(view) {
    const queued = view.jobs.reduce((s, j) => s + j.queuedLocal, 0);
    const working = view.nodes.filter((n) => n.state !== 'idle').length;
    const idle = view.nodes.length - working;
    const keepIdle = idle - idleFor(view, 600);
    return spotOnly(
      Math.max(
        working + Math.min(idle, queued),
        working + keepIdle,
        Math.min(view.scenario.cloud.maxNodes, queued),
      ),
    );
  },
};

/**
 * Like an Azure Batch autoscale formula (`$TargetLowPriorityNodes = min(max, $PendingTasks)`,
 * deallocation on task completion), evaluated every 15 minutes.
 */
export function batchAutoscale(): Controller {
  let target = 0;
  let last = -Infinity;
  return {
    name: 'batch-autoscale',
    description:
      'Azure Batch autoscale-formula style: every 15 minutes sets low-priority nodes to min(quota, pending tasks), removing nodes only after their task completes.',
    mode: 'worker',
    decide(view) {
      if (view.nowSeconds - last >= 900) {
        last = view.nowSeconds;
        const running = view.nodes.filter((n) => n.state === 'busy').length;
        const pending = view.jobs.reduce((s, j) => s + j.queuedLocal, 0) + running;
        target = Math.min(view.scenario.cloud.maxNodes, pending);
      }
      return spotOnly(target);
    },
  };
}

/**
 * Like the Avere Deadline scaler: once work has waited 5 minutes it adds the whole queue;
 * workers idle for 10 minutes are deleted.
 */
export const avereScaler: Controller = {
  name: 'avere-scaler',
  description:
    'Avere Deadline scaler style: once queued work has waited 5 minutes, adds a worker for the whole queue; deletes workers idle for 10 minutes.',
  mode: 'worker',
  decide(view) {
    const waited = view.jobs.some((j) => j.queuedLocal > 0 && view.nowSeconds - j.waitingSinceSeconds >= 300);
    const idleOld = idleFor(view, 600);
    const n = view.nodes.length;
    if (!waited) return spotOnly(n - idleOld);
    const free = view.nodes.filter((x) => x.state !== 'busy').length;
    const queued = view.jobs.reduce((s, j) => s + j.queuedLocal, 0);
    return spotOnly(Math.max(n - idleOld, n + Math.max(0, queued - view.idleWorkers - free)));
  },
};

/** Like Render Hub: grows to the queue, removes nodes idle for 30 minutes. */
export const renderHub: Controller = {
  name: 'render-hub',
  description:
    'Render Hub style: grows the pool to the queued work and removes nodes only after 30 idle minutes.',
  mode: 'worker',
  decide(view) {
    const working = view.nodes.filter((n) => n.state !== 'idle').length;
    const idle = view.nodes.length - working;
    const want = Math.min(view.scenario.cloud.maxNodes, working + overflow(view));
    return spotOnly(Math.max(want, working + idle - idleFor(view, 1800)));
  },
};

/** What the simulated render manager reports of each frame rendering locally. */
export type FarmReporting = 'progress' | 'start' | 'counts';

/** Options of Spillway's controller. */
export interface SpillwayControllerOptions {
  /**
   * Turnaround target for jobs without a deadline (see `PolicyCapacityGroup`).
   * @default undefined (such jobs never go to the cloud)
   */
  readonly turnaroundTargetSeconds?: number;
  /** Policy tuning. */
  readonly policy?: PolicyOptions;
  /**
   * What the render manager reports of the frames rendering locally: `progress` (when
   * each started and how far it is, as Deadline's task `StartRen` and `Prog`), `start`
   * (when each started only) or `counts` (how many, as a manager that reports nothing
   * else; busy workers are then projected half a frame from now).
   * @default 'progress'
   */
  readonly reporting?: FarmReporting;
  /**
   * Noise of the simulated progress reports: each is the true fraction plus a normal error
   * of this standard deviation, rounded to whole percent and kept below 100 %.
   * @default 0.05
   */
  readonly progressNoise?: number;
}

/** The simulated farm as a bridge would report it: the same `FarmReport` the service gets. */
export function simulatedFarmReport(
  view: SimView,
  reporting: FarmReporting = 'progress',
  progress: (frame: { startedAtSeconds: number; durationSeconds: number }) => number = (f) =>
    Math.min(0.99, (view.nowSeconds - f.startedAtSeconds) / f.durationSeconds),
): FarmReport {
  const sc = view.scenario;
  const at = (s: number): Date => new Date(Math.round(s * 1000));
  const jobs: ReportedJob[] = view.jobs
    .filter((j) => j.arrived && j.completed < j.job.frames)
    .map((j) => ({
      sourceJobId: j.job.id,
      priority: j.job.priority,
      group: '',
      queuedFrames: j.queuedLocal,
      renderingFrames: j.renderingLocal,
      offloadedFrames: j.queuedCloud + j.runningCloud,
      completedFrames: j.completed,
      submittedAt: at(j.job.submitAtSeconds),
      ...(j.job.deadlineAtSeconds === undefined ? {} : { deadline: at(j.job.deadlineAtSeconds) }),
      // The estimate a studio submits with, until frames have finished.
      frameTimeMs: j.job.frameSeconds.mean * sc.localFarm.speed * 1000,
      ...(j.observedLocalFrameSeconds === undefined
        ? {}
        : {
            localFrameTime: {
              meanMs: j.observedLocalFrameSeconds * 1000,
              stdevMs: (j.observedLocalFrameStdev ?? 0) * 1000,
              samples: j.localFramesDone,
            },
          }),
      ...(reporting === 'counts'
        ? {}
        : {
            rendering: j.renderingLocalFrames.map((f) => ({
              startedAt: at(f.startedAtSeconds),
              ...(reporting === 'progress' ? { progress: progress(f) } : {}),
            })),
          }),
      burstable: true,
    }));
  return {
    source: 'simulator',
    observedAt: at(view.nowSeconds),
    jobs,
    workers: [{ group: '', idle: view.idleWorkers, busy: view.busyWorkers }],
  };
}

/** Spillway's policy (`decideBurst`) driving the simulated cloud in offload mode. */
export function spillwayController(options: SpillwayControllerOptions = {}): Controller {
  const reporting = options.reporting ?? 'progress';
  const noise = options.progressNoise ?? 0.05;
  let rng: SeededRandom | undefined;
  return {
    name: 'spillway',
    description:
      'Spillway: offloads only the frames that would miss their deadline locally, sizes spot or dedicated nodes to finish them in time, recalls frames when local workers free up, drains on scale-in.',
    mode: 'offload',
    decide(view) {
      const sc = view.scenario;
      rng ??= new SeededRandom(sc.seed * 104_729 + 7);
      const r = rng;
      const report = simulatedFarmReport(view, reporting, (f) => {
        const truth = (view.nowSeconds - f.startedAtSeconds) / f.durationSeconds;
        const noisy = noise > 0 ? truth + r.normal(0, noise) : truth;
        return Math.max(0, Math.min(0.99, Math.round(noisy * 100) / 100));
      });
      const cloud = new Map(
        view.jobs
          .filter((j) => j.arrived)
          .map((j) => [
            j.job.id,
            {
              queued: j.queuedCloud,
              running: j.runningCloud,
              runningElapsedSeconds: j.runningCloudStartedAtSeconds.map((t) => view.nowSeconds - t),
            },
          ]),
      );
      const plan = decideBurst({
        now: report.observedAt,
        farms: [{ report, cloud }],
        group: {
          name: 'default',
          maxNodes: sc.cloud.maxNodes,
          nodeBootSeconds: sc.cloud.nodeBootSeconds,
          cloudFrameTimeRatio: sc.cloud.nodeSpeed / sc.localFarm.speed,
          transferSecondsPerFrame: sc.cloud.transferSecondsPerFrame,
          dedicatedPricePerHour: sc.cloud.dedicatedPricePerHour,
          spotPricePerHour: sc.cloud.spotPricePerHour,
          spotEvictionsPerNodeHour: sc.cloud.spotEvictionsPerNodeHour,
          billingGranularitySeconds: sc.cloud.billingGranularitySeconds,
          ...(options.turnaroundTargetSeconds === undefined
            ? {}
            : { turnaroundTargetSeconds: options.turnaroundTargetSeconds }),
          nodes: view.nodes
            .filter((n) => !n.draining)
            .map((n) => ({
              kind: n.kind,
              state: n.state,
              readyInSeconds: Math.max(0, n.readyAtSeconds - view.nowSeconds),
              idleForSeconds: Math.max(0, view.nowSeconds - n.idleSinceSeconds),
            })),
        },
        ...(sc.budget?.maxSpendPerHour === undefined ? {} : { maxSpendPerHour: sc.budget.maxSpendPerHour }),
        ...(options.policy ? { options: options.policy } : {}),
      });
      const target = plan.targets[0]!;
      return {
        offload: new Map(plan.offload.map((o) => [o.sourceJobId, o.frameCount])),
        recall: new Map(plan.recall.map((r) => [r.sourceJobId, r.frameCount])),
        spotNodes: target.spotNodes,
        dedicatedNodes: target.dedicatedNodes,
      };
    },
  };
}

/** Policy names `simulate` accepts, Spillway's first. */
export const POLICY_NAMES = [
  'spillway',
  'never',
  'spot-event-plugin',
  'batch-autoscale',
  'avere-scaler',
  'render-hub',
] as const;

/** A policy name. */
export type PolicyName = (typeof POLICY_NAMES)[number];

/** A fresh controller by name (controllers may keep state: one per run). */
export function createController(name: PolicyName): Controller {
  switch (name) {
    case 'spillway':
      return spillwayController();
    case 'never':
      return neverBurst;
    case 'spot-event-plugin':
      return spotEventPlugin;
    case 'batch-autoscale':
      return batchAutoscale();
    case 'avere-scaler':
      return avereScaler;
    case 'render-hub':
      return renderHub;
  }
}
