/**
 * Controllers the simulator runs: Spillway's policy and baselines modelled on the published
 * behaviour of existing burst tools. Every baseline runs spot (low-priority) nodes, their
 * cheapest option, and joins the farm as workers.
 */
import { decideBurst, type PolicyJob, type PolicyOptions } from './burst-policy';
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
   * Do not tell the policy when the frames rendering locally started (as a render manager
   * that reports only counts would): busy workers are then projected half a frame from now.
   * @default false
   */
  readonly ignoreFrameProgress?: boolean;
}

/** Spillway's policy (`decideBurst`) driving the simulated cloud in offload mode. */
export function spillwayController(options: SpillwayControllerOptions = {}): Controller {
  return {
    name: 'spillway',
    description:
      'Spillway: offloads only the frames that would miss their deadline locally, sizes spot or dedicated nodes to finish them in time, recalls frames when local workers free up, drains on scale-in.',
    mode: 'offload',
    decide(view) {
      const sc = view.scenario;
      const jobs: PolicyJob[] = view.jobs
        .filter((j) => j.arrived && j.completed < j.job.frames)
        .map((j) => ({
          id: j.job.id,
          priority: j.job.priority,
          queuedFrames: j.queuedLocal,
          renderingFrames: j.renderingLocal,
          cloudQueuedFrames: j.queuedCloud,
          cloudRunningFrames: j.runningCloud,
          submittedAtSeconds: j.job.submitAtSeconds,
          ...(j.job.deadlineAtSeconds === undefined ? {} : { deadlineAtSeconds: j.job.deadlineAtSeconds }),
          // Observed when frames are done; until then the estimate a studio submits with.
          frameSeconds: j.observedLocalFrameSeconds ?? j.job.frameSeconds.mean * sc.localFarm.speed,
          frameSecondsStdev: j.observedLocalFrameStdev ?? j.job.frameSeconds.stdev * sc.localFarm.speed,
          ...(options.ignoreFrameProgress
            ? {}
            : { renderingStartedAtSeconds: j.renderingLocalStartedAtSeconds }),
        }));
      const plan = decideBurst({
        nowSeconds: view.nowSeconds,
        jobs,
        farm: { idleWorkers: view.idleWorkers, busyWorkers: view.busyWorkers },
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
              readyAtSeconds: n.readyAtSeconds,
              idleSinceSeconds: n.idleSinceSeconds,
            })),
        },
        ...(sc.budget?.maxSpendPerHour === undefined ? {} : { maxSpendPerHour: sc.budget.maxSpendPerHour }),
        ...(options.policy ? { options: options.policy } : {}),
      });
      const target = plan.targets[0]!;
      return {
        offload: new Map(plan.offload.map((o) => [o.jobId, o.frameCount])),
        recall: new Map(plan.recall.map((r) => [r.jobId, r.frameCount])),
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
