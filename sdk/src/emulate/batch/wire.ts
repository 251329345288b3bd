import { parseMountConfiguration } from './mounts';
import type { OutputFileSpec, ResourceFile } from '../../compute/backend';
import { EngineError } from '../../compute/local/errors';
import {
  BATCH_FOREVER,
  BATCH_ID,
  BATCH_FOREVER_MS,
  formatIsoDuration,
  parseIsoDuration,
} from '../../compute/batch-vocabulary';
import type { EngineJobNodeStatus, EngineJobTaskRun } from '../../compute/local/engine';
import type { TaskDirEntry } from './files';
import type {
  EngineCommand,
  EngineJob,
  EngineJobSpec,
  EngineNode,
  EnginePool,
  EnginePoolSpec,
  EngineTask,
  EngineTaskSpec,
} from '../../compute/local/types';

/** JSON as it travels. */
export type Json = Record<string, unknown>;

/** An `InvalidPropertyValue` (400) naming the property, as Batch answers. */
export function invalidProperty(name: string, value: unknown, reason?: string): EngineError {
  return new EngineError(
    'InvalidPropertyValue',
    'The value provided for one of the properties in the request body is invalid.',
    400,
    [
      { key: 'PropertyName', value: name },
      {
        key: 'PropertyValue',
        value: typeof value === 'string' ? value : (JSON.stringify(value) ?? 'undefined'),
      },
      ...(reason ? [{ key: 'Reason', value: reason }] : []),
    ],
  );
}

/** A `MissingRequiredProperty` (400). */
export function missingProperty(name: string): EngineError {
  return new EngineError(
    'MissingRequiredProperty',
    'A required property was not specified in the request body.',
    400,
    [{ key: 'PropertyName', value: name }],
  );
}

function str(body: Json, name: string, path: string, required: true): string;
function str(body: Json, name: string, path: string, required?: false): string | undefined;
function str(body: Json, name: string, path: string, required = false): string | undefined {
  const v = body[name];
  if (v === undefined || v === null) {
    if (required) throw missingProperty(path);
    return undefined;
  }
  if (typeof v !== 'string') throw invalidProperty(path, v);
  return v;
}

function int(
  body: Json,
  name: string,
  path: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalidProperty(path, v);
  return v;
}

function dur(body: Json, name: string, path: string): number | undefined {
  const v = str(body, name, path);
  if (v === undefined) return undefined;
  const ms = parseIsoDuration(v);
  if (ms === undefined) throw invalidProperty(path, v);
  return ms >= BATCH_FOREVER_MS ? undefined : ms;
}

function obj(v: unknown, path: string): Json {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalidProperty(path, v);
  return v as Json;
}

function arr(body: Json, name: string, path: string): Json[] {
  const v = body[name];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidProperty(path, v);
  return v.map((x, i) => obj(x, `${path}[${i}]`));
}

/** Checks an id as Batch does. */
export function checkId(value: unknown, path = 'id'): string {
  if (value === undefined || value === null) throw missingProperty(path);
  if (typeof value !== 'string' || !BATCH_ID.test(value)) throw invalidProperty(path, value);
  return value;
}

function environment(body: Json, name: string, path: string): Record<string, string> | undefined {
  const list = arr(body, name, path);
  if (list.length === 0) return undefined;
  const env: Record<string, string> = {};
  list.forEach((e, i) => {
    env[str(e, 'name', `${path}[${i}].name`, true)] = str(e, 'value', `${path}[${i}].value`) ?? '';
  });
  return env;
}

