/**
 * A typed client of the Deadline 10 Web Service REST API (default port 8081): jobs, tasks,
 * task commands, workers, pools, groups and limit groups. Basic auth, optional TLS with a
 * private CA, a timeout per attempt, bounded retries with backoff and jitter for retryable
 * faults only (no answer, 408, 429, 502-504), and an abort path. The password never reaches
 * a log line or an error message.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { redact, retry, ValidationError } from '@spillway/sdk';
import { DeadlineAnswerError, DeadlineRequestError, EmptyTaskListError } from './errors';
import {
  jobFromRaw,
  limitFromRaw,
  listOf,
  taskFromRaw,
  workerFromRaw,
  type DeadlineJob,
  type DeadlineJobState,
  type DeadlineLimit,
  type DeadlineTask,
  type DeadlineWorker,
  type DeadlineWorkerSettings,
  type RawJob,
  type RawLimit,
  type RawTask,
  type RawWorker,
} from './types';

/** Options of a `DeadlineClient`. */
export interface DeadlineClientOptions {
  /** Basic auth user. @default none (the Web Service without authentication) */
  readonly user?: string;
  /** Basic auth password. @default none */
  readonly password?: string;
  /** TLS: extra CA certificates to trust (PEM) for an `https:` URL. @default the system's */
  readonly ca?: string | Buffer;
  /** Reject servers whose certificate does not verify. @default true */
  readonly rejectUnauthorized?: boolean;
  /** Timeout of each attempt. @default 15000 */
  readonly timeoutMs?: number;
  /** Attempts in all for retryable faults. @default 4 */
  readonly maxAttempts?: number;
  /** Longest pause between attempts. @default 4000 */
  readonly maxBackoffMs?: number;
}

/** Options every call takes. */
export interface DeadlineCallOptions {
  readonly abortSignal?: AbortSignal;
}

/** Task commands of `PUT /api/tasks`. */
export type TaskCommand = 'suspend' | 'resume' | 'requeue' | 'complete' | 'fail' | 'pend' | 'releasepending';

/** Job submission as `POST /api/jobs` takes it: Deadline's job info and plugin info keys. */
export interface DeadlineSubmission {
  /** Job info keys: `Plugin`, `Name`, `Frames`, `ChunkSize`, `Group`, `Pool`, `Priority`, `OutputDirectory0`, `ExtraInfoKeyValue0`... */
  readonly jobInfo: Readonly<Record<string, string | number>>;
  /** Plugin info keys, e.g. Blender's `SceneFile` and `OutputFile`. */
  readonly pluginInfo: Readonly<Record<string, string | number>>;
}

/** The Deadline Web Service client. */
export class DeadlineClient {
  private readonly base: URL;
  private readonly auth: string | undefined;
  private readonly agent: http.Agent;
  private readonly secrets: string[] = [];

