/**
 * Maps between the SDK's own types and the generated `spillway.v1` wire types. The one
 * place that knows both, used by the server (to the wire) and the client (from the wire).
 */
import * as wb from '../gen/spillway/v1/burst';
import * as wc from '../gen/spillway/v1/capacity';
import * as w from '../gen/spillway/v1/frames';
import type { GroupStatus, NodeState } from '../compute/backend';
import {
  BurstMode as WireBurstMode,
  SourceKind as WireSourceKind,
  type FrameKey as WireFrameKey,
} from '../gen/spillway/v1/common';
import type {
  FrameEvent,
  FrameEventType,
  FrameKey,
  Frame,
  FrameSpec,
  FrameState,
  FrameSubmission,
  Job,
  JobSpec,
  JobState,
  SourceKind,
} from './frames';
import type {
  BurstPlan,
  BurstStatus,
  CapacityTarget,
  FarmReport,
  FrameTimeStats,
  GroupParameter,
  GroupParameters,
  JobPlan,
  ParameterSource,
  PlannerName,
  RenderingFrame,
  ReportedJob,
  SourceStatus,
} from './burst';
import type { FrameLogChunk, FrameLogSource } from './frame-logs';
import type { CostReport, Evictions, GroupCost, JobCost, NodeHours } from './cost';
import type * as wcost from '../gen/spillway/v1/cost';
import { dropUndefined } from './defined';

function bimap<A extends string, B extends number>(pairs: readonly (readonly [A, B])[]) {
  const to = new Map<A, B>(pairs);
  const from = new Map<B, A>(pairs.map(([a, b]) => [b, a]));
  return {
    toWire: (a: A): B => to.get(a)!,
    fromWire: (b: B): A | undefined => from.get(b),
  };
}

/** A node's state, as the compute backends and the CapacityService name it. */
export const nodeStates = bimap<NodeState, wc.NodeState>([
  ['creating', wc.NodeState.NODE_STATE_CREATING],
  ['starting', wc.NodeState.NODE_STATE_STARTING],
  ['waitingForStartTask', wc.NodeState.NODE_STATE_WAITING_FOR_START_TASK],
  ['idle', wc.NodeState.NODE_STATE_IDLE],
  ['running', wc.NodeState.NODE_STATE_RUNNING],
  ['preempted', wc.NodeState.NODE_STATE_PREEMPTED],
  ['startTaskFailed', wc.NodeState.NODE_STATE_START_TASK_FAILED],
  ['unusable', wc.NodeState.NODE_STATE_UNUSABLE],
  ['leaving', wc.NodeState.NODE_STATE_LEAVING],
  ['offline', wc.NodeState.NODE_STATE_OFFLINE],
]);

/** A capacity group's provisioning state. */
export const provisioningStates = bimap<GroupStatus['state'], wc.ProvisioningState>([
  ['creating', wc.ProvisioningState.PROVISIONING_STATE_CREATING],
  ['steady', wc.ProvisioningState.PROVISIONING_STATE_STEADY],
  ['resizing', wc.ProvisioningState.PROVISIONING_STATE_RESIZING],
  ['deleting', wc.ProvisioningState.PROVISIONING_STATE_DELETING],
  ['failed', wc.ProvisioningState.PROVISIONING_STATE_FAILED],
]);

/** How a capacity group adds capacity. */
export const burstModes = bimap<'frame-offload' | 'worker-burst', WireBurstMode>([
  ['frame-offload', WireBurstMode.BURST_MODE_FRAME_OFFLOAD],
  ['worker-burst', WireBurstMode.BURST_MODE_WORKER_BURST],
]);

/** The backend behind a capacity group. */
export const backendKinds = bimap<'local' | 'batch' | 'scale-set', wc.BackendKind>([
  ['local', wc.BackendKind.BACKEND_KIND_LOCAL],
  ['batch', wc.BackendKind.BACKEND_KIND_BATCH],
  ['scale-set', wc.BackendKind.BACKEND_KIND_SCALE_SET],
]);

