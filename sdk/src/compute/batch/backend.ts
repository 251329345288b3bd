import type { BatchServiceClient, BatchServiceModels } from '@azure/batch';
import { resolveMountSecrets } from '../../storage/mounts-secrets';
import type { TokenCredential } from '@azure/core-auth';
import { randomUUID } from 'node:crypto';
import { FailedPreconditionError, NotFoundError } from '../../errors';
import type { Logger } from '../../logging';
import type {
  AddTasksResult,
  CapacityEvent,
  ComputeBackend,
  FaultKind,
  ComputeJobSpec,
  ComputeNode,
  ComputeTaskSpec,
  GroupSpec,
  GroupStatus,
  ListTasksOptions,
  NodeCounts,
  NodeState,
  OperationOptions,
  ResizeOptions,
  ResizeTarget,
  TaskCounts,
  TaskEvent,
  TaskFilePart,
  TaskFileRange,
  TaskInfo,
} from '../backend';
import { QuotaExceededError, type BatchQuotaSource } from '../quota';
import { gpusOfVmSize, vmSizeCores } from '../vm-sizes';
import { BATCH_BACKOFF, BatchError, batchFaultKind, isRetryable, toBatchError } from './errors';
import { retry, sleep, type BackoffOptions } from '../../retry';
import { mapLimit } from './limit';
import { nextPollDelay } from './poll';
import {
  MAX_NODES_PER_REMOVE,
  validateGroupSpec,
  validateId,
  validateJobSpec,
  validateResizeTarget,
  validateTasks,
  formatIsoDuration,
  nodeStateOf,
} from '../batch-vocabulary';
import {
  META_MAX_DEDICATED,
  META_MAX_SPOT,
  chunkTasks,
  odataDate,
  sameTask,
  taskInfoFromWire,
  toWireJob,
  toWirePool,
  toWireTask,
} from './wire';

/** Shared-key credentials of a Batch account. */
export interface BatchSharedKey {
  readonly accountName: string;
  /** Base64 account key. Never logged. */
  readonly accountKey: string;
}

/** Options of the Azure Batch backend. */
export interface BatchComputeBackendOptions {
  /** Account URL, e.g. `https://acct.westeurope.batch.azure.com` (or the emulator's URL). */
  readonly accountUrl: string;
  /** Shared key, or an Azure AD `TokenCredential` (e.g. `DefaultAzureCredential`). */
  readonly credential: BatchSharedKey | TokenCredential;
  /**
   * How groups map to pools: `persistent` creates a missing pool and reuses an existing one;
   * `existing` only uses pools that already exist (a missing one is a NotFoundError);
   * `auto` makes an auto pool per job (`autoPoolSpecification`, lifetime `job`) from the group's
   * spec and current targets: the group is the set of its jobs' pools, resized together.
   * @default 'persistent'
   */
  readonly poolMode?: 'persistent' | 'existing' | 'auto';
  /** Tasks per add-collection call, 1-100 (1 is one task per call, for comparison). @default 100 */
  readonly maxTasksPerCall?: number;
  /** Add-collection calls in flight at once. @default 4 */
  readonly maxConcurrentCalls?: number;
  /** Timeout of each HTTP request. @default 30000 */
  readonly requestTimeoutMs?: number;
  /** Retry of retryable faults. @default {@link BATCH_BACKOFF}: 6 attempts, 200 ms first pause, 10 s cap, full jitter */
  readonly retry?: BackoffOptions;
  /**
   * Longest poll interval of task and capacity monitoring (only while someone listens),
   * reached by backing off while nothing moves. @default 5000
   */
  readonly pollIntervalMs?: number;
  /**
   * Poll interval while a watched job has tasks running, or the last poll saw its counts
   * change: how late a completion is seen at most (plus one call). @default a tenth of
   * `pollIntervalMs`, at least 100 (500 at its default)
   */
  readonly activePollIntervalMs?: number;
  /** How long a resize or node removal waits for a running resize before stopping it. @default 60000 */
  readonly resizeConflictWaitMs?: number;
  /**
   * How long `createJob` waits for Batch to delete an ended job of the same id before making
   * it again (a job cannot be reopened once terminated). @default 300000
   */
  readonly jobReplaceTimeoutMs?: number;
  /**
   * Where the account's quotas are read (`fixedBatchQuotas({...})`, or `ArmBatchQuotaSource`
   * for the account's ARM resource). With it, a resize beyond the dedicated or low-priority
   * core quota, or a pool beyond the pool quota, is refused before Batch is asked, with a
   * `QuotaExceededError` naming the quota. @default none (Batch reports it later, on the pool)
   */
  readonly quotas?: BatchQuotaSource;
  /** Azure AD scope for TokenCredential auth. @default 'https://batch.core.windows.net//.default' */
  readonly tokenScope?: string;
  /** Where retries and monitoring problems are reported. @default silent */
  readonly logger?: Logger;
}

const RESIZING_CODES = new Set([
  'PoolBeingResized',
  'PoolNotSteady',
  'PoolResizing',
  'TooManyRequestsToResizePool',
  'PoolIsResizing',
]);
const TASK_SELECT = 'id,state,stateTransitionTime,executionInfo,nodeInfo';

function isTokenCredential(c: unknown): c is TokenCredential {
  return typeof (c as { getToken?: unknown }).getToken === 'function';
}

/** ms-rest credentials that put an Azure AD bearer token on each request (cached until near expiry). */
class BearerCredentials {
  private token?: { value: string; expires: number };
  constructor(
    private readonly credential: TokenCredential,
    private readonly scope: string,
  ) {}
  async signRequest<T extends { headers: { set(name: string, value: string): void } }>(
    resource: T,
  ): Promise<T> {
    if (!this.token || this.token.expires - Date.now() < 120_000) {
      const t = await this.credential.getToken(this.scope);
      if (!t)
        throw new BatchError(
          'CredentialUnavailable',
          'The TokenCredential returned no token for Azure Batch.',
        );
      this.token = { value: t.token, expires: t.expiresOnTimestamp };
    }
    resource.headers.set('authorization', `Bearer ${this.token.value}`);
    return resource;
  }
}

interface KnownTask {
  state: string;
  retryCount: number;
  requeueCount: number;
  time: number;
}

interface JobWatch {
  watermark?: Date;
  lastCounts?: string;
  known: Map<string, KnownTask>;
  /** Terminated: watched until its last task changes are seen, then dropped. */
  ending?: boolean;
}

