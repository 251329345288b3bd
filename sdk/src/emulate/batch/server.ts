import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { LocalEngine, type LocalEngineOptions } from '../../compute/local/engine';
import { parseIsoDuration } from '../../compute/batch-vocabulary';
import { EngineError } from '../../compute/local/errors';
import { readTaskDirFile } from '../../compute/local/files';
import type { DeallocationOption, EngineTask } from '../../compute/local/types';
import { checkAuthorization, parseQuery } from './auth';
import { FaultPlan, type BatchFaultOptions } from './faults';
import { ODataSyntaxError, applySelect, parseFilter, parseSelect } from './odata';
import {
  invalidProperty,
  jobJson,
  nodeJson,
  parseAutoPool,
  parseJobAdd,
  parsePoolAdd,
  parseTaskAdd,
  poolJson,
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
  /** The engine underneath, or options to create one. @default a new engine */
  readonly engine?: LocalEngine | LocalEngineOptions;
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

interface Ctx {
  readonly method: string;
  readonly parts: string[];
  readonly query: Record<string, string>;
  readonly body: Json | undefined;
  readonly bodyBytes: number;
  readonly base: string;
}

const WRITE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

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
      : new LocalEngine({ accountName, ...(options.engine ?? {}) });
  const faults = new FaultPlan(options.faults);
  const maxResultsDefault = options.defaultMaxResults ?? 1000;
  const poolExtras = new Map<string, { virtualMachineConfiguration?: unknown }>();
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

  const addOne = (jobId: string, body: Json): EngineTask => {
    const spec = parseTaskAdd(body);
    return engine.addTask(jobId, spec);
  };

  /** Routes a request to its operation name and handler. */
  const route = (ctx: Ctx): { op: string; run: () => Reply | Promise<Reply> } | undefined => {
    const [a, b, c, d, e] = ctx.parts;
    const m = ctx.method;
    const base = ctx.base;
    const body = (): Json => {
      if (!ctx.body)
        throw new EngineError('InvalidRequestBody', 'The request body is missing or not valid JSON.', 400);
      return ctx.body;
    };
    if (a === 'pools' && b === undefined) {
      if (m === 'GET') {
        return {
          op: 'Pool_List',
          run: () =>
            list(
              ctx,
              'pools',
              seqd(engine.listPools(), (p) =>
                poolJson(p, engine.listNodes(p.id), base, poolExtras.get(p.id) ?? {}),
              ),
            ),
        };
      }
      if (m === 'POST') {
        return {
          op: 'Pool_Add',
          run: () => {
            const spec = parsePoolAdd(body());
            engine.addPool(spec);
            poolExtras.set(spec.id, { virtualMachineConfiguration: body().virtualMachineConfiguration });
            return created(base, `pools/${spec.id}`);
          },
        };
      }
    }
    if (a === 'pools' && b !== undefined && c === undefined) {
      const pool = (): NonNullable<ReturnType<typeof engine.getPool>> => {
        const p = engine.getPool(b);
        if (!p) throw new EngineError('PoolNotFound', 'The specified pool does not exist.', 404);
        return p;
      };
      if (m === 'GET') {
        return {
          op: 'Pool_Get',
          run: () => {
            const p = pool();
            const json = poolJson(p, engine.listNodes(p.id), base, poolExtras.get(p.id) ?? {});
            return {
              status: 200,
              body: {
                'odata.metadata': `${base}/$metadata#pools/@Element`,
                ...applySelect(json, parseSelect(ctx.query.$select)),
              },
              headers: {
                ETag: String(json.eTag),
                'Last-Modified': new Date(String(json.lastModified)).toUTCString(),
              },
            };
          },
        };
      }
      if (m === 'HEAD') return { op: 'Pool_Exists', run: () => ({ status: engine.getPool(b) ? 200 : 404 }) };
      if (m === 'DELETE') {
        return {
          op: 'Pool_Delete',
          run: () => {
            pool();
            engine.deletePool(b);
            return { status: 202 };
          },
        };
      }
    }
    if (a === 'pools' && b !== undefined && d === undefined && m === 'POST') {
      if (c === 'resize') {
        return {
          op: 'Pool_Resize',
          run: () => {
            const p = pool0(b);
            const r = body();
            const num = (k: string, current: number): number => {
              const v = r[k];
              if (v === undefined || v === null) return current;
              if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw invalidProperty(k, v);
              return v;
            };
            engine.resizePool(b, {
              targetDedicatedNodes: num('targetDedicatedNodes', p.targetDedicatedNodes),
              targetSpotNodes: num('targetLowPriorityNodes', p.targetSpotNodes),
              ...timeoutOf(r),
              deallocation: deallocationOf(r),
            });
            return { status: 202 };
          },
        };
      }
      if (c === 'stopresize') {
        return {
          op: 'Pool_StopResize',
          run: () => {
            pool0(b);
            engine.stopResize(b);
            return { status: 202 };
          },
        };
      }
      if (c === 'removenodes') {
        return {
          op: 'Pool_RemoveNodes',
          run: () => {
            pool0(b);
            const r = body();
            const ids = r.nodeList;
            if (!Array.isArray(ids) || ids.some((x) => typeof x !== 'string'))
              throw invalidProperty('nodeList', ids);
            engine.removeNodes(b, ids as string[], deallocationOf(r));
            return { status: 202 };
          },
        };
      }
    }
    if (a === 'pools' && b !== undefined && c === 'nodes') {
      if (d === undefined && m === 'GET') {
        return {
          op: 'ComputeNode_List',
          run: () => {
            const p = pool0(b);
            return list(
              ctx,
              'nodes',
              seqd(engine.listNodes(b), (n) => nodeJson(n, p, base)),
            );
          },
        };
      }
      if (d !== undefined && e === undefined && m === 'GET') {
        return {
          op: 'ComputeNode_Get',
          run: () => {
            const p = pool0(b);
            const n = engine.listNodes(b).find((x) => x.id === d);
            if (!n) throw new EngineError('NodeNotFound', 'The specified node does not exist.', 404);
            return {
              status: 200,
              body: { 'odata.metadata': `${base}/$metadata#nodes/@Element`, ...nodeJson(n, p, base) },
            };
          },
        };
      }
      if (d !== undefined && e === 'reboot' && m === 'POST') {
        return {
          op: 'ComputeNode_Reboot',
          run: () => {
            engine.rebootNode(b, d);
            return { status: 202 };
          },
        };
      }
    }
    if (a === 'jobs' && b === undefined) {
      if (m === 'POST') {
        return {
          op: 'Job_Add',
          run: () => {
            const auto = parseAutoPool(body(), randomUUID().slice(0, 8).toUpperCase());
            const spec = parseJobAdd(body(), auto?.poolId);
            if (engine.getJob(spec.id))
              throw new EngineError('JobExists', 'The specified job already exists.', 409);
            if (auto) {
              engine.addPool(auto.pool);
              autoPools.set(spec.id.toLowerCase(), auto);
            }
            engine.addJob(spec);
            return created(base, `jobs/${spec.id}`);
          },
        };
      }
      if (m === 'GET')
        return {
          op: 'Job_List',
          run: () =>
            list(
              ctx,
              'jobs',
              seqd(engine.listJobs(), (j) => withAutoPool(jobJson(j, base), j.id)),
            ),
        };
    }
    if (a === 'jobs' && b !== undefined) {
      const job = (): NonNullable<ReturnType<typeof engine.getJob>> => {
        const j = engine.getJob(b);
        if (!j) throw new EngineError('JobNotFound', 'The specified job does not exist.', 404);
        return j;
      };
      if (c === undefined && m === 'GET') {
        return {
          op: 'Job_Get',
          run: () => ({
            status: 200,
            body: {
              'odata.metadata': `${base}/$metadata#jobs/@Element`,
              ...applySelect(withAutoPool(jobJson(job(), base), b), parseSelect(ctx.query.$select)),
            },
          }),
        };
      }
      if (c === undefined && m === 'DELETE') {
        return {
          op: 'Job_Delete',
          run: () => {
            job();
            engine.deleteJob(b);
            endAutoPool(b);
            return { status: 202 };
          },
        };
      }
      if (c === 'terminate' && m === 'POST') {
        return {
          op: 'Job_Terminate',
          run: () => {
            job();
            const reason =
              typeof ctx.body?.terminateReason === 'string' ? ctx.body.terminateReason : 'UserTerminate';
            void engine
              .terminateJob(b, reason)
              .then(() => endAutoPool(b))
              .catch(() => undefined);
            return { status: 202 };
          },
        };
      }
      if (c === 'taskcounts' && m === 'GET') {
        return {
          op: 'Job_GetTaskCounts',
          run: () => {
            job();
            const counts = engine.taskCounts(b);
            return {
              status: 200,
              body: {
                'odata.metadata': `${base}/$metadata#taskcounts/@Element`,
                taskCounts: counts,
                taskSlotCounts: counts,
              },
            };
          },
        };
      }
      if (c === 'addtaskcollection' && m === 'POST') {
        return {
          op: 'Task_AddCollection',
          run: () => {
            job();
            if (ctx.bodyBytes > MAX_COLLECTION_BYTES) {
              throw new EngineError(
                'RequestBodyTooLarge',
                'The request body is too large and exceeds the maximum permissible limit.',
                413,
                [{ key: 'MaxLimit', value: String(MAX_COLLECTION_BYTES) }],
              );
            }
            const tasks = body().value;
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
                const task = addOne(b, (t ?? {}) as Json);
                return {
                  status: 'success',
                  taskId: task.id,
                  eTag: `"0x${task.creationTime.getTime().toString(16).toUpperCase()}"`,
                  lastModified: task.creationTime.toISOString(),
                  location: `${base}/jobs/${b}/tasks/${task.id}`,
                };
              } catch (err) {
                if (!(err instanceof EngineError)) throw err;
                const eb = errorBody(base, err.code, err.message, err.values);
                delete eb['odata.metadata'];
                return { status: err.statusCode >= 500 ? 'servererror' : 'clienterror', taskId, error: eb };
              }
            });
            return { status: 200, body: { 'odata.metadata': `${base}/$metadata#taskaddresult`, value } };
          },
        };
      }
      if (c === 'tasks' && d === undefined) {
        if (m === 'POST') {
          return {
            op: 'Task_Add',
            run: () => {
              job();
              const t = addOne(b, body());
              return created(base, `jobs/${b}/tasks/${t.id}`);
            },
          };
        }
        if (m === 'GET') {
          return {
            op: 'Task_List',
            run: () => {
              job();
              const defaults = jobDefaults(b);
              return list(
                ctx,
                'tasks',
                (function* () {
                  for (const t of engine.listTasks(b))
                    yield Object.assign(taskJson(t, base, defaults), { __seq: t.seq });
                })(),
              );
            },
          };
        }
      }
      if (c === 'tasks' && d !== undefined) {
        const task = (): EngineTask => {
          job();
          const t = engine.getTask(b, d);
          if (!t) throw new EngineError('TaskNotFound', 'The specified task does not exist.', 404);
          return t;
        };
        if (e === undefined && m === 'GET') {
          return {
            op: 'Task_Get',
            run: () => {
              const json = taskJson(task(), base, jobDefaults(b));
              return {
                status: 200,
                body: {
                  'odata.metadata': `${base}/$metadata#tasks/@Element`,
                  ...applySelect(json, parseSelect(ctx.query.$select)),
                },
                headers: { ETag: String(json.eTag) },
              };
            },
          };
        }
        if (e === 'files' && m === 'GET' && ctx.parts.length > 5) {
          return {
            op: 'File_GetFromTask',
            run: async () => {
              // Relative to the task's directory, as on a Batch node (`stdout.txt`, `wd/...`).
              const dir = task().taskDir;
              const file = dir && (await readTaskDirFile(dir, ctx.parts.slice(5).join('/')));
              if (!file) throw new EngineError('FileNotFound', 'The specified file does not exist.', 404);
              return { status: 200, file };
            },
          };
        }
        if (e === 'terminate' && m === 'POST') {
          return {
            op: 'Task_Terminate',
            run: () => {
              task();
              engine.terminateTask(b, d);
              return { status: 204 };
            },
          };
        }
      }
    }
    return undefined;
  };

  function pool0(id: string): NonNullable<ReturnType<typeof engine.getPool>> {
    const p = engine.getPool(id);
    if (!p) throw new EngineError('PoolNotFound', 'The specified pool does not exist.', 404);
    return p;
  }

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
        res.writeHead(reply.status, { ...headers, 'Content-Length': '0' }).end();
      }
    };
    const fail = (
      status: number,
      code: string,
      message: string,
      values?: readonly { key: string; value: string }[],
    ): void => send({ status, body: errorBody(base, code, message, values) });

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
    const ctx: Ctx = { method, parts, query, body, bodyBytes: size, base };
    const r = route(ctx);
    if (!r)
      return fail(400, 'InvalidUri', 'The requested URI does not represent any resource on the server.');
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
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownsEngine) await engine.close();
    },
  };
}