/** Who set a capacity group's current targets. */
export const targetOwners = bimap<'manual' | 'plan', wc.TargetOwner>([
  ['manual', wc.TargetOwner.TARGET_OWNER_MANUAL],
  ['plan', wc.TargetOwner.TARGET_OWNER_PLAN],
]);

export const sourceKinds = bimap<SourceKind, WireSourceKind>([
  ['deadline', WireSourceKind.SOURCE_KIND_DEADLINE],
  ['opencue', WireSourceKind.SOURCE_KIND_OPENCUE],
  ['client', WireSourceKind.SOURCE_KIND_CLIENT],
]);

export const frameStates = bimap<FrameState, w.FrameState>([
  ['queued', w.FrameState.FRAME_STATE_QUEUED],
  ['preparing', w.FrameState.FRAME_STATE_PREPARING],
  ['running', w.FrameState.FRAME_STATE_RUNNING],
  ['succeeded', w.FrameState.FRAME_STATE_SUCCEEDED],
  ['failed', w.FrameState.FRAME_STATE_FAILED],
  ['recalled', w.FrameState.FRAME_STATE_RECALLED],
  ['cancelled', w.FrameState.FRAME_STATE_CANCELLED],
]);

export const frameEventTypes = bimap<FrameEventType, w.FrameEventType>([
  ['queued', w.FrameEventType.FRAME_EVENT_TYPE_QUEUED],
  ['started', w.FrameEventType.FRAME_EVENT_TYPE_STARTED],
  ['preempted', w.FrameEventType.FRAME_EVENT_TYPE_PREEMPTED],
  ['retrying', w.FrameEventType.FRAME_EVENT_TYPE_RETRYING],
  ['succeeded', w.FrameEventType.FRAME_EVENT_TYPE_SUCCEEDED],
  ['failed', w.FrameEventType.FRAME_EVENT_TYPE_FAILED],
  ['recalled', w.FrameEventType.FRAME_EVENT_TYPE_RECALLED],
  ['cancelled', w.FrameEventType.FRAME_EVENT_TYPE_CANCELLED],
]);

export const jobStates = bimap<JobState, w.JobState>([
  ['active', w.JobState.JOB_STATE_ACTIVE],
  ['completed', w.JobState.JOB_STATE_COMPLETED],
  ['cancelled', w.JobState.JOB_STATE_CANCELLED],
]);

const optionalDate = (d: Date | undefined): Date | undefined => d;
const nonEmpty = (s: string): string | undefined => (s === '' ? undefined : s);

export function keyToWire(k: FrameKey): WireFrameKey {
  return { source: k.source, sourceJobId: k.sourceJobId, sourceTaskId: k.sourceTaskId };
}

export function keyFromWire(k: WireFrameKey | undefined): FrameKey {
  return { source: k?.source ?? '', sourceJobId: k?.sourceJobId ?? '', sourceTaskId: k?.sourceTaskId ?? '' };
}

/** A `google.protobuf.Duration` as the generated code types it. */
export interface WireDuration {
  seconds: number;
  nanos: number;
}

/**
 * Milliseconds as a `google.protobuf.Duration`: whole nanoseconds, `nanos` of the same sign
 * as `seconds` (|nanos| < 1e9), as protobuf requires (-1.5 s is -1 s and -500,000,000 ns).
 * The one mapping of durations between the SDK (`...Ms` numbers) and the wire.
 */
export function durationToWire(ms: number): WireDuration;
export function durationToWire(ms: number | undefined): WireDuration | undefined;
export function durationToWire(ms: number | undefined): WireDuration | undefined {
  if (ms === undefined) return undefined;
  const total = Math.round(ms * 1e6);
  const seconds = Math.trunc(total / 1e9);
  return { seconds, nanos: total - seconds * 1e9 };
}

