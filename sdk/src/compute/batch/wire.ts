import type { BatchServiceModels } from '@azure/batch';
import { ValidationError } from '../../errors';
import type {
  CommandSpec,
  ComputeJobSpec,
  ComputeTaskSpec,
  GroupSpec,
  TaskInfo,
  TaskState,
} from '../backend';
import { formatIsoDuration, limitMs, MAX_BODY_BYTES, MAX_TASKS_PER_CALL } from '../batch-vocabulary';

type TaskAddParameter = BatchServiceModels.TaskAddParameter;
type CloudTask = BatchServiceModels.CloudTask;

/** Pool metadata names under which Spillway keeps a group's bounds, so they survive restarts. */
export const META_MAX_DEDICATED = 'spillway.maxDedicatedNodes';
/** See {@link META_MAX_DEDICATED}. */
export const META_MAX_SPOT = 'spillway.maxSpotNodes';

function env(
  e: Readonly<Record<string, string>> | undefined,
): BatchServiceModels.EnvironmentSetting[] | undefined {
  return e && Object.keys(e).length ? Object.entries(e).map(([name, value]) => ({ name, value })) : undefined;
}

function resourceFiles(c: CommandSpec): BatchServiceModels.ResourceFile[] | undefined {
  return c.resourceFiles?.length
    ? c.resourceFiles.map((f) => ({
        ...(f.httpUrl ? { httpUrl: f.httpUrl } : {}),
        ...(f.storageContainerUrl ? { storageContainerUrl: f.storageContainerUrl } : {}),
        ...(f.blobPrefix ? { blobPrefix: f.blobPrefix } : {}),
        ...(f.filePath ? { filePath: f.filePath } : {}),
        ...(f.fileMode ? { fileMode: f.fileMode } : {}),
      }))
    : undefined;
}

/** A contract task as Batch's `TaskAddParameter`. */
export function toWireTask(t: ComputeTaskSpec): TaskAddParameter {
  const constraints: BatchServiceModels.TaskConstraints = {
    ...(t.maxWallClockMs !== undefined ? { maxWallClockTime: formatIsoDuration(t.maxWallClockMs) } : {}),
    ...(t.maxTaskRetryCount !== undefined ? { maxTaskRetryCount: t.maxTaskRetryCount } : {}),
  };
  const files = resourceFiles(t);
  const environmentSettings = env(t.environment);
  return {
    id: t.id,
    commandLine: t.commandLine,
    ...(files ? { resourceFiles: files } : {}),
    ...(environmentSettings ? { environmentSettings } : {}),
    ...(Object.keys(constraints).length ? { constraints } : {}),
    ...(t.outputFiles?.length
      ? {
          outputFiles: t.outputFiles.map((o) => ({
            filePattern: o.filePattern,
            destination: { container: { containerUrl: o.containerUrl, path: o.path } },
            uploadOptions: {
              uploadCondition:
                o.uploadCondition.toLowerCase() as BatchServiceModels.OutputFileUploadCondition,
            },
          })),
        }
      : {}),
  };
}

/** A contract job as Batch's `JobAddParameter` (a no-op preparation is added when only release is given, as Batch requires). */
export function toWireJob(spec: ComputeJobSpec): BatchServiceModels.JobAddParameter {
  const prep = spec.preparation ?? (spec.release ? { commandLine: '/bin/sh -c true' } : undefined);
  const common = env(spec.environment);
  return {
    id: spec.id,
    poolInfo: { poolId: spec.group },
    ...(spec.maxTaskRetryCount !== undefined
      ? { constraints: { maxTaskRetryCount: spec.maxTaskRetryCount } }
      : {}),
    ...(common ? { commonEnvironmentSettings: common } : {}),
    ...(prep
      ? {
          jobPreparationTask: {
            id: 'jobpreparation',
            commandLine: prep.commandLine,
            ...(resourceFiles(prep) ? { resourceFiles: resourceFiles(prep) } : {}),
            ...(env(prep.environment) ? { environmentSettings: env(prep.environment) } : {}),
            ...(prep.maxWallClockMs !== undefined
              ? { constraints: { maxWallClockTime: formatIsoDuration(prep.maxWallClockMs) } }
              : {}),
            waitForSuccess: true,
            rerunOnNodeRebootAfterSuccess: true,
          },
        }
      : {}),
    ...(spec.release
      ? {
          jobReleaseTask: {
            id: 'jobrelease',
            commandLine: spec.release.commandLine,
            ...(resourceFiles(spec.release) ? { resourceFiles: resourceFiles(spec.release) } : {}),
            ...(env(spec.release.environment) ? { environmentSettings: env(spec.release.environment) } : {}),
            maxWallClockTime: formatIsoDuration(
              Math.min(spec.release.maxWallClockMs ?? 15 * 60_000, 15 * 60_000),
            ),
          },
        }
      : {}),
    onAllTasksComplete: 'noaction',
  };
}