function resourceFiles(body: Json, path: string): ResourceFile[] | undefined {
  const list = arr(body, 'resourceFiles', path);
  if (list.length === 0) return undefined;
  return list.map((f, i) => {
    const p = `${path}[${i}]`;
    if (f.autoStorageContainerName !== undefined) {
      throw invalidProperty(
        `${p}.autoStorageContainerName`,
        f.autoStorageContainerName,
        'auto-storage is not emulated; use storageContainerUrl',
      );
    }
    const httpUrl = str(f, 'httpUrl', `${p}.httpUrl`);
    const storageContainerUrl = str(f, 'storageContainerUrl', `${p}.storageContainerUrl`);
    if (!httpUrl === !storageContainerUrl)
      throw invalidProperty(p, 'resourceFile', 'exactly one of httpUrl and storageContainerUrl');
    const blobPrefix = str(f, 'blobPrefix', `${p}.blobPrefix`);
    const filePath = str(f, 'filePath', `${p}.filePath`);
    if (httpUrl && !filePath) throw missingProperty(`${p}.filePath`);
    const fileMode = str(f, 'fileMode', `${p}.fileMode`);
    if (fileMode !== undefined && !/^0?[0-7]{3}$/.test(fileMode))
      throw invalidProperty(`${p}.fileMode`, fileMode);
    return {
      ...(httpUrl ? { httpUrl } : {}),
      ...(storageContainerUrl ? { storageContainerUrl } : {}),
      ...(blobPrefix ? { blobPrefix } : {}),
      ...(filePath ? { filePath } : {}),
      ...(fileMode ? { fileMode } : {}),
    };
  });
}

const CONDITIONS: Record<string, OutputFileSpec['uploadCondition']> = {
  tasksuccess: 'taskSuccess',
  taskfailure: 'taskFailure',
  taskcompletion: 'taskCompletion',
};

function outputFiles(body: Json, path: string): OutputFileSpec[] | undefined {
  const list = arr(body, 'outputFiles', path);
  if (list.length === 0) return undefined;
  return list.map((f, i) => {
    const p = `${path}[${i}]`;
    const filePattern = str(f, 'filePattern', `${p}.filePattern`, true);
    const container = obj(
      obj(f.destination ?? missing(`${p}.destination`), `${p}.destination`).container ??
        missing(`${p}.destination.container`),
      `${p}.destination.container`,
    );
    const containerUrl = str(container, 'containerUrl', `${p}.destination.container.containerUrl`, true);
    const blobPath = str(container, 'path', `${p}.destination.container.path`) ?? '';
    const options = obj(f.uploadOptions ?? missing(`${p}.uploadOptions`), `${p}.uploadOptions`);
    const cond = str(options, 'uploadCondition', `${p}.uploadOptions.uploadCondition`, true);
    const uploadCondition = CONDITIONS[cond.toLowerCase()];
    if (!uploadCondition) throw invalidProperty(`${p}.uploadOptions.uploadCondition`, cond);
    return { filePattern, containerUrl, path: blobPath, uploadCondition };
  });
}

function missing(path: string): never {
  throw missingProperty(path);
}

function command(body: Json, path: string): EngineCommand {
  const commandLine = str(body, 'commandLine', `${path}commandLine`, true);
  if (commandLine.trim() === '') throw invalidProperty(`${path}commandLine`, commandLine);
  const environment_ = environment(body, 'environmentSettings', `${path}environmentSettings`);
  const files = resourceFiles(body, `${path}resourceFiles`);
  return {
    commandLine,
    ...(environment_ ? { environment: environment_ } : {}),
    ...(files ? { resourceFiles: files } : {}),
  };
}

/** Parses a `TaskAddParameter`; throws EngineError (400) naming the property. */
export function parseTaskAdd(body: Json): EngineTaskSpec {
  const id = checkId(body.id, 'id');
  const constraints = body.constraints === undefined ? {} : obj(body.constraints, 'constraints');
  const maxWallClockMs = dur(constraints, 'maxWallClockTime', 'constraints.maxWallClockTime');
  const maxTaskRetryCount = int(constraints, 'maxTaskRetryCount', 'constraints.maxTaskRetryCount', -1);
  const requiredSlots = int(body, 'requiredSlots', 'requiredSlots', 1, 256);
  const displayName = str(body, 'displayName', 'displayName');
  if (displayName !== undefined && displayName.length > 1024)
    throw invalidProperty('displayName', displayName.slice(0, 40));
  const files = outputFiles(body, 'outputFiles');
  return {
    id,
    ...command(body, ''),
    ...(displayName !== undefined ? { displayName } : {}),
    ...(files ? { outputFiles: files } : {}),
    ...(maxWallClockMs !== undefined ? { maxWallClockMs } : {}),
    ...(maxTaskRetryCount !== undefined ? { maxTaskRetryCount } : {}),
    ...(requiredSlots !== undefined ? { requiredSlots } : {}),
  };
}