/** A `google.protobuf.Duration` in milliseconds (sub-millisecond parts kept as fractions). */
export function durationFromWire(d: WireDuration): number;
export function durationFromWire(d: WireDuration | undefined): number | undefined;
export function durationFromWire(d: WireDuration | undefined): number | undefined {
  return d === undefined ? undefined : d.seconds * 1000 + d.nanos / 1e6;
}

export function jobSpecToWire(s: JobSpec): w.JobSpec {
  return {
    source: s.source,
    sourceKind: sourceKinds.toWire(s.sourceKind ?? 'client'),
    sourceJobId: s.sourceJobId,
    name: s.name ?? '',
    capacityGroup: s.capacityGroup ?? '',
    commandTemplate: s.commandTemplate,
    assetManifestId: s.assetManifestId ?? '',
    output: {
      patterns: [...(s.outputPatterns ?? [])],
      destination: s.outputDestination ?? '',
      shared: s.sharedOutput ? { mount: s.sharedOutput.mount, path: s.sharedOutput.path } : undefined,
    },
    environment: { ...(s.environment ?? {}) },
    maxRetries: s.maxRetries ?? 0,
    priority: s.priority ?? 50,
    deadline: optionalDate(s.deadline),
    frameTimeout: durationToWire(s.frameTimeoutMs),
    gpus: s.gpus ?? 0,
  };
}

/** Wire to SDK; unset wire fields become absent (defaults are applied by the service). */
export function jobSpecFromWire(s: w.JobSpec | undefined): JobSpec {
  const spec = s ?? w.JobSpec.fromPartial({});
  const patterns = spec.output?.patterns ?? [];
  return dropUndefined({
    source: spec.source,
    sourceKind: sourceKinds.fromWire(spec.sourceKind),
    sourceJobId: spec.sourceJobId,
    name: nonEmpty(spec.name),
    capacityGroup: nonEmpty(spec.capacityGroup),
    commandTemplate: spec.commandTemplate,
    assetManifestId: nonEmpty(spec.assetManifestId),
    outputPatterns: patterns.length > 0 ? patterns : undefined,
    outputDestination: nonEmpty(spec.output?.destination ?? ''),
    sharedOutput: spec.output?.shared
      ? { mount: spec.output.shared.mount, path: spec.output.shared.path }
      : undefined,
    environment: Object.keys(spec.environment).length > 0 ? spec.environment : undefined,
    maxRetries: spec.maxRetries,
    priority: spec.priority,
    deadline: spec.deadline,
    frameTimeoutMs: durationFromWire(spec.frameTimeout),
    gpus: spec.gpus > 0 ? spec.gpus : undefined,
  });
}

export function frameSpecToWire(f: FrameSpec): w.FrameSpec {
  return {
    sourceTaskId: f.sourceTaskId,
    frameStart: f.frameStart,
    frameEnd: f.frameEnd,
    frameStep: f.frameStep ?? 1,
    command: f.command ?? '',
    environment: { ...(f.environment ?? {}) },
  };
}

export function frameSpecFromWire(f: w.FrameSpec): FrameSpec {
  return dropUndefined({
    sourceTaskId: f.sourceTaskId,
    frameStart: f.frameStart,
    frameEnd: f.frameEnd,
    frameStep: f.frameStep === 0 ? undefined : f.frameStep,
    command: nonEmpty(f.command),
    environment: Object.keys(f.environment).length > 0 ? f.environment : undefined,
  });
}

export function frameToWire(f: Frame): w.Frame {
  return {
    key: keyToWire(f.key),
    frameId: f.frameId,
    jobId: f.jobId,
    state: frameStates.toWire(f.state),
    frameStart: f.frameStart,
    frameEnd: f.frameEnd,
    attempts: f.attempts,
    preemptions: f.preemptions,
    nodeId: f.nodeId ?? '',
    exitCode: f.exitCode ?? 0,
    message: f.message ?? '',
    submittedAt: f.submittedAt,
    startedAt: f.startedAt,
    finishedAt: f.finishedAt,
    outputs: f.outputs.map((o) => ({ ...o })),
    cost: f.cost,
  };
}