/** A group as Batch's `PoolAddParameter`, created empty: capacity comes from resizes. */
export function toWirePool(spec: GroupSpec): BatchServiceModels.PoolAddParameter {
  const image = spec.image ?? {};
  return {
    id: spec.name,
    vmSize: spec.vmSize,
    virtualMachineConfiguration: {
      imageReference: {
        ...(image.publisher ? { publisher: image.publisher } : {}),
        ...(image.offer ? { offer: image.offer } : {}),
        ...(image.sku ? { sku: image.sku } : {}),
        ...(image.version ? { version: image.version } : {}),
        ...(image.virtualMachineImageId ? { virtualMachineImageId: image.virtualMachineImageId } : {}),
      },
      nodeAgentSKUId: image.nodeAgentSkuId ?? '',
    },
    taskSlotsPerNode: spec.taskSlotsPerNode ?? 1,
    ...(spec.subnetId ? { networkConfiguration: { subnetId: spec.subnetId } } : {}),
    targetDedicatedNodes: 0,
    targetLowPriorityNodes: 0,
    resizeTimeout: formatIsoDuration(spec.resizeTimeoutMs ?? 15 * 60_000),
    ...(spec.startTaskCommand
      ? {
          startTask: {
            commandLine: spec.startTaskCommand,
            waitForSuccess: true,
            maxTaskRetryCount: 1,
            userIdentity: { autoUser: { scope: 'pool', elevationLevel: 'admin' } },
          },
        }
      : {}),
    metadata: [
      { name: META_MAX_DEDICATED, value: String(spec.maxDedicatedNodes) },
      { name: META_MAX_SPOT, value: String(spec.maxSpotNodes) },
    ],
  };
}

/** Bytes a task takes in an add-collection body. */
export function wireBytes(task: TaskAddParameter): number {
  return Buffer.byteLength(JSON.stringify(task));
}

/** Bytes of `{"value":[]}` around the tasks. */
const ENVELOPE = Buffer.byteLength('{"value":[]}');
/** Room kept under Batch's 1 MB for serializer differences. */
const BODY_BUDGET = MAX_BODY_BYTES - 16 * 1024;

/**
 * Splits tasks into add-collection calls: at most `maxPerCall` (≤ 100) tasks and under 1 MB
 * each, in order. A single task too big for a call is a ValidationError naming it.
 */
export function chunkTasks(
  tasks: readonly TaskAddParameter[],
  maxPerCall = MAX_TASKS_PER_CALL,
  /** Bytes of one task on the wire (callers that already serialized pass a lookup). */
  sizeOf: (task: TaskAddParameter) => number = wireBytes,
): TaskAddParameter[][] {
  if (!Number.isInteger(maxPerCall) || maxPerCall < 1 || maxPerCall > MAX_TASKS_PER_CALL) {
    throw new ValidationError(
      'maxTasksPerCall',
      maxPerCall,
      `must be a whole number from 1 to ${MAX_TASKS_PER_CALL}`,
    );
  }
  const chunks: TaskAddParameter[][] = [];
  let current: TaskAddParameter[] = [];
  let bytes = ENVELOPE;
  tasks.forEach((t, i) => {
    const size = sizeOf(t);
    if (ENVELOPE + size > BODY_BUDGET) {
      throw new ValidationError(
        `tasks[${i}]`,
        t.id,
        `is ${size} bytes on the wire, over the ${BODY_BUDGET}-byte add-collection budget`,
      );
    }
    const extra = size + (current.length ? 1 : 0);
    if (current.length === maxPerCall || bytes + extra > BODY_BUDGET) {
      chunks.push(current);
      current = [];
      bytes = ENVELOPE;
    }
    bytes += size + (current.length ? 1 : 0);
    current.push(t);
  });
  if (current.length) chunks.push(current);
  return chunks;
}