/** Parses a `PoolAddParameter`. */
export function parsePoolAdd(body: Json): EnginePoolSpec {
  const id = checkId(body.id, 'id');
  const vmSize = str(body, 'vmSize', 'vmSize', true);
  if (body.cloudServiceConfiguration !== undefined) {
    throw invalidProperty(
      'cloudServiceConfiguration',
      'cloudServiceConfiguration',
      'cloud service pools are retired; use virtualMachineConfiguration',
    );
  }
  const vmc = obj(
    body.virtualMachineConfiguration ?? missing('virtualMachineConfiguration'),
    'virtualMachineConfiguration',
  );
  obj(
    vmc.imageReference ?? missing('virtualMachineConfiguration.imageReference'),
    'virtualMachineConfiguration.imageReference',
  );
  str(vmc, 'nodeAgentSKUId', 'virtualMachineConfiguration.nodeAgentSKUId', true);
  if (body.enableAutoScale === true) {
    for (const k of ['targetDedicatedNodes', 'targetLowPriorityNodes'])
      if (body[k] !== undefined && body[k] !== null)
        throw invalidProperty(k, body[k], 'a pool with automatic scaling takes its targets from the formula');
  }
  const taskSlotsPerNode = int(body, 'taskSlotsPerNode', 'taskSlotsPerNode', 1, 256);
  const targetDedicatedNodes = int(body, 'targetDedicatedNodes', 'targetDedicatedNodes', 0);
  const targetSpotNodes = int(body, 'targetLowPriorityNodes', 'targetLowPriorityNodes', 0);
  const resizeTimeoutMs = dur(body, 'resizeTimeout', 'resizeTimeout');
  let startTask: EnginePoolSpec['startTask'];
  if (body.startTask !== undefined) {
    const st = obj(body.startTask, 'startTask');
    const waitForSuccess = st.waitForSuccess === undefined ? true : st.waitForSuccess === true;
    startTask = { ...command(st, 'startTask.'), waitForSuccess };
  }
  const mounts = parseMountConfiguration(body.mountConfiguration);
  const metadata = arr(body, 'metadata', 'metadata').map((m, i) => ({
    name: str(m, 'name', `metadata[${i}].name`, true),
    value: str(m, 'value', `metadata[${i}].value`) ?? '',
  }));
  return {
    id,
    vmSize,
    ...(taskSlotsPerNode !== undefined ? { taskSlotsPerNode } : {}),
    ...(targetDedicatedNodes !== undefined ? { targetDedicatedNodes } : {}),
    ...(targetSpotNodes !== undefined ? { targetSpotNodes } : {}),
    ...(resizeTimeoutMs !== undefined ? { resizeTimeoutMs } : {}),
    ...(startTask ? { startTask } : {}),
    ...(mounts?.length ? { mounts } : {}),
    ...(metadata.length ? { metadata } : {}),
  };
}

/**
 * Autoscale settings of a pool add (`enableAutoScale: true`) or of an enable-autoscale
 * request (where a missing formula or interval keeps the pool's current one); undefined
 * when autoscale is not asked for. The interval must be 5 minutes to 168 hours.
 */