export function frameFromWire(f: w.Frame): Frame {
  return dropUndefined({
    key: keyFromWire(f.key),
    frameId: f.frameId,
    jobId: f.jobId,
    state: frameStates.fromWire(f.state) ?? 'queued',
    frameStart: f.frameStart,
    frameEnd: f.frameEnd,
    attempts: f.attempts,
    preemptions: f.preemptions,
    nodeId: nonEmpty(f.nodeId),
    exitCode: f.exitCode,
    message: nonEmpty(f.message),
    submittedAt: f.submittedAt ?? new Date(0),
    startedAt: f.startedAt,
    finishedAt: f.finishedAt,
    outputs: f.outputs,
    cost: f.cost,
  });
}

export function jobToWire(j: Job): w.Job {
  return {
    jobId: j.jobId,
    spec: jobSpecToWire(j.spec),
    state: jobStates.toWire(j.state),
    counts: { ...j.counts },
    createdAt: j.createdAt,
    updatedAt: j.updatedAt,
    cost: j.cost,
  };
}

export function jobFromWire(j: w.Job | undefined): Job {
  const job = j ?? w.Job.fromPartial({});
  return {
    jobId: job.jobId,
    spec: jobSpecFromWire(job.spec),
    state: jobStates.fromWire(job.state) ?? 'active',
    counts: job.counts ?? { queued: 0, running: 0, succeeded: 0, failed: 0, recalled: 0, cancelled: 0 },
    createdAt: job.createdAt ?? new Date(0),
    updatedAt: job.updatedAt ?? new Date(0),
    cost: job.cost,
  };
}

export function eventToWire(e: FrameEvent): w.FrameEvent {
  return {
    cursor: e.cursor,
    time: e.time,
    type: frameEventTypes.toWire(e.type),
    key: keyToWire(e.key),
    frameId: e.frameId,
    jobId: e.jobId,
    state: frameStates.toWire(e.state),
    attempt: e.attempt,
    nodeId: e.nodeId ?? '',
    exitCode: e.exitCode ?? 0,
    message: e.message ?? '',
    outputs: (e.outputs ?? []).map((o) => ({ ...o })),
  };
}

export function eventFromWire(e: w.FrameEvent): FrameEvent {
  return dropUndefined({
    cursor: e.cursor,
    time: e.time ?? new Date(0),
    type: frameEventTypes.fromWire(e.type) ?? 'queued',
    key: keyFromWire(e.key),
    frameId: e.frameId,
    jobId: e.jobId,
    state: frameStates.fromWire(e.state) ?? 'queued',
    attempt: e.attempt,
    nodeId: nonEmpty(e.nodeId),
    exitCode: e.exitCode,
    message: nonEmpty(e.message),
    outputs: e.outputs.length > 0 ? e.outputs : undefined,
  });
}

export function submissionFromWire(s: w.FrameSubmission): FrameSubmission {
  return {
    key: keyFromWire(s.key),
    frameId: s.frameId,
    created: s.created,
    state: frameStates.fromWire(s.state) ?? 'queued',
  };
}

export function submissionToWire(s: FrameSubmission): w.FrameSubmission {
  return {
    key: keyToWire(s.key),
    frameId: s.frameId,
    created: s.created,
    state: frameStates.toWire(s.state),
  };
}

/** Which planner made a plan. */
export const plannerNames = {
  toWire: (p: PlannerName): string => p,
  fromWire: (s: string): PlannerName => (s === 'greedy' ? 'greedy' : 'policy'),
};

/** Where a group's planning figure comes from. */
export const parameterSources = bimap<ParameterSource, wb.ParameterSource>([
  ['configured', wb.ParameterSource.PARAMETER_SOURCE_CONFIGURED],
  ['observed', wb.ParameterSource.PARAMETER_SOURCE_OBSERVED],
]);