interface GroupWatch {
  /** The group the pool belongs to (the pool id itself, except for auto pools). */
  group: string;
  allocationState?: string;
  errors: Set<string>;
  nodes: Map<string, string>;
}

/**
 * The Azure Batch backend, over the real `@azure/batch` client. Tasks go in add-collection
 * calls of up to 100 tasks and under 1 MB, several in flight; a retry after a fault re-sends
 * the same ids and counts `TaskExists` for an identical task as done (checked by GET), so no
 * task is ever created twice. Retryable faults are retried with backoff and jitter; other
 * errors are {@link BatchError}s with Batch's code. Monitoring reads task counts and task
 * listings filtered by `stateTransitionTime` with `$select`, never the whole job.
 */
export class BatchComputeBackend implements ComputeBackend {
  readonly kind = 'batch' as const;

  faultKind(_jobId: string, error: unknown): FaultKind {
    return batchFaultKind(error);
  }
  /** The underlying client (for what the contract does not cover). */
  readonly client: BatchServiceClient;
  private readonly bounds = new Map<string, { maxDedicatedNodes: number; maxSpotNodes: number }>();
  private readonly taskListeners = new Set<(e: TaskEvent) => void>();
  private readonly capacityListeners = new Set<(e: CapacityEvent) => void>();
  private readonly jobs = new Map<string, JobWatch>();
  /** Watched pools by pool id. */
  private readonly groups = new Map<string, GroupWatch>();
  /** Auto-pool groups: the spec, the current targets, and the pools of their jobs. */
  private readonly autoGroups = new Map<
    string,
    { spec: GroupSpec; target: ResizeTarget; pools: Set<string> }
  >();
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  /** Delay before the next poll; whether the last one saw work; when the last one ended. */
  private pollDelayMs = 0;
  private pollBusy = false;
  private lastPollAt?: number;
  private closed = false;
  private readonly abort = new AbortController();
  private readonly baseUrl: string;

  constructor(private readonly options: BatchComputeBackendOptions) {
    if (!/^https?:\/\/[^/]+/.test(options.accountUrl ?? '')) {
      throw new (require('../../errors') as typeof import('../../errors')).ValidationError(
        'accountUrl',
        options.accountUrl,
        'must be the Batch account URL, e.g. https://acct.westeurope.batch.azure.com',
      );
    }
    const batch = require('@azure/batch') as typeof import('@azure/batch');
    const credentials = isTokenCredential(options.credential)
      ? new BearerCredentials(
          options.credential,
          options.tokenScope ?? 'https://batch.core.windows.net//.default',
        )
      : new batch.BatchSharedKeyCredentials(options.credential.accountName, options.credential.accountKey);
    // Our own retry (bounded, jittered, abortable) replaces the client's 30-second default policy.
    this.baseUrl = options.accountUrl.replace(/\/+$/, '');
    this.client = new batch.BatchServiceClient(credentials as never, options.accountUrl.replace(/\/+$/, ''), {
      noRetryPolicy: true,
    } as never);
  }

  // ---------------------------------------------------------------- plumbing

