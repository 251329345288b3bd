import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { LocalEngine, type LocalEngineOptions } from '../../compute/local/engine';
import { parseIsoDuration } from '../../compute/batch-vocabulary';
import { DEFAULT_BATCH_QUOTA, DEFAULT_RESIZE_TIME_MS } from './defaults';
import { EngineError } from '../../compute/local/errors';
import { readTaskDirFile } from '../../compute/local/files';
import type { DeallocationOption, EngineJob, EnginePool, EngineTask } from '../../compute/local/types';
import { checkAuthorization, parseQuery } from './auth';
import { AutoScaler, checkFormula } from './autoscaler';
import { FaultPlan, type BatchFaultOptions } from './faults';
import { listTaskDir, statTaskDirEntry, type TaskDirEntry } from './files';
import { resolveOcpRange } from './range';
import { ODataSyntaxError, applySelect, parseFilter, parseSelect } from './odata';
import { Router, type Route } from './router';
import {
  fileHeaders,
  fileJson,
  invalidProperty,
  jobJson,
  missingProperty,
  nodeJson,
  parseAutoPool,
  parseAutoScaleSettings,
  parseJobAdd,
  parsePoolAdd,
  parseTaskAdd,
  poolJson,
  prepReleaseJson,
  taskJson,
  type AutoPool,
  type Json,
} from './wire';

/** The REST API version the emulator speaks (the one `@azure/batch` 10.2.0 sends). */
export const BATCH_API_VERSION = '2022-10-01.16.0';
/** The emulator's default account name. */
export const DEFAULT_BATCH_ACCOUNT = 'spillway';
/**
 * The emulator's default account key: a published development key, like Azurite's, that
 * guards nothing. Use `--key` for anything shared.
 */
export const DEFAULT_BATCH_KEY =
  'c3BpbGx3YXktYmF0Y2gtZW11bGF0b3ItZGV2ZWxvcG1lbnQta2V5LW5vdC1hLXNlY3JldCEhIQ==';
/** Most tasks per add-collection call. */
export const MAX_TASKS_PER_COLLECTION = 100;
/** Most bytes per add-collection body. */
export const MAX_COLLECTION_BYTES = 1024 * 1024;
export { DEFAULT_BATCH_QUOTA, DEFAULT_RESIZE_TIME_MS } from './defaults';

/** Options of {@link startBatchEmulator}. */
export interface BatchEmulatorOptions {
  /** Port; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** Address to listen on. @default '127.0.0.1' */
  readonly host?: string;
  /** Account name checked in SharedKey signatures. @default {@link DEFAULT_BATCH_ACCOUNT} */
  readonly accountName?: string;
  /** Base64 account key. @default {@link DEFAULT_BATCH_KEY} */
  readonly accountKey?: string;
  /** Bearer tokens accepted besides SharedKey (to test Azure AD callers). @default none */
  readonly bearerTokens?: readonly string[];
  /**
   * The engine underneath, or options to create one. Options get the emulator's defaults
   * where they leave a field out: `quota` {@link DEFAULT_BATCH_QUOTA} (pass `quota: {}` for
   * none) and `resizeTimeMs` {@link DEFAULT_RESIZE_TIME_MS}.
   * @default a new engine with those defaults
   */
  readonly engine?: LocalEngine | LocalEngineOptions;
  /** Region reported by the account's management resource. @default 'local' */
  readonly location?: string;
  /**
   * Bearer tokens the account's management resource (ARM's `Microsoft.Batch/batchAccounts`
   * GET, served at the same address) accepts. @default any non-empty token
   */
  readonly acceptManagementToken?: (token: string) => boolean;
  /** Faults to inject. @default none */
  readonly faults?: BatchFaultOptions;
  /** Page size of list operations when the caller gives no `maxresults`. @default 1000 */
  readonly defaultMaxResults?: number;
}

/** What the emulator saw: requests, faults, and per task id, creations and completions. */
export interface BatchEmulatorRecords {
  requests: number;
  readonly byOperation: Map<string, number>;
  readonly faults: { serverBusy: number; operationTimedOut: number; drop: number; afterApply: number };
  /** Per `job/task` (lower case): times the task was created. */
  readonly taskCreations: Map<string, number>;
  /** Per `job/task`: times it completed with success. */
  readonly taskSuccesses: Map<string, number>;
  /** Per `job/task`: times it completed at all. */
  readonly taskCompletions: Map<string, number>;
}

/** A running emulator. */
export interface BatchEmulator {
  /** Account URL, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  readonly port: number;
  readonly accountName: string;
  readonly accountKey: string;
  /** The engine: inspect it, or preempt nodes on demand. */
  readonly engine: LocalEngine;
  readonly records: BatchEmulatorRecords;
  /** Replaces the fault rates. */
  setFaults(faults: BatchFaultOptions): void;
  /** Zeroes the request and fault counters (task records stay). */
  resetCounters(): void;
  /** Stops serving and closes the engine if the emulator created it. Idempotent. */
  close(): Promise<void>;
}