export function frameTimeStatsToWire(s: FrameTimeStats | undefined): wb.FrameTimeStats | undefined {
  return s === undefined
    ? undefined
    : { mean: durationToWire(s.meanMs), stdev: durationToWire(s.stdevMs), samples: s.samples };
}

export function frameTimeStatsFromWire(s: wb.FrameTimeStats | undefined): FrameTimeStats | undefined {
  return s === undefined
    ? undefined
    : { meanMs: durationFromWire(s.mean) ?? 0, stdevMs: durationFromWire(s.stdev) ?? 0, samples: s.samples };
}

export function renderingFrameToWire(f: RenderingFrame): wb.RenderingFrame {
  return { sourceTaskId: f.sourceTaskId ?? '', startedAt: f.startedAt, progress: f.progress };
}

export function renderingFrameFromWire(f: wb.RenderingFrame): RenderingFrame {
  return dropUndefined({
    sourceTaskId: nonEmpty(f.sourceTaskId),
    startedAt: f.startedAt,
    progress: f.progress,
  });
}

export function reportedJobToWire(j: ReportedJob): wb.QueuedJob {
  return {
    sourceJobId: j.sourceJobId,
    name: j.name ?? '',
    priority: j.priority,
    group: j.group,
    pool: j.pool ?? '',
    queuedFrames: j.queuedFrames,
    renderingFrames: j.renderingFrames,
    offloadedFrames: j.offloadedFrames,
    completedFrames: j.completedFrames ?? 0,
    submittedAt: j.submittedAt,
    deadline: j.deadline,
    frameTime: durationToWire(j.frameTimeMs),
    burstable: j.burstable,
    capacityGroup: j.capacityGroup ?? '',
    localFrameTime: frameTimeStatsToWire(j.localFrameTime),
    cloudFrameTime: frameTimeStatsToWire(j.cloudFrameTime),
    rendering: (j.rendering ?? []).map(renderingFrameToWire),
  };
}

/** Wire to SDK; unset wire fields become absent. Validation is the service's (`validateFarmReport`). */
export function reportedJobFromWire(j: wb.QueuedJob): ReportedJob {
  return dropUndefined({
    sourceJobId: j.sourceJobId,
    name: nonEmpty(j.name),
    priority: j.priority,
    group: j.group,
    pool: nonEmpty(j.pool),
    queuedFrames: j.queuedFrames,
    renderingFrames: j.renderingFrames,
    offloadedFrames: j.offloadedFrames,
    completedFrames: j.completedFrames,
    submittedAt: j.submittedAt,
    deadline: j.deadline,
    frameTimeMs: durationFromWire(j.frameTime),
    localFrameTime: frameTimeStatsFromWire(j.localFrameTime),
    cloudFrameTime: frameTimeStatsFromWire(j.cloudFrameTime),
    rendering: j.rendering.length > 0 ? j.rendering.map(renderingFrameFromWire) : undefined,
    burstable: j.burstable,
    capacityGroup: nonEmpty(j.capacityGroup),
  });
}

export function farmReportToWire(r: FarmReport): wb.FarmState {
  return {
    source: r.source,
    sourceKind: sourceKinds.toWire(r.sourceKind ?? 'client'),
    observedAt: r.observedAt,
    jobs: r.jobs.map(reportedJobToWire),
    workers: r.workers.map((g) => ({
      group: g.group,
      idleWorkers: g.idle,
      busyWorkers: g.busy,
      offlineWorkers: g.offline ?? 0,
      capacityGroup: g.capacityGroup ?? '',
    })),
  };
}