function canon(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>)
            .filter(([, x]) => x !== undefined)
            .sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
}

/**
 * Whether the task Batch holds is the one we sent: command, environment, resource and output
 * files, and the constraints we set (Batch fills in defaults for the rest).
 */
export function sameTask(sent: TaskAddParameter, got: CloudTask): boolean {
  if (sent.commandLine !== got.commandLine) return false;
  const envOf = (l: BatchServiceModels.EnvironmentSetting[] | undefined): string =>
    canon(Object.fromEntries((l ?? []).map((e) => [e.name, e.value ?? ''])));
  if (envOf(sent.environmentSettings) !== envOf(got.environmentSettings)) return false;
  const files = (l: BatchServiceModels.ResourceFile[] | undefined): string =>
    canon(
      (l ?? []).map((f) => ({
        httpUrl: f.httpUrl,
        storageContainerUrl: f.storageContainerUrl,
        blobPrefix: f.blobPrefix,
        filePath: f.filePath,
        fileMode: f.fileMode,
      })),
    );
  if (files(sent.resourceFiles) !== files(got.resourceFiles)) return false;
  const outputs = (l: BatchServiceModels.OutputFile[] | undefined): string =>
    canon(
      (l ?? []).map((o) => ({
        filePattern: o.filePattern,
        containerUrl: o.destination.container?.containerUrl,
        path: o.destination.container?.path ?? '',
        uploadCondition: o.uploadOptions.uploadCondition.toLowerCase(),
      })),
    );
  if (outputs(sent.outputFiles) !== outputs(got.outputFiles)) return false;
  const c = sent.constraints;
  if (c?.maxTaskRetryCount !== undefined && c.maxTaskRetryCount !== got.constraints?.maxTaskRetryCount)
    return false;
  if (
    c?.maxWallClockTime !== undefined &&
    limitMs(c.maxWallClockTime) !== limitMs(got.constraints?.maxWallClockTime)
  ) {
    return false;
  }
  return true;
}

const asDate = (d: Date | string | undefined): Date | undefined =>
  d === undefined ? undefined : d instanceof Date ? d : new Date(d);

/** A Batch `CloudTask` (possibly `$select`-ed) as the contract's TaskInfo. */
export function taskInfoFromWire(jobId: string, t: CloudTask): TaskInfo {
  const x = t.executionInfo;
  const start = asDate(x?.startTime);
  const end = asDate(x?.endTime);
  return {
    jobId,
    taskId: t.id ?? '',
    state: (t.state ?? 'active') as TaskState,
    ...(x?.result ? { result: x.result } : {}),
    ...(x?.exitCode !== undefined ? { exitCode: x.exitCode } : {}),
    retryCount: x?.retryCount ?? 0,
    requeueCount: x?.requeueCount ?? 0,
    ...(t.nodeInfo?.nodeId ? { nodeId: t.nodeInfo.nodeId } : {}),
    ...(start ? { startTime: start } : {}),
    ...(end ? { endTime: end } : {}),
    stateTransitionTime: asDate(t.stateTransitionTime) ?? new Date(0),
    ...(x?.failureInfo
      ? { failure: { code: x.failureInfo.code ?? 'Unknown', message: x.failureInfo.message ?? '' } }
      : {}),
  };
}

/** An OData datetime literal. */
export function odataDate(d: Date): string {
  return `datetime'${d.toISOString()}'`;
}