interface Reply {
  status: number;
  body?: Json;
  /** A file's bytes (application/octet-stream) instead of a JSON body. */
  file?: Buffer;
  headers?: Record<string, string>;
}

/** One request as the route handlers see it. */
interface Ctx {
  readonly method: string;
  /** Decoded path segments. */
  readonly parts: string[];
  readonly query: Record<string, string>;
  readonly body: Json | undefined;
  readonly bodyBytes: number;
  /** The emulator's base URL. */
  readonly base: string;
  /** The `ocp-range` request header (Get File From Task). */
  readonly range?: string;
}

const WRITE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** ARM's path of a Batch account resource (served for the quotas it carries). */
const MANAGEMENT =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Batch\/batchAccounts\/([^/]+)\/?$/i;

function errorBody(
  base: string,
  code: string,
  message: string,
  values: readonly { key: string; value: string }[] = [],
): Json {
  const requestId = randomUUID();
  return {
    'odata.metadata': `${base}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element`,
    code,
    message: { lang: 'en-US', value: `${message}\nRequestId:${requestId}\nTime:${new Date().toISOString()}` },
    ...(values.length ? { values: values.map((v) => ({ key: v.key, value: v.value })) } : {}),
  };
}

/**
 * Starts a local Azure Batch endpoint: the REST API subset Spillway's `batch` backend uses
 * (api-version 2022-10-01.16.0), on the local engine, with SharedKey auth, Batch's limits and
 * error shapes, and fault injection.
 */