/** Wire to SDK. An unset `observed_at` becomes `receivedAt` (the service's clock). */
export function farmReportFromWire(s: wb.FarmState, receivedAt: Date = new Date()): FarmReport {
  return dropUndefined({
    source: s.source,
    sourceKind: sourceKinds.fromWire(s.sourceKind),
    observedAt: s.observedAt ?? receivedAt,
    jobs: s.jobs.map(reportedJobFromWire),
    workers: s.workers.map((g) =>
      dropUndefined({
        group: g.group,
        idle: g.idleWorkers,
        busy: g.busyWorkers,
        offline: g.offlineWorkers === 0 ? undefined : g.offlineWorkers,
        capacityGroup: g.capacityGroup === '' ? undefined : g.capacityGroup,
      }),
    ),
  });
}

export function capacityTargetToWire(t: CapacityTarget): wb.CapacityTarget {
  return {
    capacityGroup: t.capacityGroup,
    targetDedicatedNodes: t.dedicatedNodes,
    targetSpotNodes: t.spotNodes,
    costPerHour: t.costPerHour ?? 0,
    reasons: [...(t.reasons ?? [])],
  };
}

export function capacityTargetFromWire(t: wb.CapacityTarget): CapacityTarget {
  return dropUndefined({
    capacityGroup: t.capacityGroup,
    dedicatedNodes: t.targetDedicatedNodes,
    spotNodes: t.targetSpotNodes,
    costPerHour: t.costPerHour,
    reasons: t.reasons.length > 0 ? t.reasons : undefined,
  });
}

export function jobPlanToWire(j: JobPlan): wb.JobPlan {
  return {
    sourceJobId: j.sourceJobId,
    capacityGroup: j.capacityGroup,
    dueAt: j.dueAt,
    projectedLocalFinish: j.projectedLocalFinishAt,
    cloudFrames: j.cloudFrames,
    offloadFrames: j.offloadFrames,
    recallFrames: j.recallFrames,
    reason: j.reason,
  };
}

export function jobPlanFromWire(j: wb.JobPlan): JobPlan {
  return dropUndefined({
    sourceJobId: j.sourceJobId,
    capacityGroup: j.capacityGroup,
    dueAt: j.dueAt,
    projectedLocalFinishAt: j.projectedLocalFinish,
    cloudFrames: j.cloudFrames,
    offloadFrames: j.offloadFrames,
    recallFrames: j.recallFrames,
    reason: j.reason,
  });
}

export function burstPlanToWire(p: BurstPlan): wb.BurstPlan {
  return {
    planId: p.planId,
    createdAt: p.createdAt,
    offload: p.offload.map((o) => ({ ...o })),
    recall: p.recall.map((r) => ({ ...r })),
    targets: p.targets.map(capacityTargetToWire),
    projectedCostPerHour: p.projectedCostPerHour,
    reasons: [...p.reasons],
    reportInterval: durationToWire(p.reportIntervalMs),
    jobs: p.jobs.map(jobPlanToWire),
    planner: plannerNames.toWire(p.planner),
  };
}

/** Wire to SDK; an unset report interval becomes `defaultReportIntervalMs`. */
export function burstPlanFromWire(p: wb.BurstPlan, defaultReportIntervalMs = 5000): BurstPlan {
  return {
    planId: p.planId,
    createdAt: p.createdAt ?? new Date(0),
    planner: plannerNames.fromWire(p.planner),
    offload: p.offload.map((o) => ({
      sourceJobId: o.sourceJobId,
      frameCount: o.frameCount,
      capacityGroup: o.capacityGroup,
    })),
    recall: p.recall.map((r) => ({ sourceJobId: r.sourceJobId, frameCount: r.frameCount })),
    targets: p.targets.map(capacityTargetFromWire),
    jobs: p.jobs.map(jobPlanFromWire),
    projectedCostPerHour: p.projectedCostPerHour,
    reasons: p.reasons,
    reportIntervalMs: durationFromWire(p.reportInterval) ?? defaultReportIntervalMs,
  };
}

function groupParameterToWire(g: GroupParameter): wb.GroupParameter {
  return { value: g.value, source: parameterSources.toWire(g.source), samples: g.samples };
}