  /**
   * Runs one Batch call with retries. Each attempt gets its own request options: an abort
   * signal that fires on the caller's abort, on `close()`, or after `requestTimeoutMs` (our
   * own timer: the client's `timeout` option leaves a live timer behind every request). A
   * timed-out attempt is retried; an aborted call is not.
   */
  private call<T>(
    fn: (request: { abortSignal: never }) => Promise<T>,
    options: OperationOptions = {},
    what = 'call',
  ): Promise<T> {
    const signals = [this.abort.signal];
    if (options.abortSignal) signals.push(options.abortSignal);
    const signal = AbortSignal.any(signals);
    const timeoutMs = this.options.requestTimeoutMs ?? 30_000;
    return retry(
      // The client types its signal as its own AbortSignalLike; Node's AbortSignal is one.
      () => fn({ abortSignal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) as never }),
      {
        ...BATCH_BACKOFF,
        ...this.options.retry,
        retryable: isRetryable,
        abortSignal: signal,
        onRetry: (e, attempt) =>
          this.options.logger?.debug(`batch: retrying ${what}`, { attempt, code: toBatchError(e).code }),
      },
    ).catch((e: unknown) => {
      if (signal.aborted) throw signal.reason;
      throw toBatchError(e);
    });
  }

  private static code(e: unknown): string | undefined {
    return e instanceof BatchError ? e.code : undefined;
  }

  // ---------------------------------------------------------------- groups (pools)

  async ensureGroup(spec: GroupSpec, options: OperationOptions = {}): Promise<GroupStatus> {
    validateGroupSpec(spec, { requireImage: this.options.poolMode !== 'existing' });
    this.bounds.set(spec.name, {
      maxDedicatedNodes: spec.maxDedicatedNodes,
      maxSpotNodes: spec.maxSpotNodes,
    });
    if (this.options.poolMode === 'auto') {
      // No pool until a job needs one.
      const known = this.autoGroups.get(spec.name);
      this.autoGroups.set(spec.name, {
        spec,
        target: known?.target ?? { dedicated: 0, spot: 0 },
        pools: known?.pools ?? new Set(),
      });
      return this.autoStatus(spec.name, options);
    }
    let status = await this.getGroup(spec.name, options);
    if (!status) {
      if (this.options.poolMode === 'existing') {
        throw new NotFoundError(
          `Batch pool "${spec.name}" does not exist and poolMode is "existing": create it first`,
        );
      }
      await this.checkPoolQuota(spec.name, options);
      try {
        // Mount secrets are read now, go into this request only, and are never kept or logged.
        const secrets = await resolveMountSecrets(spec.mounts ?? []);
        await this.call((r) => this.client.pool.add(toWirePool(spec, secrets), r), options, 'pool add');
      } catch (e) {
        // A retry after a fault that was applied finds the pool made by the first attempt.
        if (BatchComputeBackend.code(e) !== 'PoolExists') throw e;
      }
      status = await this.getGroup(spec.name, options);
      if (!status)
        throw new BatchError('PoolNotFound', `Batch pool "${spec.name}" vanished right after it was created`);
    }
    this.watchGroup(spec.name);
    return status;
  }

  private async pool(
    name: string,
    options: OperationOptions,
  ): Promise<BatchServiceModels.CloudPool | undefined> {
    try {
      return await this.call((r) => this.client.pool.get(name, r), options, 'pool get');
    } catch (e) {
      if (BatchComputeBackend.code(e) === 'PoolNotFound') return undefined;
      throw e;
    }
  }

  private async wireNodes(
    pool: string,
    options: OperationOptions,
  ): Promise<BatchServiceModels.ComputeNode[]> {
    const select = {
      computeNodeListOptions: {
        select: 'id,state,isDedicated,runningTasksCount,allocationTime,errors,vmSize',
      },
    };
    let page = await this.call(
      (r) => this.client.computeNode.list(pool, { ...select, ...r }),
      options,
      'node list',
    );
    const nodes = [...page];
    while (page.odatanextLink) {
      const link = page.odatanextLink;
      page = await this.call((r) => this.client.computeNode.listNext(link, r), options, 'node list');
      nodes.push(...page);
    }
    return nodes;
  }

  private status(
    pool: BatchServiceModels.CloudPool,
    nodes: readonly BatchServiceModels.ComputeNode[],
  ): GroupStatus {
    const counts: Partial<Record<NodeState, { dedicated: number; spot: number }>> = {};
    for (const n of nodes) {
      const c = (counts[nodeStateOf(n.state)] ??= { dedicated: 0, spot: 0 });
      c[n.isDedicated ? 'dedicated' : 'spot']++;
    }
    const meta = new Map((pool.metadata ?? []).map((m) => [m.name, m.value]));
    const maxD = Number(meta.get(META_MAX_DEDICATED));
    const maxS = Number(meta.get(META_MAX_SPOT));
    if (!this.bounds.has(pool.id!) && Number.isInteger(maxD) && Number.isInteger(maxS)) {
      this.bounds.set(pool.id!, { maxDedicatedNodes: maxD, maxSpotNodes: maxS });
    }
    const observedAt = pool.allocationStateTransitionTime
      ? new Date(pool.allocationStateTransitionTime)
      : new Date();
    return {
      name: pool.id!,
      state:
        pool.state === 'deleting' ? 'deleting' : pool.allocationState === 'steady' ? 'steady' : 'resizing',
      targetDedicatedNodes: pool.targetDedicatedNodes ?? 0,
      targetSpotNodes: pool.targetLowPriorityNodes ?? 0,
      currentDedicatedNodes: pool.currentDedicatedNodes ?? 0,
      currentSpotNodes: pool.currentLowPriorityNodes ?? 0,
      nodeCounts: counts as NodeCounts,
      errors: (pool.resizeErrors ?? []).map((e) => ({
        code: e.code ?? 'ResizeError',
        message: e.message ?? '',
        observedAt,
      })),
      backendId: pool.id!,
    };
  }

  /** An auto-pool group's status: its jobs' pools added up. */
  private async autoStatus(name: string, options: OperationOptions): Promise<GroupStatus> {
    const g = this.autoGroups.get(name)!;
    const parts: GroupStatus[] = [];
    for (const poolId of [...g.pools]) {
      const pool = await this.pool(poolId, options);
      if (!pool || pool.state === 'deleting') g.pools.delete(poolId);
      else parts.push(this.status(pool, await this.wireNodes(poolId, options)));
    }
    const counts: Partial<Record<NodeState, { dedicated: number; spot: number }>> = {};
    for (const p of parts) {
      for (const [state, c] of Object.entries(p.nodeCounts) as [
        NodeState,
        { dedicated: number; spot: number },
      ][]) {
        const sum = (counts[state] ??= { dedicated: 0, spot: 0 });
        sum.dedicated += c.dedicated;
        sum.spot += c.spot;
      }
    }
    return {
      name,
      state: parts.some((p) => p.state === 'resizing') ? 'resizing' : 'steady',
      targetDedicatedNodes: g.target.dedicated,
      targetSpotNodes: g.target.spot,
      currentDedicatedNodes: parts.reduce((n, p) => n + p.currentDedicatedNodes, 0),
      currentSpotNodes: parts.reduce((n, p) => n + p.currentSpotNodes, 0),
      nodeCounts: counts as NodeCounts,
      errors: parts.flatMap((p) => p.errors),
      backendId: `auto:${[...g.pools].join(',')}`,
    };
  }

  async getGroup(name: string, options: OperationOptions = {}): Promise<GroupStatus | undefined> {
    if (this.autoGroups.has(name)) return this.autoStatus(name, options);
    if (this.options.poolMode === 'auto') return undefined;
    const pool = await this.pool(name, options);
    return pool ? this.status(pool, await this.wireNodes(name, options)) : undefined;
  }

  async listGroups(options: OperationOptions = {}): Promise<GroupStatus[]> {
    if (this.options.poolMode === 'auto') {
      return Promise.all([...this.autoGroups.keys()].map((name) => this.autoStatus(name, options)));
    }
    let page = await this.call((r) => this.client.pool.list(r), options, 'pool list');
    const pools = [...page];
    while (page.odatanextLink) {
      const link = page.odatanextLink;
      page = await this.call((r) => this.client.pool.listNext(link, r), options, 'pool list');
      pools.push(...page);
    }
    return Promise.all(pools.map(async (p) => this.status(p, await this.wireNodes(p.id!, options))));
  }

  /** Waits until the pool's allocation is steady, up to `untilMs` (epoch); returns whether it is. */
  private async waitSteady(name: string, untilMs: number, options: OperationOptions): Promise<boolean> {
    const step = Math.min(this.options.pollIntervalMs ?? 5000, 1000);
    for (;;) {
      const pool = await this.pool(name, options);
      if (!pool) throw new NotFoundError(`Batch pool "${name}" does not exist`);
      if (pool.allocationState === 'steady') return true;
      if (Date.now() >= untilMs) return false;
      await sleep(step, options.abortSignal);
    }
  }

  /**
   * Runs a pool operation Batch refuses while the pool resizes: on that 409 it waits for the
   * resize to finish, stops it when it takes longer than `resizeConflictWaitMs`, and tries again.
   */
  private async whileSteady(
    name: string,
    op: (r: { abortSignal: never }) => Promise<unknown>,
    options: OperationOptions,
    what: string,
  ): Promise<void> {
    const waitMs = this.options.resizeConflictWaitMs ?? 60_000;
    for (let conflicts = 0; ; conflicts++) {
      try {
        await this.call(op, options, what);
        return;
      } catch (e) {
        if (
          !(e instanceof BatchError && e.statusCode === 409 && RESIZING_CODES.has(e.code)) ||
          conflicts >= 5
        )
          throw e;
        if (!(await this.waitSteady(name, Date.now() + waitMs, options))) {
          this.options.logger?.warn('batch: stopping a resize that outlasted resizeConflictWaitMs', {
            pool: name,
          });
          await this.call((r) => this.client.pool.stopResize(name, r), options, 'stop resize').catch(
            () => undefined,
          );
          await this.waitSteady(name, Date.now() + waitMs, options);
        }
      }
    }
  }

  async resizeGroup(name: string, target: ResizeTarget, options: ResizeOptions = {}): Promise<GroupStatus> {
    validateResizeTarget(target, this.bounds.get(name));
    await this.checkCoreQuota(name, target, options);
    const auto = this.autoGroups.get(name);
    if (auto) {
      auto.target = target;
      for (const poolId of [...auto.pools]) await this.resizePool(poolId, target, options);
      return this.autoStatus(name, options);
    }
    await this.resizePool(name, target, options);
    const status = await this.getGroup(name, options);
    if (!status) throw new NotFoundError(`Batch pool "${name}" does not exist`);
    return status;
  }

  /** Every pool of the account, with what quotas count. */
  private async quotaPools(options: OperationOptions): Promise<BatchServiceModels.CloudPool[]> {
    const listOptions = {
      poolListOptions: {
        select:
          'id,state,vmSize,targetDedicatedNodes,targetLowPriorityNodes,currentDedicatedNodes,currentLowPriorityNodes',
      },
    };
    let page = await this.call((r) => this.client.pool.list({ ...listOptions, ...r }), options, 'pool list');
    const pools = [...page];
    while (page.odatanextLink) {
      const link = page.odatanextLink;
      page = await this.call((r) => this.client.pool.listNext(link, r), options, 'pool list');
      pools.push(...page);
    }
    return pools.filter((p) => p.state !== 'deleting');
  }

  /**
   * Refuses a resize the account's core quotas cannot hold, before Batch is asked (Batch
   * accepts it and reports `AccountCoreQuotaReached` on the pool later). Each other pool
   * counts what it holds or was asked for, whichever is more.
   */
  private async checkCoreQuota(name: string, target: ResizeTarget, options: OperationOptions): Promise<void> {
    if (!this.options.quotas) return;
    const quotas = await this.options.quotas.getQuotas(options);
    if (quotas.dedicatedCores === undefined && quotas.lowPriorityCores === undefined) return;
    const auto = this.autoGroups.get(name);
    const mine = new Set((auto ? [...auto.pools] : [name]).map((p) => p.toLowerCase()));
    let vmSize = auto?.spec.vmSize;
    const other = { dedicated: 0, spot: 0 };
    for (const p of await this.quotaPools(options)) {
      const cores = vmSizeCores(p.vmSize ?? '') ?? 1;
      if (mine.has(p.id!.toLowerCase())) {
        vmSize ??= p.vmSize;
        continue;
      }
      other.dedicated += Math.max(p.targetDedicatedNodes ?? 0, p.currentDedicatedNodes ?? 0) * cores;
      other.spot += Math.max(p.targetLowPriorityNodes ?? 0, p.currentLowPriorityNodes ?? 0) * cores;
    }
    if (vmSize === undefined) return; // no such pool: the resize itself says so
    const cores = vmSizeCores(vmSize) ?? 1;
    const pools = Math.max(1, auto ? auto.pools.size : 1);
    for (const [quota, limit, used, nodes, kind] of [
      ['dedicatedCores', quotas.dedicatedCores, other.dedicated, target.dedicated, 'dedicated'],
      ['lowPriorityCores', quotas.lowPriorityCores, other.spot, target.spot, 'spot'],
    ] as const) {
      const need = nodes * cores * pools;
      if (limit !== undefined && need > 0 && used + need > limit) {
        throw new QuotaExceededError(
          quota,
          limit,
          used,
          need,
          `resize group "${name}" to ${nodes} ${kind} nodes of ${vmSize} (${cores} cores each${pools > 1 ? `, in each of ${pools} pools` : ''})`,
        );
      }
    }
  }

  /** Refuses a new pool beyond the account's pool quota, before Batch is asked. */
  private async checkPoolQuota(name: string, options: OperationOptions): Promise<void> {
    if (!this.options.quotas) return;
    const { pools: limit } = await this.options.quotas.getQuotas(options);
    if (limit === undefined) return;
    const used = (await this.quotaPools(options)).length;
    if (used + 1 > limit)
      throw new QuotaExceededError('pools', limit, used, 1, `create the pool of group "${name}"`);
  }

  private async resizePool(poolId: string, target: ResizeTarget, options: ResizeOptions): Promise<void> {
    await this.whileSteady(
      poolId,
      (r) =>
        this.client.pool.resize(
          poolId,
          {
            targetDedicatedNodes: target.dedicated,
            targetLowPriorityNodes: target.spot,
            nodeDeallocationOption: options.deallocation === 'requeue' ? 'requeue' : 'taskcompletion',
            ...(options.resizeTimeoutMs !== undefined
              ? { resizeTimeout: formatIsoDuration(options.resizeTimeoutMs) }
              : {}),
          },
          r,
        ),
      options,
      'pool resize',
    );
    this.watchGroup(poolId, this.groupOf(poolId));
    // Quota errors show at once on the pool: report them now, not at the next poll.
    const pool = await this.pool(poolId, options);
    this.noteGroup(
      poolId,
      (pool?.resizeErrors ?? []).map((e) => ({ code: e.code ?? 'ResizeError', message: e.message ?? '' })),
      undefined,
      undefined,
    );
  }

  /** The group a pool belongs to. */
  private groupOf(poolId: string): string {
    for (const [name, g] of this.autoGroups) if (g.pools.has(poolId)) return name;
    return poolId;
  }

  /**
   * Deletes the group's pools. Their active jobs are terminated first: Batch leaves a job
   * active when its pool goes, and an active job counts against the account's quota forever.
   */
  async deleteGroup(name: string, options: OperationOptions = {}): Promise<void> {
    const auto = this.autoGroups.get(name);
    await this.terminateJobsOn(new Set(auto ? [...auto.pools] : [name]), options);
    if (auto) {
      for (const poolId of [...auto.pools]) await this.deleteGroupPool(poolId, options);
      this.autoGroups.delete(name);
      this.bounds.delete(name);
      return;
    }
    await this.deleteGroupPool(name, options);
    this.bounds.delete(name);
  }

  /** Terminates every active job that runs on one of these pools. */
  private async terminateJobsOn(poolIds: ReadonlySet<string>, options: OperationOptions): Promise<void> {
    if (poolIds.size === 0) return;
    const wanted = new Set([...poolIds].map((p) => p.toLowerCase()));
    const listOptions = {
      jobListOptions: { filter: "state eq 'active'", select: 'id,poolInfo,executionInfo' },
    };
    let page = await this.call((r) => this.client.job.list({ ...listOptions, ...r }), options, 'job list');
    const ids: string[] = [];
    for (;;) {
      for (const j of page) {
        const pool = j.executionInfo?.poolId ?? j.poolInfo?.poolId;
        if (pool && wanted.has(pool.toLowerCase())) ids.push(j.id!);
      }
      const link = page.odatanextLink;
      if (!link) break;
      page = await this.call((r) => this.client.job.listNext(link, r), options, 'job list');
    }
    await mapLimit(ids, this.options.maxConcurrentCalls ?? 4, (id) => this.terminateJob(id, options));
    if (ids.length > 0)
      this.options.logger?.info('batch: terminated the jobs of a deleted group', { jobs: ids.length });
  }

  private async deleteGroupPool(name: string, options: OperationOptions): Promise<void> {
    try {
      await this.call((r) => this.client.pool.deleteMethod(name, r), options, 'pool delete');
    } catch (e) {
      const code = BatchComputeBackend.code(e);
      if (code !== 'PoolNotFound' && code !== 'PoolBeingDeleted') throw e;
    }
    this.groups.delete(name);
  }

  async listNodes(group: string, options: OperationOptions = {}): Promise<ComputeNode[]> {
    const auto = this.autoGroups.get(group);
    if (auto) {
      const all: ComputeNode[] = [];
      for (const poolId of [...auto.pools]) {
        try {
          all.push(...(await this.listPoolNodes(poolId, options)).map((n) => ({ ...n, group })));
        } catch (e) {
          if (!(e instanceof NotFoundError)) throw e;
        }
      }
      return all;
    }
    return this.listPoolNodes(group, options);
  }

  private async listPoolNodes(group: string, options: OperationOptions): Promise<ComputeNode[]> {
    let nodes: BatchServiceModels.ComputeNode[];
    try {
      nodes = await this.wireNodes(group, options);
    } catch (e) {
      if (BatchComputeBackend.code(e) === 'PoolNotFound')
        throw new NotFoundError(`Batch pool "${group}" does not exist`);
      throw e;
    }
    return nodes.map((n) => ({
      id: n.id!,
      group,
      state: nodeStateOf(n.state),
      priority: n.isDedicated ? 'dedicated' : 'spot',
      runningTasks: n.runningTasksCount ?? 0,
      createdAt: n.allocationTime ? new Date(n.allocationTime) : new Date(0),
      // Batch reports no GPUs; a node's VM size says how many it has.
      gpus: gpusOfVmSize(n.vmSize ?? '') ?? 0,
    }));
  }

  async removeNodes(
    group: string,
    nodeIds: readonly string[],
    options: OperationOptions = {},
  ): Promise<void> {
    nodeIds.forEach((id, i) => validateId(`nodeIds[${i}]`, id));
    const auto = this.autoGroups.get(group);
    if (auto) {
      const wanted = new Set(nodeIds);
      for (const poolId of [...auto.pools]) {
        const here = (await this.listPoolNodes(poolId, options))
          .map((n) => n.id)
          .filter((id) => wanted.has(id));
        if (here.length) await this.removeNodes(poolId, here, options);
      }
      return;
    }
    for (let i = 0; i < nodeIds.length; i += MAX_NODES_PER_REMOVE) {
      const nodeList = nodeIds.slice(i, i + MAX_NODES_PER_REMOVE);
      await this.whileSteady(
        group,
        (r) => this.client.pool.removeNodes(group, { nodeList, nodeDeallocationOption: 'taskcompletion' }, r),
        options,
        'remove nodes',
      );
    }
  }

  onCapacityEvent(listener: (event: CapacityEvent) => void): () => void {
    this.capacityListeners.add(listener);
    this.startPolling();
    return () => this.capacityListeners.delete(listener);
  }

  // ---------------------------------------------------------------- jobs and tasks

  async createJob(spec: ComputeJobSpec, options: OperationOptions = {}): Promise<void> {
    validateJobSpec(spec);
    const auto = this.autoGroups.get(spec.group);
    if (this.options.poolMode === 'auto' && !auto) {
      throw new NotFoundError(`group "${spec.group}" is not known: ensureGroup it first (poolMode "auto")`);
    }
    const wire = toWireJob(spec);
    if (auto) {
      const secrets = await resolveMountSecrets(auto.spec.mounts ?? []);
      const { id: _id, metadata: _metadata, ...pool } = toWirePool(auto.spec, secrets);
      wire.poolInfo = {
        autoPoolSpecification: {
          autoPoolIdPrefix: spec.group.slice(0, 20),
          poolLifetimeOption: 'job',
          keepAlive: false,
          pool: {
            ...pool,
            targetDedicatedNodes: auto.target.dedicated,
            targetLowPriorityNodes: auto.target.spot,
          },
        },
      };
    }
    const deadline = Date.now() + (this.options.jobReplaceTimeoutMs ?? 300_000);
    for (let round = 0; ; round++) {
      try {
        await this.call((r) => this.client.job.add(wire, r), options, 'job add');
        break;
      } catch (e) {
        const code = BatchComputeBackend.code(e);
        if (code !== 'JobExists' && code !== 'JobBeingDeleted') throw e;
        const job =
          code === 'JobExists'
            ? await this.call(
                (r) => this.client.job.get(spec.id, { jobGetOptions: { select: 'id,poolInfo,state' }, ...r }),
                options,
                'job get',
              ).catch((err: unknown) => {
                if (BatchComputeBackend.code(err) === 'JobNotFound') return undefined; // gone meanwhile
                throw err;
              })
            : undefined;
        if (job && job.state !== 'completed' && job.state !== 'terminating' && job.state !== 'deleting') {
          const same = auto
            ? job.poolInfo?.autoPoolSpecification?.autoPoolIdPrefix === spec.group.slice(0, 20)
            : job.poolInfo?.poolId === spec.group;
          if (!same) {
            throw new FailedPreconditionError(
              `job "${spec.id}" exists on pool "${job.poolInfo?.poolId ?? '(auto)'}", not "${spec.group}"`,
            );
          }
          break;
        }
        // The job ended (its frames had all settled) and more come: a Batch job cannot be
        // reopened, so it is deleted and made again under the same id once it is gone.
        if (job && job.state !== 'deleting') {
          this.options.logger?.debug('batch: replacing an ended job', { jobId: spec.id, state: job.state });
          await this.deleteJob(spec.id, options);
        }
        this.jobs.delete(spec.id);
        if (Date.now() >= deadline) {
          throw new BatchError(
            'JobBeingDeleted',
            `job "${spec.id}" ended and could not be made again within jobReplaceTimeoutMs (${this.options.jobReplaceTimeoutMs ?? 300_000} ms): Batch is still deleting it`,
            409,
          );
        }
        await sleep(Math.min(5000, 100 * 2 ** Math.min(round, 6)), options.abortSignal);
      }
    }
    if (auto) {
      // The auto pool's id is the service's choice: read it back.
      const job = await this.call(
        (r) => this.client.job.get(spec.id, { jobGetOptions: { select: 'id,executionInfo' }, ...r }),
        options,
        'job get',
      );
      const poolId = job.executionInfo?.poolId;
      if (poolId) {
        auto.pools.add(poolId);
        this.watchGroup(poolId, spec.group);
      }
    }
    this.watchJob(spec.id);
  }

  async addTasks(
    jobId: string,
    tasks: readonly ComputeTaskSpec[],
    options: OperationOptions = {},
  ): Promise<AddTasksResult> {
    validateId('jobId', jobId);
    validateTasks(tasks);
    const wire = tasks.map(toWireTask);
    const json = new Map(wire.map((t) => [t.id, JSON.stringify(t)]));
    const chunks = chunkTasks(wire, this.options.maxTasksPerCall ?? 100, (t) =>
      Buffer.byteLength(json.get(t.id)!),
    );
    const added: string[] = [];
    const existing: BatchServiceModels.TaskAddParameter[] = [];
    const failures: { id: string; error: BatchError }[] = [];
    const maxAttempts = this.options.retry?.maxAttempts ?? 6;
    let firstCreated = Infinity;
    await mapLimit(chunks, this.options.maxConcurrentCalls ?? 4, async (chunk) => {
      let pending = chunk;
      for (let round = 1; pending.length > 0; round++) {
        // Whole-call faults are retried inside `call` with the same ids.
        const body = `{"value":[${pending.map((t) => json.get(t.id)).join(',')}]}`;
        const result = await this.call((r) => this.addCollection(jobId, body, r), options, 'add tasks');
        const byId = new Map(pending.map((t) => [t.id, t]));
        const again: BatchServiceModels.TaskAddParameter[] = [];
        for (const r of result) {
          const sent = byId.get(r.taskId);
          if (!sent) continue;
          byId.delete(r.taskId);
          if (r.status === 'success') {
            added.push(r.taskId);
            // The service's own clock: monitoring starts from the first creation it saw.
            const at = r.lastModified ? new Date(r.lastModified).getTime() : NaN;
            if (Number.isFinite(at)) firstCreated = Math.min(firstCreated, at);
          } else if (r.error?.code === 'TaskExists') existing.push(sent);
          else if (r.status === 'servererror') again.push(sent);
          else {
            failures.push({
              id: r.taskId,
              error: toBatchError({
                statusCode: 400,
                code: r.error?.code,
                body: r.error,
                message: r.error?.message,
              }),
            });
          }
        }
        // A task Batch did not answer for is sent again.
        again.push(...byId.values());
        if (again.length > 0 && round >= maxAttempts) {
          for (const t of again)
            failures.push({
              id: t.id,
              error: new BatchError('ServerError', `Batch kept failing to add task "${t.id}"`),
            });
          return;
        }
        pending = again;
        if (pending.length) await sleep(200 * round, options.abortSignal);
      }
    });
    // TaskExists: identical (an earlier, interrupted attempt added it) counts as done.
    const alreadyExisted: string[] = [];
    await mapLimit(existing, this.options.maxConcurrentCalls ?? 4, async (sent) => {
      const got = await this.call(
        (r) =>
          this.client.task.get(jobId, sent.id, {
            taskGetOptions: {
              select: 'id,commandLine,environmentSettings,resourceFiles,outputFiles,constraints',
            },
            ...r,
          }),
        options,
        'task get',
      );
      if (sameTask(sent, got)) alreadyExisted.push(sent.id);
      else {
        failures.push({
          id: sent.id,
          error: new BatchError(
            'TaskExists',
            `task "${sent.id}" already exists in job "${jobId}" with a different spec`,
            409,
          ),
        });
      }
    });
    if (failures.length > 0) {
      const first = failures[0]!;
      throw new BatchError(
        first.error.code,
        `${failures.length} of ${tasks.length} tasks were not added to job "${jobId}"; first: task "${first.id}": ${first.error.message}`,
        first.error.statusCode,
        first.error.values,
      );
    }
    this.watchJob(jobId);
    const watch = this.jobs.get(jobId)!;
    if (!watch.watermark && Number.isFinite(firstCreated)) watch.watermark = new Date(firstCreated - 1000);
    return { added, alreadyExisted };
  }

  /**
   * Add-collection with a body serialized once by us: plain JSON of the wire shape, so the
   * 1 MB limit is checked on the exact bytes. It goes through the client's own pipeline
   * (`sendRequest`: the same SharedKey or bearer signing, headers and transport as the
   * generated `task.addCollection`), skipping only its per-property mapper serializer,
   * which costs more CPU than everything else in a 100-task call.
   */
  private async addCollection(
    jobId: string,
    body: string,
    request: { abortSignal: never },
  ): Promise<BatchServiceModels.TaskAddResult[]> {
    const res = await this.client.sendRequest({
      method: 'POST',
      url: `${this.baseUrl}/jobs/${encodeURIComponent(jobId)}/addtaskcollection`,
      queryParameters: { 'api-version': this.client.apiVersion, timeout: 30 },
      headers: {
        'Content-Type': 'application/json; odata=minimalmetadata; charset=utf-8',
        'Content-Length': String(Buffer.byteLength(body)),
        'accept-language': 'en-US',
        'client-request-id': randomUUID(),
        'ocp-date': new Date().toUTCString(),
      },
      body,
      disableJsonStringifyOnBody: true,
      abortSignal: request.abortSignal,
    });
    const parsed = res.parsedBody as
      { value?: BatchServiceModels.TaskAddResult[]; code?: string; message?: unknown } | undefined;
    if (res.status !== 200) {
      // Shaped like the client's RestError so toBatchError and isRetryable read it the same way.
      throw Object.assign(new Error('add-collection failed'), {
        statusCode: res.status,
        code: parsed?.code,
        body: parsed,
        message: parsed?.message,
      });
    }
    return parsed?.value ?? [];
  }

  async getTask(
    jobId: string,
    taskId: string,
    options: OperationOptions = {},
  ): Promise<TaskInfo | undefined> {
    try {
      const t = await this.call(
        (r) =>
          this.client.task.get(jobId, taskId, {
            taskGetOptions: { select: TASK_SELECT },
            ...r,
          }),
        options,
        'task get',
      );
      return taskInfoFromWire(jobId, t);
    } catch (e) {
      const code = BatchComputeBackend.code(e);
      if (code === 'TaskNotFound' || code === 'JobNotFound') return undefined;
      throw e;
    }
  }

  /** Get File From Task; undefined when it fails in any way (callers fall back to storage). */
  async readTaskFile(
    jobId: string,
    taskId: string,
    filePath: string,
    options: OperationOptions = {},
  ): Promise<Buffer | undefined> {
    try {
      const res = await this.call(
        (r) => this.client.file.getFromTask(jobId, taskId, filePath, r),
        options,
        'task file get',
      );
      const chunks: Buffer[] = [];
      for await (const chunk of res.readableStreamBody ?? []) chunks.push(Buffer.from(chunk as Uint8Array));
      return Buffer.concat(chunks);
    } catch {
      return undefined; // the file, the task or its node is gone, or Batch did not answer
    }
  }

  /**
   * Get File Properties From Task for the size, then Get File From Task with `ocp-range` for
   * the bytes past `range.offset` (no GET when there are none); undefined when the file, the
   * task or its node is gone, or Batch did not answer.
   */
  async readTaskFileRange(
    jobId: string,
    taskId: string,
    filePath: string,
    range: TaskFileRange,
    options: OperationOptions = {},
  ): Promise<TaskFilePart | undefined> {
    try {
      const props = await this.call(
        (r) => this.client.file.getPropertiesFromTask(jobId, taskId, filePath, r),
        options,
        'task file properties',
      );
      const size = Number(props.contentLength);
      const end = Math.min(size, range.offset + range.maxBytes) - 1;
      if (!Number.isFinite(size) || end < range.offset) return { data: Buffer.alloc(0), size };
      const res = await this.call(
        (r) =>
          this.client.file.getFromTask(jobId, taskId, filePath, {
            fileGetFromTaskOptions: { ocpRange: `bytes=${range.offset}-${end}` },
            ...r,
          }),
        options,
        'task file get',
      );
      const chunks: Buffer[] = [];
      for await (const chunk of res.readableStreamBody ?? []) chunks.push(Buffer.from(chunk as Uint8Array));
      return { data: Buffer.concat(chunks), size };
    } catch {
      return undefined; // the file, the task or its node is gone, or Batch did not answer
    }
  }

  async *listTasks(jobId: string, options: ListTasksOptions = {}): AsyncIterable<TaskInfo> {
    const filters: string[] = [];
    if (options.state) filters.push(`state eq '${options.state}'`);
    if (options.changedSince) filters.push(`stateTransitionTime gt ${odataDate(options.changedSince)}`);
    const listOptions = {
      taskListOptions: { select: TASK_SELECT, ...(filters.length ? { filter: filters.join(' and ') } : {}) },
    };
    let page = await this.call(
      (r) => this.client.task.list(jobId, { ...listOptions, ...r }),
      options,
      'task list',
    );
    for (;;) {
      for (const t of page) yield taskInfoFromWire(jobId, t);
      const link = page.odatanextLink;
      if (!link) return;
      page = await this.call((r) => this.client.task.listNext(link, r), options, 'task list');
    }
  }

  async getTaskCounts(jobId: string, options: OperationOptions = {}): Promise<TaskCounts> {
    const r = await this.call((r) => this.client.job.getTaskCounts(jobId, r), options, 'task counts');
    const c = r.taskCounts;
    return {
      active: c.active,
      running: c.running,
      completed: c.completed,
      succeeded: c.succeeded,
      failed: c.failed,
    };
  }

  async terminateTask(jobId: string, taskId: string, options: OperationOptions = {}): Promise<void> {
    try {
      await this.call((r) => this.client.task.terminate(jobId, taskId, r), options, 'task terminate');
    } catch (e) {
      const code = BatchComputeBackend.code(e);
      if (code === 'TaskCompleted') return;
      if (code === 'TaskNotFound' || code === 'JobNotFound')
        throw new NotFoundError(`task "${taskId}" of job "${jobId}" does not exist`);
      throw e;
    }
  }

  async terminateJob(jobId: string, options: OperationOptions = {}): Promise<void> {
    // Watched until its tasks' last changes are seen, then no more polled.
    const watch = this.jobs.get(jobId);
    if (watch) watch.ending = true;
    try {
      await this.call((r) => this.client.job.terminate(jobId, r), options, 'job terminate');
    } catch (e) {
      const code = BatchComputeBackend.code(e);
      if (
        code !== 'JobCompleted' &&
        code !== 'JobNotFound' &&
        code !== 'JobBeingTerminated' &&
        code !== 'JobBeingDeleted'
      )
        throw e;
    }
  }

  async deleteJob(jobId: string, options: OperationOptions = {}): Promise<void> {
    try {
      await this.call((r) => this.client.job.deleteMethod(jobId, r), options, 'job delete');
    } catch (e) {
      const code = BatchComputeBackend.code(e);
      if (code !== 'JobNotFound' && code !== 'JobBeingDeleted') throw e;
    }
    this.jobs.delete(jobId);
  }

  onTaskEvent(listener: (event: TaskEvent) => void): () => void {
    this.taskListeners.add(listener);
    this.startPolling();
    return () => this.taskListeners.delete(listener);
  }

  // ---------------------------------------------------------------- monitoring

  private watchJob(jobId: string): void {
    if (!this.jobs.has(jobId)) this.jobs.set(jobId, { known: new Map() });
  }

  private watchGroup(poolId: string, group = poolId): void {
    if (!this.groups.has(poolId)) this.groups.set(poolId, { group, errors: new Set(), nodes: new Map() });
    this.startPolling();
  }

  private startPolling(): void {
    if (this.timer || this.closed) return;
    const tick = (): void => {
      this.timer = undefined;
      if (this.closed) return;
      this.polling = this.pollOnce()
        .catch((e: unknown) =>
          this.options.logger?.warn('batch: monitoring poll failed', { code: toBatchError(e).code }),
        )
        .finally(() => {
          this.polling = undefined;
          if (!this.closed && (this.taskListeners.size > 0 || this.capacityListeners.size > 0)) {
            const idleMs = this.options.pollIntervalMs ?? 5000;
            this.pollDelayMs = nextPollDelay(this.pollDelayMs, this.pollBusy, {
              activeMs: this.options.activePollIntervalMs ?? Math.max(100, idleMs / 10),
              idleMs,
            });
            this.timer = setTimeout(tick, this.pollDelayMs);
            this.timer.unref();
          }
        });
    };
    this.timer = setTimeout(tick, 0);
    this.timer.unref();
  }

  /**
   * How stale the view of task states is: ms since the last monitoring pass ended (a
   * completion is seen at most this late, plus one pass); undefined before the first.
   */
  taskViewAgeMs(now = Date.now()): number | undefined {
    return this.lastPollAt === undefined ? undefined : now - this.lastPollAt;
  }

  /** One monitoring pass: capacity of watched groups, then state changes of watched jobs. Exposed for tests. */
  async pollOnce(options: OperationOptions = {}): Promise<void> {
    let busy = false;
    if (this.capacityListeners.size > 0) {
      for (const name of [...this.groups.keys()]) {
        const pool = await this.pool(name, options);
        if (!pool) continue;
        const nodes = await this.wireNodes(name, options);
        this.noteGroup(
          name,
          (pool.resizeErrors ?? []).map((e) => ({ code: e.code ?? 'ResizeError', message: e.message ?? '' })),
          pool.allocationState,
          nodes,
        );
      }
    }
    if (this.taskListeners.size > 0) {
      for (const [jobId, watch] of [...this.jobs]) if (await this.pollJob(jobId, watch, options)) busy = true;
    }
    this.pollBusy = busy;
    this.lastPollAt = Date.now();
  }

  private emitCapacity(e: CapacityEvent): void {
    for (const l of this.capacityListeners) l(e);
  }

  private noteGroup(
    name: string,
    errors: readonly { code: string; message: string }[],
    allocationState: string | undefined,
    nodes: readonly BatchServiceModels.ComputeNode[] | undefined,
  ): void {
    const w = this.groups.get(name);
    if (!w) return;
    const time = new Date();
    for (const e of errors) {
      const key = `${e.code}:${e.message}`;
      if (w.errors.has(key)) continue;
      w.errors.add(key);
      const error = { code: e.code, message: e.message, observedAt: time };
      this.emitCapacity({
        type: /QuotaReached$/.test(e.code) ? 'quotaReached' : 'resizeFailed',
        group: w.group,
        error,
        time,
      });
    }
    if (allocationState !== undefined) {
      if (
        w.allocationState &&
        w.allocationState !== 'steady' &&
        allocationState === 'steady' &&
        errors.length === 0
      ) {
        this.emitCapacity({ type: 'resizeCompleted', group: w.group, time });
      }
      if (allocationState !== 'steady' && w.allocationState === 'steady') w.errors.clear();
      w.allocationState = allocationState;
    }
    if (!nodes) return;
    const seen = new Set<string>();
    for (const n of nodes) {
      const id = n.id!;
      seen.add(id);
      const before = w.nodes.get(id);
      const state = n.state ?? 'unknown';
      if (before === state) continue;
      w.nodes.set(id, state);
      if ((state === 'idle' || state === 'running') && before !== 'idle' && before !== 'running') {
        this.emitCapacity({ type: 'nodeReady', group: w.group, nodeId: id, time });
      } else if (state === 'preempted') {
        this.emitCapacity({ type: 'nodePreempted', group: w.group, nodeId: id, time });
      } else if (state === 'starttaskfailed' || state === 'unusable') {
        const err = n.errors?.[0];
        this.emitCapacity({
          type: 'nodeFailed',
          group: w.group,
          nodeId: id,
          ...(err
            ? { error: { code: err.code ?? state, message: err.message ?? '', observedAt: time } }
            : {}),
          time,
        });
      }
    }
    for (const id of [...w.nodes.keys()]) {
      if (!seen.has(id)) {
        w.nodes.delete(id);
        this.emitCapacity({ type: 'nodeRemoved', group: w.group, nodeId: id, time });
      }
    }
  }

  /** Polls one job's task changes; true when it has tasks running, or its counts changed. */
  private async pollJob(jobId: string, watch: JobWatch, options: OperationOptions): Promise<boolean> {
    let counts: TaskCounts;
    try {
      counts = await this.getTaskCounts(jobId, options);
    } catch (e) {
      if (BatchComputeBackend.code(e) === 'JobNotFound') {
        this.jobs.delete(jobId);
        return false;
      }
      throw e;
    }
    const key = JSON.stringify(counts);
    const busy = key !== watch.lastCounts || counts.running > 0;
    // Nothing moved and nothing is running: no task can have changed state.
    if (key === watch.lastCounts && counts.running === 0) {
      if (watch.ending) this.jobs.delete(jobId); // ended, and its last changes were seen
      return busy;
    }
    // Overlap the watermark a little: equal timestamps are deduplicated below.
    const since = watch.watermark ? new Date(watch.watermark.getTime() - 1000) : undefined;
    let newest = watch.watermark?.getTime() ?? 0;
    for await (const t of this.listTasks(jobId, { ...(since ? { changedSince: since } : {}), ...options })) {
      const time = t.stateTransitionTime.getTime();
      newest = Math.max(newest, time);
      const before = watch.known.get(t.taskId);
      if (before && before.time === time && before.state === t.state) continue;
      watch.known.set(t.taskId, {
        state: t.state,
        retryCount: t.retryCount,
        requeueCount: t.requeueCount,
        time,
      });
      const events: TaskEvent['type'][] = [];
      if (t.requeueCount > (before?.requeueCount ?? 0)) events.push('preempted');
      if (t.retryCount > (before?.retryCount ?? 0)) events.push('retrying');
      if (t.state === 'running' && before?.state !== 'running') events.push('started');
      if (t.state === 'completed' && before?.state !== 'completed') events.push('completed');
      for (const type of events) {
        const e: TaskEvent = { type, task: t, time: new Date() };
        for (const l of this.taskListeners) l(e);
      }
    }
    if (newest > 0) watch.watermark = new Date(newest);
    watch.lastCounts = key;
    return busy;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort(new BatchError('RequestAborted', 'the Batch backend was closed'));
    await this.polling?.catch(() => undefined);
    this.taskListeners.clear();
    this.capacityListeners.clear();
  }
}