export async function startBatchEmulator(options: BatchEmulatorOptions = {}): Promise<BatchEmulator> {
  const accountName = options.accountName ?? DEFAULT_BATCH_ACCOUNT;
  const accountKey = options.accountKey ?? DEFAULT_BATCH_KEY;
  if (Buffer.from(accountKey, 'base64').length < 16)
    throw new Error('accountKey must be base64 of at least 16 bytes');
  const ownsEngine = !(options.engine instanceof LocalEngine);
  const engine =
    options.engine instanceof LocalEngine
      ? options.engine
      : new LocalEngine({
          accountName,
          quota: DEFAULT_BATCH_QUOTA,
          resizeTimeMs: DEFAULT_RESIZE_TIME_MS,
          ...(options.engine ?? {}),
        });
  const faults = new FaultPlan(options.faults);
  const maxResultsDefault = options.defaultMaxResults ?? 1000;
  /** What the engine does not keep, by (lower-case) pool id. */
  const poolExtras = new Map<string, { virtualMachineConfiguration?: unknown }>();
  const autoscale = new AutoScaler(engine);
  /** Auto pools by (lower-case) job id. */
  const autoPools = new Map<string, AutoPool>();
  /** An auto pool with lifetime `job` goes when its job ends, unless kept alive. */
  const endAutoPool = (jobId: string): void => {
    const auto = autoPools.get(jobId.toLowerCase());
    if (!auto || auto.keepAlive) return;
    autoPools.delete(jobId.toLowerCase());
    if (engine.getPool(auto.poolId)) engine.deletePool(auto.poolId);
  };
  const withAutoPool = (json: Json, jobId: string): Json => {
    const auto = autoPools.get(jobId.toLowerCase());
    return auto ? { ...json, poolInfo: { autoPoolSpecification: auto.specification } } : json;
  };
  const records: BatchEmulatorRecords = {
    requests: 0,
    byOperation: new Map(),
    faults: { serverBusy: 0, operationTimedOut: 0, drop: 0, afterApply: 0 },
    taskCreations: new Map(),
    taskSuccesses: new Map(),
    taskCompletions: new Map(),
  };
  const bump = (m: Map<string, number>, k: string): void => {
    m.set(k, (m.get(k) ?? 0) + 1);
  };
  const unsubscribe = engine.onTaskEvent((e) => {
    const key = `${e.task.jobId}/${e.task.id}`.toLowerCase();
    if (e.type === 'added') bump(records.taskCreations, key);
    if (e.type === 'completed') {
      bump(records.taskCompletions, key);
      if (e.task.result === 'success') bump(records.taskSuccesses, key);
    }
  });

  const jobDefaults = (jobId: string): { maxTaskRetryCount: number } => ({
    maxTaskRetryCount: engine.getJob(jobId)?.spec.maxTaskRetryCount ?? 0,
  });

  const list = (ctx: Ctx, path: string, items: Iterable<Json & { __seq?: number }>): Reply => {
    const filter = parseFilter(ctx.query.$filter);
    const select = parseSelect(ctx.query.$select);
    const max = ctx.query.maxresults ? Number(ctx.query.maxresults) : maxResultsDefault;
    if (!Number.isInteger(max) || max < 1 || max > 1000) {
      throw new EngineError(
        'InvalidQueryParameterValue',
        'The value for one of the query parameters is invalid.',
        400,
        [
          { key: 'QueryParameterName', value: 'maxresults' },
          { key: 'QueryParameterValue', value: String(ctx.query.maxresults) },
        ],
      );
    }
    const after = ctx.query.$skiptoken ? Number(ctx.query.$skiptoken) : 0;
    const value: Json[] = [];
    let last = 0;
    let more = false;
    for (const item of items) {
      const seq = item.__seq ?? 0;
      delete item.__seq;
      if (seq <= after || !filter(item)) continue;
      if (value.length === max) {
        more = true;
        break;
      }
      value.push(applySelect(item, select));
      last = seq;
    }
    const body: Json = { 'odata.metadata': `${ctx.base}/$metadata#${path}`, value };
    if (more) {
      const q = new URLSearchParams({
        'api-version': BATCH_API_VERSION,
        $skiptoken: String(last),
        maxresults: String(max),
      });
      if (ctx.query.$filter) q.set('$filter', ctx.query.$filter);
      if (ctx.query.$select) q.set('$select', ctx.query.$select);
      body['odata.nextLink'] = `${ctx.base}/${ctx.parts.join('/')}?${q.toString().replace(/\+/g, '%20')}`;
    }
    return { status: 200, body };
  };

  function* seqd<T>(items: Iterable<T>, render: (t: T) => Json): Iterable<Json & { __seq: number }> {
    let i = 0;
    for (const t of items) yield Object.assign(render(t), { __seq: ++i });
  }

  const created = (base: string, path: string, extra: Record<string, string> = {}): Reply => ({
    status: 201,
    headers: { Location: `${base}/${path}`, DataServiceId: `${base}/${path}`, ...extra },
  });

  const one = (ctx: Ctx, kind: string, json: Json, headers?: Record<string, string>): Reply => ({
    status: 200,
    body: {
      'odata.metadata': `${ctx.base}/$metadata#${kind}/@Element`,
      ...applySelect(json, parseSelect(ctx.query.$select)),
    },
    ...(headers ? { headers } : {}),
  });

  const requireBody = (ctx: Ctx): Json => {
    if (!ctx.body)
      throw new EngineError('InvalidRequestBody', 'The request body is missing or not valid JSON.', 400);
    return ctx.body;
  };

  const getPool = (id: string): EnginePool => {
    const p = engine.getPool(id);
    if (!p) throw new EngineError('PoolNotFound', 'The specified pool does not exist.', 404);
    return p;
  };
  const getJob = (id: string): EngineJob => {
    const j = engine.getJob(id);
    if (!j) throw new EngineError('JobNotFound', 'The specified job does not exist.', 404);
    return j;
  };
  const getTask = (jobId: string, taskId: string): EngineTask => {
    getJob(jobId);
    const t = engine.getTask(jobId, taskId);
    if (!t) throw new EngineError('TaskNotFound', 'The specified task does not exist.', 404);
    return t;
  };

  const renderPool = (p: EnginePool, base: string): Json =>
    poolJson(p, engine.listNodes(p.id), base, {
      ...(poolExtras.get(p.id.toLowerCase()) ?? {}),
      ...autoscale.json(p.id),
    });

  function timeoutOf(r: Json): { resizeTimeoutMs?: number } {
    if (r.resizeTimeout === undefined) return {};
    const ms = typeof r.resizeTimeout === 'string' ? parseIsoDuration(r.resizeTimeout) : undefined;
    if (ms === undefined) throw invalidProperty('resizeTimeout', r.resizeTimeout);
    return { resizeTimeoutMs: ms };
  }

  function deallocationOf(r: Json): DeallocationOption {
    const v = r.nodeDeallocationOption ?? 'requeue';
    if (v !== 'requeue' && v !== 'terminate' && v !== 'taskcompletion' && v !== 'retaineddata') {
      throw invalidProperty('nodeDeallocationOption', v);
    }
    return v;
  }

  const fileUrl = (base: string, jobId: string, taskId: string, name: string): string =>
    `${base}/jobs/${encodeURIComponent(jobId)}/tasks/${encodeURIComponent(taskId)}/files/${name
      .split('/')
      .map(encodeURIComponent)
      .join('/')}`;

  const taskFile = async (
    jobId: string,
    taskId: string,
    filePath: string,
  ): Promise<{ dir: string; entry: TaskDirEntry }> => {
    // Relative to the task's directory, as on a Batch node (`stdout.txt`, `wd/...`).
    const dir = getTask(jobId, taskId).taskDir;
    const entry = dir === undefined ? undefined : await statTaskDirEntry(dir, filePath);
    if (!dir || !entry) throw new EngineError('FileNotFound', 'The specified file does not exist.', 404);
    return { dir, entry };
  };

  const routes: Route<Ctx, Reply>[] = [
    // ---------------------------------------------------------------- pools
    {
      method: 'GET',
      path: '/pools',
      op: 'Pool_List',
      run: ({ ctx }) =>
        list(
          ctx,
          'pools',
          seqd(engine.listPools(), (p) => renderPool(p, ctx.base)),
        ),
    },
    {
      method: 'POST',
      path: '/pools',
      op: 'Pool_Add',
      run: ({ ctx }) => {
        const body = requireBody(ctx);
        const spec = parsePoolAdd(body);
        const scaling = parseAutoScaleSettings(body);
        if (scaling) checkFormula(scaling.formula);
        engine.addPool(spec);
        poolExtras.set(spec.id.toLowerCase(), {
          virtualMachineConfiguration: body.virtualMachineConfiguration,
        });
        if (scaling) autoscale.enable(spec.id, scaling.formula, scaling.intervalMs);
        return created(ctx.base, `pools/${spec.id}`);
      },
    },
    {
      method: 'GET',
      path: '/pools/{pool}',
      op: 'Pool_Get',
      run: ({ ctx, params }) => {
        const json = renderPool(getPool(params.pool!), ctx.base);
        return one(ctx, 'pools', json, {
          ETag: String(json.eTag),
          'Last-Modified': new Date(String(json.lastModified)).toUTCString(),
        });
      },
    },
    {
      method: 'HEAD',
      path: '/pools/{pool}',
      op: 'Pool_Exists',
      run: ({ params }) => ({ status: engine.getPool(params.pool!) ? 200 : 404 }),
    },
    {
      method: 'DELETE',
      path: '/pools/{pool}',
      op: 'Pool_Delete',
      run: ({ params }) => {
        getPool(params.pool!);
        autoscale.disable(params.pool!);
        engine.deletePool(params.pool!);
        return { status: 202 };
      },
    },
    {
      method: 'POST',
      path: '/pools/{pool}/resize',
      op: 'Pool_Resize',
      run: ({ ctx, params }) => {
        const p = getPool(params.pool!);
        if (autoscale.enabled(p.id)) {
          throw new EngineError(
            'OperationInvalidForCurrentState',
            'The specified pool has automatic scaling enabled: disable it before resizing.',
            409,
          );
        }
        const r = requireBody(ctx);
        const num = (k: string, current: number): number => {
          const v = r[k];
          if (v === undefined || v === null) return current;
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw invalidProperty(k, v);
          return v;
        };
        engine.resizePool(p.id, {
          targetDedicatedNodes: num('targetDedicatedNodes', p.targetDedicatedNodes),
          targetSpotNodes: num('targetLowPriorityNodes', p.targetSpotNodes),
          ...timeoutOf(r),
          deallocation: deallocationOf(r),
        });
        return { status: 202 };
      },
    },
    {
      method: 'POST',
      path: '/pools/{pool}/stopresize',
      op: 'Pool_StopResize',
      run: ({ params }) => {
        getPool(params.pool!);
        engine.stopResize(params.pool!);
        return { status: 202 };
      },
    },
    {
      method: 'POST',
      path: '/pools/{pool}/removenodes',
      op: 'Pool_RemoveNodes',
      run: ({ ctx, params }) => {
        getPool(params.pool!);
        const r = requireBody(ctx);
        const ids = r.nodeList;
        if (!Array.isArray(ids) || ids.some((x) => typeof x !== 'string'))
          throw invalidProperty('nodeList', ids);
        engine.removeNodes(params.pool!, ids as string[], deallocationOf(r));
        return { status: 202 };
      },
    },
    {
      method: 'POST',
      path: '/pools/{pool}/enableautoscale',
      op: 'Pool_EnableAutoScale',
      run: ({ ctx, params }) => {
        const p = getPool(params.pool!);
        const settings = parseAutoScaleSettings(
          { ...requireBody(ctx), enableAutoScale: true },
          autoscale.settings(p.id),
        );
        checkFormula(settings!.formula);
        if (p.allocationState !== 'steady' && !autoscale.enabled(p.id)) {
          throw new EngineError(
            'PoolBeingResized',
            'The specified pool is being resized: automatic scaling cannot be enabled until it is steady.',
            409,
          );
        }
        autoscale.enable(p.id, settings!.formula, settings!.intervalMs);
        return { status: 200, headers: { ETag: String(renderPool(getPool(p.id), ctx.base).eTag) } };
      },
    },
    {
      method: 'POST',
      path: '/pools/{pool}/disableautoscale',
      op: 'Pool_DisableAutoScale',
      run: ({ params }) => {
        getPool(params.pool!);
        autoscale.disable(params.pool!);
        return { status: 200 };
      },
    },
    {
      method: 'POST',
      path: '/pools/{pool}/evaluateautoscale',
      op: 'Pool_EvaluateAutoScale',
      run: ({ ctx, params }) => {
        const p = getPool(params.pool!);
        if (!autoscale.enabled(p.id)) {
          throw new EngineError(
            'OperationInvalidForCurrentState',
            'The specified pool does not have automatic scaling enabled.',
            409,
          );
        }
        const formula = requireBody(ctx).autoScaleFormula;
        if (typeof formula !== 'string') throw missingProperty('autoScaleFormula');
        checkFormula(formula);
        return {
          status: 200,
          body: {
            'odata.metadata': `${ctx.base}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.AutoScaleRun`,
            ...autoscale.evaluate(p.id, formula),
          },
        };
      },
    },
    {
      method: 'GET',
      path: '/pools/{pool}/nodes',
      op: 'ComputeNode_List',
      run: ({ ctx, params }) => {
        const p = getPool(params.pool!);
        return list(
          ctx,
          'nodes',
          seqd(engine.listNodes(p.id), (n) => nodeJson(n, p, ctx.base)),
        );
      },
    },
    {
      method: 'GET',
      path: '/pools/{pool}/nodes/{node}',
      op: 'ComputeNode_Get',
      run: ({ ctx, params }) => {
        const p = getPool(params.pool!);
        const n = engine.listNodes(p.id).find((x) => x.id === params.node);
        if (!n) throw new EngineError('NodeNotFound', 'The specified node does not exist.', 404);
        return one(ctx, 'nodes', nodeJson(n, p, ctx.base));
      },
    },
    {
      method: 'POST',
      path: '/pools/{pool}/nodes/{node}/reboot',
      op: 'ComputeNode_Reboot',
      run: ({ params }) => {
        engine.rebootNode(params.pool!, params.node!);
        return { status: 202 };
      },
    },
    // ---------------------------------------------------------------- jobs
    {
      method: 'GET',
      path: '/jobs',
      op: 'Job_List',
      run: ({ ctx }) =>
        list(
          ctx,
          'jobs',
          seqd(engine.listJobs(), (j) => withAutoPool(jobJson(j, ctx.base), j.id)),
        ),
    },
    {
      method: 'POST',
      path: '/jobs',
      op: 'Job_Add',
      run: ({ ctx }) => {
        const body = requireBody(ctx);
        const auto = parseAutoPool(body, randomUUID().slice(0, 8).toUpperCase());
        const spec = parseJobAdd(body, auto?.poolId);
        engine.addJob(spec);
        if (auto) {
          try {
            engine.addPool(auto.pool);
          } catch (e) {
            engine.deleteJob(spec.id);
            throw e;
          }
          autoPools.set(spec.id.toLowerCase(), auto);
        }
        return created(ctx.base, `jobs/${spec.id}`);
      },
    },
    {
      method: 'GET',
      path: '/jobs/{job}',
      op: 'Job_Get',
      run: ({ ctx, params }) =>
        one(ctx, 'jobs', withAutoPool(jobJson(getJob(params.job!), ctx.base), params.job!)),
    },
    {
      method: 'DELETE',
      path: '/jobs/{job}',
      op: 'Job_Delete',
      run: ({ params }) => {
        getJob(params.job!);
        engine.deleteJob(params.job!);
        endAutoPool(params.job!);
        return { status: 202 };
      },
    },
    {
      method: 'PATCH',
      path: '/jobs/{job}',
      op: 'Job_Patch',
      run: ({ ctx, params }) => updateJob(params.job!, requireBody(ctx), false),
    },
    {
      method: 'PUT',
      path: '/jobs/{job}',
      op: 'Job_Update',
      run: ({ ctx, params }) => updateJob(params.job!, requireBody(ctx), true),
    },
    {
      method: 'POST',
      path: '/jobs/{job}/terminate',
      op: 'Job_Terminate',
      run: ({ ctx, params }) => {
        const jobId = getJob(params.job!).id;
        const reason =
          typeof ctx.body?.terminateReason === 'string' ? ctx.body.terminateReason : 'UserTerminate';
        void engine
          .terminateJob(jobId, reason)
          .then(() => endAutoPool(jobId))
          .catch(() => undefined);
        return { status: 202 };
      },
    },
    {
      method: 'GET',
      path: '/jobs/{job}/taskcounts',
      op: 'Job_GetTaskCounts',
      run: ({ ctx, params }) => {
        const counts = engine.taskCounts(getJob(params.job!).id);
        return {
          status: 200,
          body: {
            'odata.metadata': `${ctx.base}/$metadata#taskcounts/@Element`,
            taskCounts: counts,
            taskSlotCounts: counts,
          },
        };
      },
    },
    {
      method: 'GET',
      path: '/jobs/{job}/jobpreparationandreleasetaskstatus',
      op: 'Job_ListPreparationAndReleaseTaskStatus',
      run: ({ ctx, params }) => {
        const job = getJob(params.job!);
        return list(
          ctx,
          'jobpreparationandreleasetaskstatus',
          seqd(engine.jobNodeStatus(job.id), (s) => prepReleaseJson(s, job.id, ctx.base)),
        );
      },
    },
    // ---------------------------------------------------------------- tasks
    {
      method: 'POST',
      path: '/jobs/{job}/addtaskcollection',
      op: 'Task_AddCollection',
      run: ({ ctx, params }) => {
        const jobId = getJob(params.job!).id;
        if (ctx.bodyBytes > MAX_COLLECTION_BYTES) {
          throw new EngineError(
            'RequestBodyTooLarge',
            'The request body is too large and exceeds the maximum permissible limit.',
            413,
            [{ key: 'MaxLimit', value: String(MAX_COLLECTION_BYTES) }],
          );
        }
        const tasks = requireBody(ctx).value;
        if (!Array.isArray(tasks)) throw invalidProperty('value', tasks);
        if (tasks.length > MAX_TASKS_PER_COLLECTION) {
          throw new EngineError(
            'RequestBodyTooLarge',
            'The number of tasks in the request exceeds the maximum permissible limit.',
            413,
            [{ key: 'MaxLimit', value: String(MAX_TASKS_PER_COLLECTION) }],
          );
        }
        const value = tasks.map((t: unknown) => {
          const taskId =
            t && typeof t === 'object' && typeof (t as Json).id === 'string'
              ? ((t as Json).id as string)
              : '';
          try {
            const task = engine.addTask(jobId, parseTaskAdd((t ?? {}) as Json));
            return {
              status: 'success',
              taskId: task.id,
              eTag: `"0x${task.creationTime.getTime().toString(16).toUpperCase()}"`,
              lastModified: task.creationTime.toISOString(),
              location: `${ctx.base}/jobs/${jobId}/tasks/${task.id}`,
            };
          } catch (err) {
            if (!(err instanceof EngineError)) throw err;
            const eb = errorBody(ctx.base, err.code, err.message, err.values);
            delete eb['odata.metadata'];
            return { status: err.statusCode >= 500 ? 'servererror' : 'clienterror', taskId, error: eb };
          }
        });
        return { status: 200, body: { 'odata.metadata': `${ctx.base}/$metadata#taskaddresult`, value } };
      },
    },
    {
      method: 'POST',
      path: '/jobs/{job}/tasks',
      op: 'Task_Add',
      run: ({ ctx, params }) => {
        const jobId = getJob(params.job!).id;
        const t = engine.addTask(jobId, parseTaskAdd(requireBody(ctx)));
        return created(ctx.base, `jobs/${jobId}/tasks/${t.id}`);
      },
    },
    {
      method: 'GET',
      path: '/jobs/{job}/tasks',
      op: 'Task_List',
      run: ({ ctx, params }) => {
        const jobId = getJob(params.job!).id;
        const defaults = jobDefaults(jobId);
        return list(
          ctx,
          'tasks',
          (function* () {
            for (const t of engine.listTasks(jobId))
              yield Object.assign(taskJson(t, ctx.base, defaults), { __seq: t.seq });
          })(),
        );
      },
    },
    {
      method: 'GET',
      path: '/jobs/{job}/tasks/{task}',
      op: 'Task_Get',
      run: ({ ctx, params }) => {
        const json = taskJson(getTask(params.job!, params.task!), ctx.base, jobDefaults(params.job!));
        return one(ctx, 'tasks', json, { ETag: String(json.eTag) });
      },
    },
    {
      method: 'DELETE',
      path: '/jobs/{job}/tasks/{task}',
      op: 'Task_Delete',
      run: ({ params }) => {
        const t = getTask(params.job!, params.task!);
        engine.deleteTask(t.jobId, t.id);
        return { status: 200 };
      },
    },
    {
      method: 'POST',
      path: '/jobs/{job}/tasks/{task}/terminate',
      op: 'Task_Terminate',
      run: ({ params }) => {
        const t = getTask(params.job!, params.task!);
        engine.terminateTask(t.jobId, t.id);
        return { status: 204 };
      },
    },
    {
      method: 'POST',
      path: '/jobs/{job}/tasks/{task}/reactivate',
      op: 'Task_Reactivate',
      run: ({ params }) => {
        const t = getTask(params.job!, params.task!);
        engine.reactivateTask(t.jobId, t.id);
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: '/jobs/{job}/tasks/{task}/files',
      op: 'File_ListFromTask',
      run: async ({ ctx, params }) => {
        const t = getTask(params.job!, params.task!);
        const entries = t.taskDir ? await listTaskDir(t.taskDir, ctx.query.recursive === 'true') : [];
        return list(
          ctx,
          'files',
          seqd(entries, (e) => fileJson(e, fileUrl(ctx.base, t.jobId, t.id, e.name))),
        );
      },
    },
    {
      method: 'GET',
      path: '/jobs/{job}/tasks/{task}/files/{*file}',
      op: 'File_GetFromTask',
      run: async ({ ctx, params }) => {
        const { dir, entry } = await taskFile(params.job!, params.task!, params.file!);
        const file = entry.isDirectory ? undefined : await readTaskDirFile(dir, entry.name);
        if (!file) throw new EngineError('FileNotFound', 'The specified file does not exist.', 404);
        // `ocp-range: bytes=START-END`: Batch answers 200 with just those bytes.
        const range = resolveOcpRange(ctx.range, file.length);
        if (!range.ok) throw new EngineError('InvalidRange', range.reason, 416);
        return { status: 200, file: file.subarray(range.start, range.end + 1), headers: fileHeaders(entry) };
      },
    },
    {
      method: 'HEAD',
      path: '/jobs/{job}/tasks/{task}/files/{*file}',
      op: 'File_GetPropertiesFromTask',
      run: async ({ ctx, params }) => {
        const { entry } = await taskFile(params.job!, params.task!, params.file!);
        return {
          status: 200,
          headers: {
            ...fileHeaders(entry),
            'ocp-batch-file-url': fileUrl(ctx.base, params.job!, params.task!, entry.name),
            'Content-Length': String(entry.contentLength),
          },
        };
      },
    },
  ];
  const router = new Router(routes);

  function updateJob(jobId: string, r: Json, replace: boolean): Reply {
    const job = getJob(jobId);
    if (replace && r.poolInfo === undefined) throw missingProperty('poolInfo');
    if (r.poolInfo !== undefined) {
      const poolId = (r.poolInfo as Json | null)?.poolId;
      if (poolId !== job.poolId)
        throw invalidProperty('poolInfo.poolId', poolId, 'the emulator cannot move a job to another pool');
    }
    const onAll = r.onAllTasksComplete;
    if (onAll !== undefined && onAll !== 'noaction' && onAll !== 'terminatejob')
      throw invalidProperty('onAllTasksComplete', onAll);
    const constraints = (r.constraints ?? {}) as Json;
    const retries = constraints.maxTaskRetryCount;
    if (retries !== undefined && (typeof retries !== 'number' || !Number.isInteger(retries) || retries < -1))
      throw invalidProperty('constraints.maxTaskRetryCount', retries);
    engine.updateJob(job.id, {
      ...(onAll !== undefined ? { onAllTasksComplete: onAll } : {}),
      ...(retries !== undefined ? { maxTaskRetryCount: retries } : {}),
    });
    return { status: 200 };
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 4 * MAX_COLLECTION_BYTES) chunks.push(c);
    });
    req.on('end', () => {
      void handle(req, res, Buffer.concat(chunks), size).catch(() => {
        if (!res.headersSent) {
          res.writeHead(500).end();
        }
      });
    });
  });

  let base = '';

  async function handle(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    raw: Buffer,
    size: number,
  ): Promise<void> {
    records.requests++;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? {} : parseQuery(url.slice(q + 1));
    const method = (req.method ?? 'GET').toUpperCase();
    const requestId = randomUUID();
    const send = (reply: Reply): void => {
      const headers: Record<string, string> = {
        'request-id': requestId,
        DataServiceVersion: '3.0',
        ...(reply.headers ?? {}),
      };
      const clientRequestId = req.headers['client-request-id'];
      if (typeof clientRequestId === 'string' && req.headers['return-client-request-id'] === 'true') {
        headers['client-request-id'] = clientRequestId;
      }
      if (reply.file !== undefined) {
        headers['Content-Type'] = 'application/octet-stream';
        headers['Content-Length'] = String(reply.file.length);
        res.writeHead(reply.status, headers).end(reply.file);
      } else if (reply.body !== undefined && method !== 'HEAD') {
        const text = JSON.stringify(reply.body);
        headers['Content-Type'] = 'application/json;odata=minimalmetadata';
        headers['Content-Length'] = String(Buffer.byteLength(text));
        res.writeHead(reply.status, headers).end(text);
      } else {
        // HEAD of a file answers with the file's length, and no body.
        res.writeHead(reply.status, { 'Content-Length': '0', ...headers }).end();
      }
    };
    const fail = (
      status: number,
      code: string,
      message: string,
      values?: readonly { key: string; value: string }[],
    ): void => send({ status, body: errorBody(base, code, message, values) });

    if (MANAGEMENT.test(pathname)) return management(req, pathname, send);
    const auth = checkAuthorization(
      { method, url, headers: req.headers },
      { name: accountName, key: accountKey, bearerTokens: options.bearerTokens },
    );
    if (!auth.ok) {
      bump(records.byOperation, 'AuthenticationFailed');
      return fail(
        auth.status,
        'AuthenticationFailed',
        'Server failed to authenticate the request. Make sure the value of Authorization header is correctly formed including the signature.',
        [{ key: 'AuthenticationErrorDetail', value: auth.reason }],
      );
    }
    if (query['api-version'] === undefined) {
      return fail(
        400,
        'MissingRequiredQueryParameter',
        "A query parameter that's mandatory for this request is not specified.",
        [{ key: 'QueryParameterName', value: 'api-version' }],
      );
    }
    if (query['api-version'] !== BATCH_API_VERSION) {
      return fail(
        400,
        'InvalidQueryParameterValue',
        `The value for one of the query parameters is invalid. The emulator speaks api-version ${BATCH_API_VERSION}.`,
        [
          { key: 'QueryParameterName', value: 'api-version' },
          { key: 'QueryParameterValue', value: query['api-version'] },
        ],
      );
    }
    let body: Json | undefined;
    if (raw.length > 0 && size <= 4 * MAX_COLLECTION_BYTES) {
      try {
        const parsed: unknown = JSON.parse(raw.toString('utf8'));
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Json;
      } catch {
        return fail(400, 'InvalidRequestBody', 'The specified request body is not syntactically valid.');
      }
    }
    const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const rangeHeader = req.headers['ocp-range'];
    const ctx: Ctx = {
      method,
      parts,
      query,
      body,
      bodyBytes: size,
      base,
      ...(typeof rangeHeader === 'string' ? { range: rangeHeader } : {}),
    };
    const found = router.match(method, parts);
    if (found.kind === 'none')
      return fail(400, 'InvalidUri', 'The requested URI does not represent any resource on the server.');
    if (found.kind === 'wrongVerb') {
      return fail(405, 'UnsupportedHttpVerb', "The resource doesn't support the specified HTTP verb.", [
        { key: 'AllowedVerbs', value: found.allowed.join(',') },
      ]);
    }
    const r = { op: found.route.op, run: () => found.route.run({ params: found.params, ctx }) };
    bump(records.byOperation, r.op);
    const fault = faults.decide(r.op, WRITE.has(method));
    const inject = (): void => {
      if (fault.kind === 'none') return;
      if (fault.afterApply) records.faults.afterApply++;
      if (fault.kind === 'serverBusy') {
        records.faults.serverBusy++;
        fail(503, 'ServerBusy', 'Service is temporarily unavailable. Please retry after some time.');
      } else if (fault.kind === 'operationTimedOut') {
        records.faults.operationTimedOut++;
        fail(500, 'OperationTimedOut', 'Operation could not be completed within the specified time.');
      } else {
        records.faults.drop++;
        req.socket.destroy();
      }
    };
    if (fault.kind !== 'none' && !fault.afterApply) return inject();
    let reply: Reply;
    try {
      reply = await r.run();
    } catch (err) {
      if (err instanceof EngineError)
        reply = { status: err.statusCode, body: errorBody(base, err.code, err.message, err.values) };
      else if (err instanceof ODataSyntaxError) {
        reply = {
          status: 400,
          body: errorBody(
            base,
            'InvalidQueryParameterValue',
            `The value for one of the query parameters is invalid: ${err.message}.`,
            [{ key: 'QueryParameterName', value: ctx.query.$filter !== undefined ? '$filter' : '$select' }],
          ),
        };
      } else throw err;
    }
    if (fault.kind !== 'none') return inject();
    send(reply);
  }

  /**
   * The account's management resource, as ARM's `Microsoft.Batch/batchAccounts` GET gives it
   * (the quotas Batch enforces), so quota checks can be tested without Azure: bearer auth, ARM's
   * error shape.
   */
  function management(req: http.IncomingMessage, pathname: string, send: (reply: Reply) => void): void {
    const armError = (status: number, code: string, message: string): void =>
      send({ status, body: { error: { code, message } } });
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const accept = options.acceptManagementToken ?? ((t: string) => t.length > 0);
    if (token === undefined || !accept(token)) {
      bump(records.byOperation, 'AuthenticationFailed');
      return armError(
        401,
        'AuthenticationFailed',
        "Authentication failed. The 'Authorization' header is missing or not accepted.",
      );
    }
    const m = MANAGEMENT.exec(pathname)!;
    const [, subscription, resourceGroup, name] = m.map((x) => decodeURIComponent(x ?? '')) as [
      string,
      string,
      string,
      string,
    ];
    bump(records.byOperation, 'BatchAccount_Get');
    if (req.method !== 'GET')
      return armError(405, 'MethodNotAllowed', `${req.method} is not served for the account resource`);
    if (name.toLowerCase() !== accountName.toLowerCase()) {
      return armError(
        404,
        'ResourceNotFound',
        `The Resource 'Microsoft.Batch/batchAccounts/${name}' under resource group '${resourceGroup}' was not found.`,
      );
    }
    const q = engine.quota;
    send({
      status: 200,
      body: {
        id: `/subscriptions/${subscription}/resourceGroups/${resourceGroup}/providers/Microsoft.Batch/batchAccounts/${accountName}`,
        name: accountName,
        type: 'Microsoft.Batch/batchAccounts',
        location: options.location ?? 'local',
        properties: {
          accountEndpoint: base.replace(/^https?:\/\//, ''),
          provisioningState: 'Succeeded',
          poolAllocationMode: 'BatchService',
          ...(q.dedicatedCores !== undefined ? { dedicatedCoreQuota: q.dedicatedCores } : {}),
          ...(q.lowPriorityCores !== undefined ? { lowPriorityCoreQuota: q.lowPriorityCores } : {}),
          dedicatedCoreQuotaPerVMFamilyEnforced: false,
          dedicatedCoreQuotaPerVMFamily: [],
          ...(q.pools !== undefined ? { poolQuota: q.pools } : {}),
          ...(q.activeJobs !== undefined ? { activeJobAndJobScheduleQuota: q.activeJobs } : {}),
        },
      },
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  server.keepAliveTimeout = 5000;
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? '127.0.0.1';
  base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  let closed = false;
  return {
    url: base,
    port,
    accountName,
    accountKey,
    engine,
    records,
    setFaults: (f) => faults.set(f),
    resetCounters() {
      records.requests = 0;
      records.byOperation.clear();
      Object.assign(records.faults, { serverBusy: 0, operationTimedOut: 0, drop: 0, afterApply: 0 });
    },
    async close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      autoscale.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownsEngine) await engine.close();
    },
  };
}