export function parseAutoScaleSettings(
  body: Json,
  current?: { readonly formula: string; readonly intervalMs: number },
): { formula: string; intervalMs: number } | undefined {
  if (body.enableAutoScale !== true) return undefined;
  const formula = str(body, 'autoScaleFormula', 'autoScaleFormula') ?? current?.formula;
  if (formula === undefined) throw missingProperty('autoScaleFormula');
  const intervalMs =
    dur(body, 'autoScaleEvaluationInterval', 'autoScaleEvaluationInterval') ??
    current?.intervalMs ??
    15 * 60_000;
  if (intervalMs < 5 * 60_000 || intervalMs > 168 * 3_600_000) {
    throw invalidProperty(
      'autoScaleEvaluationInterval',
      body.autoScaleEvaluationInterval,
      'between 5 minutes and 168 hours',
    );
  }
  return { formula, intervalMs };
}

/** A job's auto pool (`poolInfo.autoPoolSpecification`), as far as the emulator supports it. */
export interface AutoPool {
  /** The pool id the emulator gives it: the prefix and a unique suffix. */
  readonly poolId: string;
  readonly keepAlive: boolean;
  readonly pool: EnginePoolSpec;
  /** As sent, to answer GET job with. */
  readonly specification: Json;
}

/** Parses `poolInfo.autoPoolSpecification` (pool lifetime `job` only); undefined when the job names a pool. */
export function parseAutoPool(body: Json, suffix: string): AutoPool | undefined {
  const poolInfo = obj(body.poolInfo ?? missing('poolInfo'), 'poolInfo');
  if (poolInfo.autoPoolSpecification === undefined) return undefined;
  const path = 'poolInfo.autoPoolSpecification';
  const spec = obj(poolInfo.autoPoolSpecification, path);
  const lifetime = str(spec, 'poolLifetimeOption', `${path}.poolLifetimeOption`, true);
  if (lifetime !== 'job')
    throw invalidProperty(`${path}.poolLifetimeOption`, lifetime, 'the emulator supports "job" only');
  const prefix = str(spec, 'autoPoolIdPrefix', `${path}.autoPoolIdPrefix`) ?? '';
  if (prefix.length > 20 || !/^[A-Za-z0-9_-]*$/.test(prefix))
    throw invalidProperty(`${path}.autoPoolIdPrefix`, prefix);
  const poolId = `${prefix}${prefix ? '_' : ''}${suffix}`;
  const pool = parsePoolAdd({ ...obj(spec.pool ?? missing(`${path}.pool`), `${path}.pool`), id: poolId });
  return { poolId, keepAlive: spec.keepAlive === true, pool, specification: spec };
}

/** Parses a `JobAddParameter`; `poolId` names the auto pool made for it, if any. */
export function parseJobAdd(body: Json, autoPoolId?: string): EngineJobSpec {
  const id = checkId(body.id, 'id');
  const poolInfo = obj(body.poolInfo ?? missing('poolInfo'), 'poolInfo');
  const poolId = autoPoolId ?? checkId(poolInfo.poolId, 'poolInfo.poolId');
  const constraints = body.constraints === undefined ? {} : obj(body.constraints, 'constraints');
  const maxTaskRetryCount = int(constraints, 'maxTaskRetryCount', 'constraints.maxTaskRetryCount', -1);
  let preparation: EngineJobSpec['preparation'];
  if (body.jobPreparationTask !== undefined) {
    const p = obj(body.jobPreparationTask, 'jobPreparationTask');
    const pc = p.constraints === undefined ? {} : obj(p.constraints, 'jobPreparationTask.constraints');
    const maxWallClockMs = dur(pc, 'maxWallClockTime', 'jobPreparationTask.constraints.maxWallClockTime');
    preparation = {
      ...command(p, 'jobPreparationTask.'),
      waitForSuccess: p.waitForSuccess === undefined ? true : p.waitForSuccess === true,
      rerunOnNodeRebootAfterSuccess:
        p.rerunOnNodeRebootAfterSuccess === undefined ? true : p.rerunOnNodeRebootAfterSuccess === true,
      ...(maxWallClockMs !== undefined ? { maxWallClockMs } : {}),
    };
  }
  let release: EngineJobSpec['release'];
  if (body.jobReleaseTask !== undefined) {
    if (!preparation) {
      throw invalidProperty(
        'jobReleaseTask',
        'jobReleaseTask',
        'a job release task requires a job preparation task',
      );
    }
    const r = obj(body.jobReleaseTask, 'jobReleaseTask');
    const maxWallClockMs = dur(r, 'maxWallClockTime', 'jobReleaseTask.maxWallClockTime');
    if (maxWallClockMs !== undefined && maxWallClockMs > 15 * 60_000) {
      throw invalidProperty('jobReleaseTask.maxWallClockTime', r.maxWallClockTime, 'at most 15 minutes');
    }
    release = {
      ...command(r, 'jobReleaseTask.'),
      ...(maxWallClockMs !== undefined ? { maxWallClockMs } : {}),
    };
  }
  const env = environment(body, 'commonEnvironmentSettings', 'commonEnvironmentSettings');
  const onAll = str(body, 'onAllTasksComplete', 'onAllTasksComplete');
  if (onAll !== undefined && onAll !== 'noaction' && onAll !== 'terminatejob')
    throw invalidProperty('onAllTasksComplete', onAll);
  return {
    id,
    poolId,
    ...(preparation ? { preparation } : {}),
    ...(release ? { release } : {}),
    ...(env ? { environment: env } : {}),
    ...(maxTaskRetryCount !== undefined ? { maxTaskRetryCount } : {}),
    ...(onAll ? { onAllTasksComplete: onAll } : {}),
  };
}