function groupParameterFromWire(g: wb.GroupParameter | undefined): GroupParameter {
  return {
    value: g?.value ?? 0,
    source: parameterSources.fromWire(g?.source ?? 0) ?? 'configured',
    samples: g?.samples ?? 0,
  };
}

export function groupParametersToWire(p: GroupParameters): wb.GroupParameters {
  return {
    capacityGroup: p.capacityGroup,
    nodeBootSeconds: groupParameterToWire(p.nodeBootSeconds),
    cloudFrameTimeRatio: groupParameterToWire(p.cloudFrameTimeRatio),
    transferSecondsPerFrame: groupParameterToWire(p.transferSecondsPerFrame),
    spotEvictionsPerNodeHour: groupParameterToWire(p.spotEvictionsPerNodeHour),
    billingGranularitySeconds: groupParameterToWire(p.billingGranularitySeconds),
    turnaroundTargetSeconds: p.turnaroundTargetSeconds,
  };
}

export function groupParametersFromWire(p: wb.GroupParameters): GroupParameters {
  return dropUndefined({
    capacityGroup: p.capacityGroup,
    nodeBootSeconds: groupParameterFromWire(p.nodeBootSeconds),
    cloudFrameTimeRatio: groupParameterFromWire(p.cloudFrameTimeRatio),
    transferSecondsPerFrame: groupParameterFromWire(p.transferSecondsPerFrame),
    spotEvictionsPerNodeHour: groupParameterFromWire(p.spotEvictionsPerNodeHour),
    billingGranularitySeconds: groupParameterFromWire(p.billingGranularitySeconds),
    turnaroundTargetSeconds: p.turnaroundTargetSeconds,
  });
}

function sourceStatusToWire(s: SourceStatus): wb.SourceStatus {
  return {
    source: s.source,
    sourceKind: sourceKinds.toWire(s.sourceKind),
    lastReportAt: s.lastReportAt,
    queuedFrames: s.queuedFrames,
    cloudFrames: s.cloudFrames,
    lastPlan: s.lastPlan === undefined ? undefined : burstPlanToWire(s.lastPlan),
  };
}

function sourceStatusFromWire(s: wb.SourceStatus): SourceStatus {
  return dropUndefined({
    source: s.source,
    sourceKind: sourceKinds.fromWire(s.sourceKind) ?? 'client',
    lastReportAt: s.lastReportAt ?? new Date(0),
    queuedFrames: s.queuedFrames,
    cloudFrames: s.cloudFrames,
    lastPlan: s.lastPlan === undefined ? undefined : burstPlanFromWire(s.lastPlan),
  });
}

export function burstStatusToWire(s: BurstStatus): wb.GetBurstStatusResponse {
  return {
    maxSpendPerHour: s.maxSpendPerHour,
    costPerHour: s.costPerHour,
    spentTotal: s.spentTotal,
    currency: s.currency,
    current: s.groups.map(capacityTargetToWire),
    sources: s.sources.map(sourceStatusToWire),
    parameters: s.parameters.map(groupParametersToWire),
    planner: plannerNames.toWire(s.planner),
  };
}

export function burstStatusFromWire(s: wb.GetBurstStatusResponse): BurstStatus {
  return {
    maxSpendPerHour: s.maxSpendPerHour,
    costPerHour: s.costPerHour,
    spentTotal: s.spentTotal,
    currency: s.currency,
    groups: s.current.map(capacityTargetFromWire),
    sources: s.sources.map(sourceStatusFromWire),
    parameters: s.parameters.map(groupParametersFromWire),
    planner: plannerNames.fromWire(s.planner),
  };
}

/** Where a piece of a frame's log was read. */
export const frameLogSources = bimap<FrameLogSource, w.FrameLogSource>([
  ['node', w.FrameLogSource.FRAME_LOG_SOURCE_NODE],
  ['storage', w.FrameLogSource.FRAME_LOG_SOURCE_STORAGE],
]);