  constructor(
    /** e.g. `http://deadline-ws:8081`. */
    url: string,
    private readonly options: DeadlineClientOptions = {},
  ) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ValidationError('webservice', url, 'is not a URL; give one like http://host:8081');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw new ValidationError('webservice', url, 'must be an http: or https: URL');
    if (parsed.username || parsed.password)
      throw new ValidationError(
        'webservice',
        `${parsed.protocol}//${parsed.host}`,
        'must not carry credentials; use user and passwordFile',
      );
    this.base = parsed;
    if (options.user !== undefined) {
      const token = Buffer.from(`${options.user}:${options.password ?? ''}`).toString('base64');
      this.secrets = [token, ...(options.password ? [options.password] : [])];
      this.auth = `Basic ${token}`;
    }
    this.agent =
      parsed.protocol === 'https:'
        ? new https.Agent({
            keepAlive: true,
            ...(options.ca ? { ca: options.ca } : {}),
            rejectUnauthorized: options.rejectUnauthorized ?? true,
          })
        : new http.Agent({ keepAlive: true });
  }

  /** The Web Service's address (no credentials). */
  get url(): string {
    return this.base.origin;
  }

  /** Jobs in the given states (`GET /api/jobs?States=`). @default states ['active'] */
  async listJobs(
    states: readonly Exclude<DeadlineJobState, 'unknown'>[] = ['active'],
    options?: DeadlineCallOptions,
  ): Promise<DeadlineJob[]> {
    const q = states.map((s) => s[0]!.toUpperCase() + s.slice(1)).join(',');
    const body = await this.request('GET', `/api/jobs?States=${encodeURIComponent(q)}`, undefined, options);
    return records<RawJob>(
      'GET /api/jobs',
      body,
      'job',
      (r) => typeof r._id === 'string' && r._id !== '',
      '_id',
    ).map(jobFromRaw);
  }

  /** Jobs by id (`GET /api/jobs?JobID=a,b`); unknown ids are simply absent. */
  async getJobs(ids: readonly string[], options?: DeadlineCallOptions): Promise<DeadlineJob[]> {
    if (ids.length === 0) return [];
    const body = await this.request(
      'GET',
      `/api/jobs?JobID=${ids.map(encodeURIComponent).join(',')}`,
      undefined,
      options,
    );
    return records<RawJob>(
      'GET /api/jobs',
      body,
      'job',
      (r) => typeof r._id === 'string' && r._id !== '',
      '_id',
    ).map(jobFromRaw);
  }

  /** Submits a job (`POST /api/jobs`); resolves to its id. */
  async submitJob(submission: DeadlineSubmission, options?: DeadlineCallOptions): Promise<string> {
    const body = await this.request(
      'POST',
      '/api/jobs',
      { JobInfo: submission.jobInfo, PluginInfo: submission.pluginInfo, AuxFiles: [], IdOnly: true },
      options,
      false,
    );
    const id = (body as { _id?: unknown } | undefined)?._id;
    if (typeof id !== 'string')
      throw new DeadlineRequestError('POST /api/jobs', 200, 'answer carried no job _id');
    return id;
  }

  /**
   * A job's tasks (`GET /api/tasks?JobID=`). Servers answer `{ID, PreTask, Tasks, PostTask}`
   * or a bare list; both are accepted.
   */
  async listTasks(jobId: string, options?: DeadlineCallOptions): Promise<DeadlineTask[]> {
    if (!jobId) throw new ValidationError('jobId', jobId, 'is empty');
    const body = await this.request(
      'GET',
      `/api/tasks?JobID=${encodeURIComponent(jobId)}`,
      undefined,
      options,
    );
    const list = Array.isArray(body) ? body : (body as { Tasks?: unknown } | undefined)?.Tasks;
    return records<RawTask>(
      'GET /api/tasks',
      list,
      'task',
      (r) => /^\d+$/.test(String(r.TaskID ?? '')),
      'a whole-number TaskID',
    ).map((t) => taskFromRaw(t, jobId));
  }

  /**
   * Sends a task command (`PUT /api/tasks`) for exactly the listed tasks. An empty or
   * missing list throws `EmptyTaskListError` before anything is sent: Deadline would apply
   * the command to every task of the job.
   */
  async taskCommand(
    command: TaskCommand,
    jobId: string,
    taskIds: readonly number[],
    options?: DeadlineCallOptions,
  ): Promise<void> {
    if (!jobId) throw new ValidationError('JobID', jobId, 'is empty');
    if (!Array.isArray(taskIds) || taskIds.length === 0)
      throw new EmptyTaskListError(command, jobId, taskIds);
    for (const id of taskIds)
      if (!Number.isInteger(id) || id < 0)
        throw new ValidationError('TaskList', taskIds, `has ${String(id)}, which is not a task id`);
    // Idempotent: suspending a suspended task (etc.) changes nothing, so retries are safe.
    await this.request(
      'PUT',
      '/api/tasks',
      { Command: command, JobID: jobId, TaskList: [...taskIds] },
      options,
    );
  }

  /** Worker info records (`GET /api/slaves?Data=info`). */
  async listWorkers(options?: DeadlineCallOptions): Promise<DeadlineWorker[]> {
    const body = await this.request('GET', '/api/slaves?Data=info', undefined, options);
    return records<RawWorker>(
      'GET /api/slaves',
      body,
      'worker',
      (r) => typeof r.Name === 'string',
      'Name',
    ).map(workerFromRaw);
  }

  /** Worker settings (`GET /api/slaves?Data=settings`), of the named workers or all. */
  async listWorkerSettings(
    names?: readonly string[],
    options?: DeadlineCallOptions,
  ): Promise<DeadlineWorkerSettings[]> {
    const query = names && names.length > 0 ? `&Name=${names.map(encodeURIComponent).join(',')}` : '';
    const body = await this.request('GET', `/api/slaves?Data=settings${query}`, undefined, options);
    return records<Record<string, unknown>>(
      'GET /api/slaves?Data=settings',
      body,
      'worker settings',
      (r) => typeof r.Name === 'string',
      'Name',
    ).map((raw) => ({ name: String(raw.Name), enabled: raw.Enable !== false, raw }));
  }

  /**
   * Enables or disables a worker (`PUT /api/slaves` `savesettings` with its settings and
   * `Enable`). A disabled worker takes no new task; the one it renders finishes.
   */
  async setWorkerEnabled(
    settings: DeadlineWorkerSettings,
    enabled: boolean,
    options?: DeadlineCallOptions,
  ): Promise<void> {
    await this.request(
      'PUT',
      '/api/slaves',
      { Command: 'savesettings', SlaveSettings: { ...settings.raw, Enable: enabled } },
      options,
    );
  }

  /** Removes a worker's record from the repository (`DELETE /api/slaves?Name=`). */
  async deleteWorker(name: string, options?: DeadlineCallOptions): Promise<void> {
    await this.request('DELETE', `/api/slaves?Name=${encodeURIComponent(name)}`, undefined, options);
  }

  /** Pool names (`GET /api/pools`). */
  async listPools(options?: DeadlineCallOptions): Promise<string[]> {
    return listOf(await this.request('GET', '/api/pools', undefined, options));
  }

  /** Group names (`GET /api/groups`). */
  async listGroups(options?: DeadlineCallOptions): Promise<string[]> {
    return listOf(await this.request('GET', '/api/groups', undefined, options));
  }

  /**
   * Sets a limit group's limit (`PUT /api/limitgroups`, command `set`): how many tasks of its
   * jobs may render at once. The bridge lowers it by the cloud frames it holds, so local and
   * cloud together never exceed what the studio set.
   */
  async setLimit(name: string, limit: number, options?: DeadlineCallOptions): Promise<void> {
    if (!name) throw new ValidationError('Name', name, 'is empty');
    if (!Number.isInteger(limit) || limit < 0)
      throw new ValidationError('Limit', limit, 'must be a whole number >= 0');
    await this.request('PUT', '/api/limitgroups', { Command: 'set', Name: name, Limit: limit }, options);
  }

  /** Limit groups (`GET /api/limitgroups`). */
  async listLimits(options?: DeadlineCallOptions): Promise<DeadlineLimit[]> {
    const body = await this.request('GET', '/api/limitgroups', undefined, options);
    return records<RawLimit>(
      'GET /api/limitgroups',
      body,
      'limit group',
      (r) => typeof r.Name === 'string',
      'Name',
    ).map(limitFromRaw);
  }

  /** `text` without the password or the Basic token (a server may echo them), then `redact`ed. */
  private scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets) if (secret) out = out.split(secret).join('REDACTED');
    return redact(out);
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  private async request(
    method: string,
    pathAndQuery: string,
    body: unknown,
    options: DeadlineCallOptions = {},
    idempotent = true,
  ): Promise<unknown> {
    const label = `${method} ${pathAndQuery.split('?')[0]}`;
    try {
      return await retry(() => this.once(method, pathAndQuery, body, label, options.abortSignal), {
        maxAttempts: this.options.maxAttempts ?? 4,
        initialIntervalMs: 200,
        maxIntervalMs: this.options.maxBackoffMs ?? 4000,
        maxJitter: 0.5,
        // A request that got no answer may have been applied: repeated only when idempotent.
        retryable: (err) => {
          const e = err as DeadlineRequestError;
          return e.retryable && (idempotent || e.status !== 0);
        },
        ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
      });
    } catch (err) {
      if (options.abortSignal?.aborted && err === options.abortSignal.reason) {
        throw new DeadlineRequestError(label, 0, 'aborted', { cause: err });
      }
      throw err;
    }
  }

  private once(
    method: string,
    pathAndQuery: string,
    body: unknown,
    label: string,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const url = new URL(pathAndQuery, this.base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.auth) headers.Authorization = this.auth;
    if (payload) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(url, {
        method,
        headers,
        agent: this.agent,
        timeout: this.options.timeoutMs ?? 15_000,
      });
      const onAbort = (): void => void req.destroy(new Error('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      req.on('timeout', () =>
        req.destroy(new Error(`no answer within ${this.options.timeoutMs ?? 15_000} ms`)),
      );
      req.on('error', (err) => {
        done();
        reject(new DeadlineRequestError(label, 0, this.scrub(err.message), { cause: err }));
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => {
          done();
          reject(new DeadlineRequestError(label, 0, this.scrub(err.message), { cause: err }));
        });
        res.on('end', () => {
          done();
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) {
            const hint = status === 401 ? ' (check user and password file)' : '';
            reject(
              new DeadlineRequestError(
                label,
                status,
                this.scrub(`${status} ${text.slice(0, 300).trim()}${hint}`),
              ),
            );
            return;
          }
          if (text.trim() === '') {
            if (method === 'GET')
              reject(new DeadlineAnswerError(label, status, 'empty', 'answered nothing where JSON was due'));
            else resolve(undefined);
            return;
          }
          const type = String(res.headers['content-type'] ?? '');
          if (/html/i.test(type) || /^\s*<(!doctype|html)/i.test(text)) {
            reject(
              new DeadlineAnswerError(
                label,
                status,
                'html',
                `answered an HTML page, not JSON (is ${this.base.origin} the Web Service, not a proxy or login page?)`,
              ),
            );
            return;
          }
          try {
            resolve(JSON.parse(text));
          } catch (err) {
            // Deadline answers many PUTs with plain text ("Success"); a GET must be JSON.
            if (method !== 'GET') return resolve(text);
            reject(
              new DeadlineAnswerError(
                label,
                status,
                'not-json',
                this.scrub(
                  `answered ${text.length} bytes that are not JSON (truncated?): ${(err as Error).message}; starts ${JSON.stringify(text.slice(0, 60))}`,
                ),
              ),
            );
          }
        });
      });
      if (payload) req.write(payload);
      req.end();
    });
  }
}

/**
 * The records of a list answer, each checked for the field that identifies it: anything else
 * (an object where a list is due, a record without its id) is a `DeadlineAnswerError` naming
 * the first bad record, never a record with an undefined id.
 */
function records<T extends object>(
  label: string,
  body: unknown,
  what: string,
  ok: (r: T) => boolean,
  needs: string,
): T[] {
  const list = Array.isArray(body)
    ? body
    : body && typeof body === 'object' && ok(body as T)
      ? [body]
      : undefined;
  if (!list)
    throw new DeadlineAnswerError(
      label,
      200,
      'shape',
      `answered ${describe(body)} where a list of ${what}s is due`,
    );
  list.forEach((r: unknown, i) => {
    if (!r || typeof r !== 'object' || Array.isArray(r) || !ok(r as T))
      throw new DeadlineAnswerError(
        label,
        200,
        'shape',
        `answered a ${what} without ${needs} (item ${i}: ${describe(r)})`,
      );
  });
  return list as T[];
}

function describe(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