const iso = (d: Date | undefined): string | undefined => d?.toISOString();
const etag = (version: number, created: Date): string =>
  `"0x${(created.getTime() * 16 + version).toString(16).toUpperCase()}"`;

function envList(env: Readonly<Record<string, string>> | undefined): Json[] | undefined {
  return env ? Object.entries(env).map(([name, value]) => ({ name, value })) : undefined;
}

function commandJson(c: EngineCommand): Json {
  return {
    commandLine: c.commandLine,
    ...(c.resourceFiles ? { resourceFiles: c.resourceFiles.map((f) => ({ ...f })) } : {}),
    ...(c.environment ? { environmentSettings: envList(c.environment) } : {}),
  };
}

/** Drops undefined values so the JSON carries only what is set. */
function clean(o: Json): Json {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

/** A task as Batch's `CloudTask` JSON. */
export function taskJson(t: EngineTask, baseUrl: string, jobDefaults: { maxTaskRetryCount: number }): Json {
  const s = t.spec;
  return clean({
    id: t.id,
    displayName: s.displayName,
    url: `${baseUrl}/jobs/${t.jobId}/tasks/${t.id}`,
    eTag: etag(t.version, t.creationTime),
    creationTime: iso(t.creationTime),
    lastModified: iso(t.creationTime),
    state: t.state,
    stateTransitionTime: iso(t.stateTransitionTime),
    previousState: t.previousState,
    previousStateTransitionTime: iso(t.previousStateTransitionTime),
    ...commandJson(s),
    outputFiles: s.outputFiles?.map((f) => ({
      filePattern: f.filePattern,
      destination: { container: { path: f.path, containerUrl: f.containerUrl } },
      uploadOptions: { uploadCondition: f.uploadCondition.toLowerCase() },
    })),
    constraints: {
      maxWallClockTime: s.maxWallClockMs !== undefined ? formatIsoDuration(s.maxWallClockMs) : BATCH_FOREVER,
      retentionTime: 'P7D',
      maxTaskRetryCount: s.maxTaskRetryCount ?? jobDefaults.maxTaskRetryCount,
    },
    requiredSlots: s.requiredSlots ?? 1,
    userIdentity: { autoUser: { scope: 'pool', elevationLevel: 'nonadmin' } },
    executionInfo: clean({
      startTime: iso(t.startTime),
      endTime: iso(t.endTime),
      exitCode: t.exitCode,
      failureInfo: t.failureInfo
        ? { category: t.failureInfo.category, code: t.failureInfo.code, message: t.failureInfo.message }
        : undefined,
      retryCount: t.retryCount,
      lastRetryTime: iso(t.lastRetryTime),
      requeueCount: t.requeueCount,
      lastRequeueTime: iso(t.lastRequeueTime),
      result: t.result,
    }),
    nodeInfo: t.nodeId
      ? {
          affinityId: `TVM:${t.nodeId}`,
          nodeUrl: `${baseUrl}/pools/_/nodes/${t.nodeId}`,
          nodeId: t.nodeId,
          taskRootDirectory: `workitems/${t.jobId}/job-1/${t.id}`,
        }
      : undefined,
  });
}

/** A pool as Batch's `CloudPool` JSON. */
export function poolJson(
  p: EnginePool,
  nodes: readonly EngineNode[],
  baseUrl: string,
  extra: { virtualMachineConfiguration?: unknown; enableAutoScale?: unknown } & Json,
): Json {
  let dedicated = 0;
  for (const n of nodes) if (n.priority === 'dedicated') dedicated++;
  return clean({
    id: p.id,
    url: `${baseUrl}/pools/${p.id}`,
    eTag: etag(p.version, p.creationTime),
    lastModified: iso(p.lastModified),
    creationTime: iso(p.creationTime),
    state: p.state,
    stateTransitionTime: iso(p.creationTime),
    allocationState: p.allocationState,
    allocationStateTransitionTime: iso(p.allocationStateTransitionTime),
    vmSize: p.spec.vmSize,
    virtualMachineConfiguration: extra.virtualMachineConfiguration,
    resizeTimeout: formatIsoDuration(p.resizeTimeoutMs),
    resizeErrors: p.resizeErrors.length
      ? p.resizeErrors.map((e) => ({ code: e.code, message: e.message }))
      : undefined,
    currentDedicatedNodes: dedicated,
    currentLowPriorityNodes: nodes.length - dedicated,
    targetDedicatedNodes: p.targetDedicatedNodes,
    targetLowPriorityNodes: p.targetSpotNodes,
    enableAutoScale: false,
    ...extra,
    enableInterNodeCommunication: false,
    startTask: p.spec.startTask
      ? {
          ...commandJson(p.spec.startTask),
          waitForSuccess: p.spec.startTask.waitForSuccess ?? true,
          maxTaskRetryCount: 0,
        }
      : undefined,
    taskSlotsPerNode: p.taskSlotsPerNode,
    mountConfiguration: p.spec.mounts?.map((m) => m.batch ?? {}),
    taskSchedulingPolicy: { nodeFillType: 'spread' },
    metadata: p.spec.metadata?.map((m) => ({ ...m })),
  });
}

/** A node as Batch's `ComputeNode` JSON. */
export function nodeJson(n: EngineNode, pool: EnginePool, baseUrl: string): Json {
  return clean({
    id: n.id,
    url: `${baseUrl}/pools/${pool.id}/nodes/${n.id}`,
    state: n.state,
    schedulingState: 'enabled',
    stateTransitionTime: iso(n.stateTransitionTime),
    lastBootTime: iso(n.lastBootTime),
    allocationTime: iso(n.allocationTime),
    ipAddress: '127.0.0.1',
    affinityId: `TVM:${n.id}`,
    vmSize: pool.spec.vmSize,
    totalTasksRun: n.totalTasksRun,
    runningTasksCount: n.runningTasks,
    runningTaskSlotsCount: n.runningSlots,
    isDedicated: n.priority === 'dedicated',
    startTaskInfo: n.startTaskInfo
      ? clean({ state: n.startTaskInfo.state, exitCode: n.startTaskInfo.exitCode, retryCount: 0 })
      : undefined,
    errors: n.errors.length ? n.errors.map((e) => ({ code: e.code, message: e.message })) : undefined,
  });
}

/** A job's preparation and release on one node, as Batch's `JobPreparationAndReleaseTaskExecutionInformation`. */
export function prepReleaseJson(s: EngineJobNodeStatus, jobId: string, baseUrl: string): Json {
  const run = (r: EngineJobTaskRun | undefined, kind: 'jobpreparation' | 'jobrelease'): Json | undefined =>
    r &&
    clean({
      startTime: iso(r.startTime),
      endTime: iso(r.endTime),
      state: r.state === 'running' ? 'running' : 'completed',
      taskRootDirectory: `workitems/${jobId}/job-1/${kind}`,
      taskRootDirectoryUrl: `${baseUrl}/pools/${s.poolId}/nodes/${s.nodeId}/files/${kind}`,
      exitCode: r.exitCode,
      result: r.result,
      retryCount: 0,
      failureInfo:
        r.result === 'failure'
          ? {
              category: 'usererror',
              code: 'FailureExitCode',
              message: `The ${kind === 'jobpreparation' ? 'job preparation' : 'job release'} task exited with exit code ${r.exitCode ?? '?'}`,
            }
          : undefined,
    });
  return clean({
    poolId: s.poolId,
    nodeId: s.nodeId,
    nodeUrl: `${baseUrl}/pools/${s.poolId}/nodes/${s.nodeId}`,
    jobPreparationTaskExecutionInfo: run(s.preparation, 'jobpreparation'),
    jobReleaseTaskExecutionInfo: run(s.release, 'jobrelease'),
  });
}

/** A file of a task's directory, as Batch's `NodeFile`. */
export function fileJson(e: TaskDirEntry, url: string): Json {
  return {
    name: e.name,
    url,
    isDirectory: e.isDirectory,
    properties: {
      creationTime: iso(e.creationTime),
      lastModified: iso(e.lastModified),
      contentLength: e.contentLength,
      contentType: e.isDirectory ? 'application/octet-stream' : contentType(e.name),
      fileMode: e.fileMode,
    },
  };
}

/** The headers Batch answers a file's properties with. */
export function fileHeaders(e: TaskDirEntry): Record<string, string> {
  return {
    'ocp-creation-time': e.creationTime.toUTCString(),
    'ocp-batch-file-isdirectory': String(e.isDirectory),
    'ocp-batch-file-mode': e.fileMode,
    'Last-Modified': e.lastModified.toUTCString(),
  };
}

function contentType(name: string): string {
  return /\.(txt|log|json|xml|csv|sh)$/i.test(name) ? 'text/plain' : 'application/octet-stream';
}

/** A job as Batch's `CloudJob` JSON. */
export function jobJson(j: EngineJob, baseUrl: string): Json {
  const s = j.spec;
  return clean({
    id: j.id,
    url: `${baseUrl}/jobs/${j.id}`,
    eTag: etag(j.version, j.creationTime),
    lastModified: iso(j.lastModified),
    creationTime: iso(j.creationTime),
    state: j.state,
    stateTransitionTime: iso(j.stateTransitionTime),
    priority: 0,
    constraints: { maxWallClockTime: BATCH_FOREVER, maxTaskRetryCount: s.maxTaskRetryCount ?? 0 },
    poolInfo: { poolId: j.poolId },
    jobPreparationTask: s.preparation
      ? {
          id: 'jobpreparation',
          ...commandJson(s.preparation),
          waitForSuccess: s.preparation.waitForSuccess ?? true,
          rerunOnNodeRebootAfterSuccess: s.preparation.rerunOnNodeRebootAfterSuccess ?? true,
        }
      : undefined,
    jobReleaseTask: s.release
      ? {
          id: 'jobrelease',
          ...commandJson(s.release),
          maxWallClockTime: formatIsoDuration(s.release.maxWallClockMs ?? 15 * 60_000),
        }
      : undefined,
    commonEnvironmentSettings: envList(s.environment),
    onAllTasksComplete: s.onAllTasksComplete ?? 'noaction',
    onTaskFailure: 'noaction',
    usesTaskDependencies: false,
    executionInfo: clean({
      startTime: iso(j.creationTime),
      endTime: iso(j.endTime),
      poolId: j.poolId,
      terminateReason: j.terminateReason,
    }),
  });
}