export function frameLogChunkToWire(c: FrameLogChunk): w.FollowFrameLogResponse {
  return {
    frameId: c.frameId,
    attempt: c.attempt,
    offset: c.offset,
    data: c.data,
    source: c.source ? frameLogSources.toWire(c.source) : w.FrameLogSource.FRAME_LOG_SOURCE_UNSPECIFIED,
    state: frameStates.toWire(c.state),
    end: c.end,
  };
}

export function frameLogChunkFromWire(c: w.FollowFrameLogResponse): FrameLogChunk {
  return dropUndefined({
    frameId: c.frameId,
    attempt: c.attempt,
    offset: c.offset,
    data: Buffer.from(c.data),
    source: frameLogSources.fromWire(c.source),
    state: frameStates.fromWire(c.state) ?? 'queued',
    end: c.end,
  });
}

const nodeHoursOf = (h: wcost.NodeHours | undefined): NodeHours => ({
  dedicated: h?.dedicated ?? 0,
  spot: h?.spot ?? 0,
  unknown: h?.unknown ?? 0,
});

const evictionsOf = (e: wcost.Evictions | undefined): Evictions => ({
  nodes: e?.nodes ?? 0,
  lostAttempts: e?.lostAttempts ?? 0,
  lostNodeHours: e?.lostNodeHours ?? 0,
  lostCost: e?.lostCost ?? 0,
});

export function costReportToWire(r: CostReport): wcost.CostReport {
  return {
    since: r.since,
    until: r.until,
    currency: r.currency,
    groups: r.groups.map((g) => ({ ...g })),
    jobs: r.jobs.map((j) => ({ ...j })),
    nodeHours: r.nodeHours,
    evictions: r.evictions,
    spend: r.spend,
    cloudFrames: r.cloudFrames,
    costPerCloudFrame: r.costPerCloudFrame,
  };
}

export function costReportFromWire(r: wcost.CostReport | undefined): CostReport {
  return {
    since: r?.since ?? new Date(0),
    until: r?.until ?? new Date(0),
    currency: r?.currency ?? '',
    groups: (r?.groups ?? []).map((g): GroupCost => ({
      capacityGroup: g.capacityGroup,
      nodeHours: nodeHoursOf(g.nodeHours),
      evictions: evictionsOf(g.evictions),
      spend: g.spend,
      cloudFrames: g.cloudFrames,
      costPerCloudFrame: g.costPerCloudFrame,
    })),
    jobs: (r?.jobs ?? []).map((j): JobCost => ({
      jobId: j.jobId,
      name: j.name,
      source: j.source,
      sourceJobId: j.sourceJobId,
      capacityGroup: j.capacityGroup,
      nodeHours: nodeHoursOf(j.nodeHours),
      evictions: evictionsOf(j.evictions),
      spend: j.spend,
      cloudFrames: j.cloudFrames,
      failedFrames: j.failedFrames,
      recalledFrames: j.recalledFrames,
      costPerCloudFrame: j.costPerCloudFrame,
    })),
    nodeHours: nodeHoursOf(r?.nodeHours),
    evictions: evictionsOf(r?.evictions),
    spend: r?.spend ?? 0,
    cloudFrames: r?.cloudFrames ?? 0,
    costPerCloudFrame: r?.costPerCloudFrame ?? 0,
  };
}
/** What a worker of a worker-burst group is to do. */
export const workerDispositions = bimap<'serve' | 'drain' | 'evicted' | 'remove', wc.WorkerDisposition>([
  ['serve', wc.WorkerDisposition.WORKER_DISPOSITION_SERVE],
  ['drain', wc.WorkerDisposition.WORKER_DISPOSITION_DRAIN],
  ['evicted', wc.WorkerDisposition.WORKER_DISPOSITION_EVICTED],
  ['remove', wc.WorkerDisposition.WORKER_DISPOSITION_REMOVE],
]);
