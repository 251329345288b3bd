/**
 * The worker-burst backend: capacity groups are VM Scale Sets, nodes are their instances,
 * driven through the real `@azure/arm-compute` client (long-running operations through its
 * core-lro pollers, 429 + Retry-After honoured by its pipeline's throttling retry).
 */
import { gpusOfVmSize } from '../vm-sizes';
import * as tls from 'node:tls';
import {
  ComputeManagementClient,
  type VirtualMachineScaleSet,
  type VirtualMachineScaleSetVM,
} from '@azure/arm-compute';
import type { TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { FailedPreconditionError, ValidationError } from '../../errors';
import { silentLogger, type Logger } from '../../logging';
import type {
  CapacityBackend,
  CapacityEvent,
  ComputeNode,
  GroupError,
  GroupSpec,
  GroupStatus,
  NodeState,
  OperationOptions,
  ResizeOptions,
  ResizeTarget,
} from '../backend';
import { QuotaExceededError } from '../quota';
import { vmSizeCores } from '../vm-sizes';
import { ArmError, toArmError } from './errors';
import {
  capacityForTarget,
  GROUP_TAG,
  maxCapacityOf,
  priorityOf,
  toScaleSetModel,
  validateScaleSetSpec,
  type ScaleSetGroupSpec,
} from './spec';
import { countNodes, diffNodes, groupStateOf, toComputeNode, type InstanceView } from './states';

/** Options of `ScaleSetBackend`. */
export interface ScaleSetBackendOptions {
  /** Azure AD credential (e.g. `DefaultAzureCredential` from `@azure/identity`). */
  readonly credential: TokenCredential;
  /** Subscription holding the scale sets. */
  readonly subscriptionId: string;
  /** Azure Resource Manager endpoint. @default 'https://management.azure.com' */
  readonly endpoint?: string;
  /** Token scope. @default 'https://management.azure.com/.default' */
  readonly scope?: string;
  /**
   * An extra CA certificate (PEM) to trust besides the public roots: a private ARM
   * endpoint's, or the local emulator's (`startArmEmulator().caPem`). @default none
   */
  readonly trustedCaPem?: string;
  /** Resource group of groups this process did not create (reads after a restart). @default none */
  readonly resourceGroup?: string;
  /** Timeout of one HTTP request. @default 60000 */
  readonly requestTimeoutMs?: number;
  /** Retries of one request on throttling (429) and transient faults, with backoff and jitter. @default 5 */
  readonly maxRetries?: number;
  /** First retry delay when the response names none; grows exponentially with jitter. @default 800 */
  readonly retryDelayMs?: number;
  /** Long-running operation poll interval when ARM names none. @default 2000 */
  readonly pollIntervalMs?: number;
  /** How often known groups are observed for capacity events while someone listens; 0 turns it off. @default 15000 */
  readonly watchIntervalMs?: number;
  /** Where operations are logged (never a credential). @default silent */
  readonly logger?: Logger;
  /**
   * Check the region's vCPU usage (Compute usages: "Total Regional vCPUs", Spot's "Total
   * Regional Low-priority vCPUs") before a scale set grows, and refuse with a
   * `QuotaExceededError` naming the quota. @default true
   */
  readonly checkQuota?: boolean;
}

interface GroupRecord {
  readonly name: string;
  readonly resourceGroup: string;
  location: string;
  /** The scale set's VM size (its `sku.name`), for vCPU quotas. */
  vmSize: string | undefined;
  spot: boolean;
  /** Spot only: with `Delete`, ARM removes evicted instances and lowers the capacity. */
  evictionPolicy: string | undefined;
  maxCapacity: number;
  /** GPUs of each instance, from the VM size. @default 0 */
  gpus?: number;
  /** From the spec: how long a resize may take. */
  resizeTimeoutMs?: number;
  /** The capacity Spillway last asked for; eviction with the Delete policy lowers ARM's. */
  targetCapacity: number;
  /** Operations of ours under way: capacity changes then are ours, not evictions. */
  busy: number;
  /** Recent ARM errors of operations on this group, newest last; cleared by a successful resize. */
  errors: GroupError[];
  known: Map<string, NodeState>;
  /** Serialises resizes, removals and deletes of this group. */
  queue: Promise<unknown>;
  /** Serialises observations, so a slow stale listing never overwrites a newer one. */
  observing: Promise<unknown>;
}

const MAX_TAG = 'spillway-max-capacity';
const DEFAULT_RESIZE_TIMEOUT_MS = 15 * 60_000;

/** Sets a timeout on requests that have none. */
function timeoutPolicy(timeoutMs: number): PipelinePolicy {
  return {
    name: 'spillwayRequestTimeout',
    sendRequest(request, next) {
      if (!request.timeout) request.timeout = timeoutMs;
      return next(request);
    },
  };
}

/** Worker burst on Azure VM Scale Sets (Uniform orchestration). */
export class ScaleSetBackend implements CapacityBackend {
  /** @inheritdoc */
  readonly kind = 'scaleset' as const;
  /** The ARM client, for callers that need more of Microsoft.Compute. */
  readonly client: ComputeManagementClient;
  private readonly groups = new Map<string, GroupRecord>();
  private readonly listeners = new Set<(event: CapacityEvent) => void>();
  private readonly logger: Logger;
  private readonly pollIntervalMs: number;
  private readonly watchIntervalMs: number;
  private watchTimer: NodeJS.Timeout | undefined;
  private watching = false;
  private closed = false;

  constructor(private readonly options: ScaleSetBackendOptions) {
    if (typeof options.subscriptionId !== 'string' || !/^[0-9a-fA-F-]{1,64}$/.test(options.subscriptionId)) {
      throw new ValidationError(
        'subscriptionId',
        options.subscriptionId,
        'must be a subscription id (a UUID)',
      );
    }
    this.logger = options.logger ?? silentLogger;
    this.pollIntervalMs = options.pollIntervalMs ?? 2000;
    this.watchIntervalMs = options.watchIntervalMs ?? 15_000;
    this.client = new ComputeManagementClient(options.credential, options.subscriptionId, {
      endpoint: options.endpoint ?? 'https://management.azure.com',
      credentials: { scopes: [options.scope ?? 'https://management.azure.com/.default'] },
      retryOptions: {
        maxRetries: options.maxRetries ?? 5,
        retryDelayInMs: options.retryDelayMs ?? 800,
        maxRetryDelayInMs: 60_000,
      },
      ...(options.trustedCaPem !== undefined
        ? { tlsOptions: { ca: [...tls.rootCertificates, options.trustedCaPem] } }
        : {}),
      additionalPolicies: [
        { policy: timeoutPolicy(options.requestTimeoutMs ?? 60_000), position: 'perRetry' },
      ],
      userAgentOptions: { userAgentPrefix: 'spillway' },
    });
  }

  /** Creates the scale set or reconciles it towards the spec. Validates everything before any request. */
  async ensureGroup(spec: GroupSpec, options: OperationOptions = {}): Promise<GroupStatus> {
    const s = spec as ScaleSetGroupSpec;
    const { customData } = validateScaleSetSpec(s);
    return this.serialised(s.name, async () => {
      const existing = await this.readScaleSet(s.resourceGroup, s.name, options);
      // An existing set keeps its capacity, within the (possibly lowered) group maximum.
      const capacity = s.capacity ?? Math.min(existing?.sku?.capacity ?? 0, maxCapacityOf(s));
      const model = toScaleSetModel(s, customData, capacity);
      model.tags = { ...model.tags, [MAX_TAG]: String(maxCapacityOf(s)) };
      const spot = priorityOf(s) === 'Spot';
      const record = this.record(
        s.name,
        s.resourceGroup,
        s.location,
        s.vmSize,
        spot,
        maxCapacityOf(s),
        spot ? (s.evictionPolicy ?? 'Delete') : undefined,
      );
      record.targetCapacity = capacity;
      record.resizeTimeoutMs = s.resizeTimeoutMs;
      record.gpus = s.gpusPerNode ?? gpusOfVmSize(s.vmSize) ?? 0;
      this.logger.info('scale set create or update', {
        group: s.name,
        resourceGroup: s.resourceGroup,
        capacity,
      });
      await this.busy(record, () =>
        this.arm(`create or update scale set ${JSON.stringify(s.name)}`, () =>
          this.client.virtualMachineScaleSets.createOrUpdate(
            s.resourceGroup,
            s.name,
            model,
            this.lro(options),
          ),
        ),
      );
      return this.statusOf(record, options);
    });
  }

  /** @inheritdoc */
  async getGroup(name: string, options: OperationOptions = {}): Promise<GroupStatus | undefined> {
    const record = await this.find(name, options);
    return record ? this.statusOf(record, options) : undefined;
  }

  /** Groups this backend knows of, plus every Spillway scale set in the configured resource group. */
  async listGroups(options: OperationOptions = {}): Promise<GroupStatus[]> {
    const groups = new Set<string>();
    for (const rg of new Set([
      ...[...this.groups.values()].map((g) => g.resourceGroup),
      ...(this.options.resourceGroup ? [this.options.resourceGroup] : []),
    ])) {
      const iter = this.client.virtualMachineScaleSets.list(rg, { abortSignal: options.abortSignal });
      await this.arm(`list scale sets of ${JSON.stringify(rg)}`, async () => {
        for await (const vmss of iter) {
          const name = vmss.tags?.[GROUP_TAG];
          if (name !== undefined && vmss.name !== undefined) {
            this.adopt(vmss, rg);
            groups.add(name);
          }
        }
      });
    }
    const out: GroupStatus[] = [];
    for (const name of groups) {
      const status = await this.getGroup(name, options);
      if (status) out.push(status);
    }
    return out;
  }

  /** Sets the scale set's capacity. Protected instances survive a scale-in. */
  async resizeGroup(name: string, target: ResizeTarget, options: ResizeOptions = {}): Promise<GroupStatus> {
    // The target's shape is checked before any request; its bound once the group is known.
    capacityForTarget(
      { priority: 'Spot', maxSpotNodes: Infinity, maxDedicatedNodes: Infinity },
      { dedicated: 0, spot: target.spot },
    );
    capacityForTarget(
      { priority: 'Regular', maxSpotNodes: Infinity, maxDedicatedNodes: Infinity },
      { dedicated: target.dedicated, spot: 0 },
    );
    const record = await this.require(name, options);
    const capacity = capacityForTarget(
      {
        priority: record.spot ? 'Spot' : 'Regular',
        maxSpotNodes: record.spot ? record.maxCapacity : 0,
        maxDedicatedNodes: record.spot ? 0 : record.maxCapacity,
      },
      target,
    );
    const timeoutMs = options.resizeTimeoutMs ?? record.resizeTimeoutMs ?? DEFAULT_RESIZE_TIMEOUT_MS;
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
      throw new ValidationError(
        'options.resizeTimeoutMs',
        timeoutMs,
        'must be a whole number of milliseconds above 0',
      );
    }
    return this.serialised(name, async () => {
      await this.checkUsage(record, capacity, options);
      this.logger.info('scale set resize', { group: name, capacity });
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = options.abortSignal ? AbortSignal.any([options.abortSignal, timeout]) : timeout;
      try {
        await this.busy(record, async () => {
          record.targetCapacity = capacity;
          try {
            await this.arm(`resize scale set ${JSON.stringify(name)}`, () =>
              this.client.virtualMachineScaleSets.update(
                record.resourceGroup,
                name,
                { sku: { capacity } },
                this.lro({ abortSignal: signal }),
              ),
            );
          } catch (err) {
            if (timeout.aborted && !options.abortSignal?.aborted) {
              // ARM goes on with the operation; Spillway stops waiting and says so.
              throw new ArmError(
                `resize scale set ${JSON.stringify(name)} to ${capacity}: not finished within ${timeoutMs} ms (resizeTimeoutMs)`,
                'ResizeTimedOut',
              );
            }
            throw err;
          }
        });
      } catch (err) {
        if (err instanceof ArmError) {
          const error: GroupError = { code: err.code, message: err.message, observedAt: new Date() };
          record.errors = [...record.errors, error].slice(-5);
          this.emit({ type: 'resizeFailed', group: name, time: new Date(), error });
        }
        throw err;
      }
      record.errors = [];
      const status = await this.statusOf(record, options);
      this.emit({ type: 'resizeCompleted', group: name, time: new Date() });
      return status;
    });
  }

  /** Deletes the scale set and its instances. Deleting a missing group succeeds. */
  async deleteGroup(name: string, options: OperationOptions = {}): Promise<void> {
    const record = await this.find(name, options);
    if (!record) return;
    await this.serialised(name, async () => {
      this.logger.info('scale set delete', { group: name });
      await this.busy(record, async () => {
        try {
          await this.arm(`delete scale set ${JSON.stringify(name)}`, () =>
            this.client.virtualMachineScaleSets.delete(record.resourceGroup, name, this.lro(options)),
          );
        } catch (err) {
          if (!(err instanceof ArmError && (err.statusCode === 404 || err.code === 'ResourceNotFound')))
            throw err;
        }
      });
      for (const id of record.known.keys())
        this.emit({ type: 'nodeRemoved', group: name, nodeId: id, time: new Date() });
      this.groups.delete(name);
    });
  }

  /** The scale set's instances, with provisioning and power state. Emits the events since the last look. */
  async listNodes(group: string, options: OperationOptions = {}): Promise<ComputeNode[]> {
    const record = await this.require(group, options);
    return this.observe(record, options);
  }

  /**
   * Deletes named instances. Refuses (before any request) instances protected from
   * scale-in: they are busy; lift the protection first. Unknown ids are already gone.
   */
  async removeNodes(
    group: string,
    nodeIds: readonly string[],
    options: OperationOptions = {},
  ): Promise<void> {
    for (const [i, id] of nodeIds.entries()) {
      if (typeof id !== 'string' || !/^\d+$/.test(id))
        throw new ValidationError(`nodeIds[${i}]`, id, 'must be a scale set instance id (digits)');
    }
    const record = await this.require(group, options);
    const nodes = await this.observe(record, options);
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const busy = nodeIds.filter((id) => byId.get(id)?.protectedFromScaleIn);
    if (busy.length > 0) {
      throw new FailedPreconditionError(
        `group ${JSON.stringify(group)}: instances ${JSON.stringify(busy)} are protected from scale-in (busy); lift the protection before removing them`,
      );
    }
    const present = nodeIds.filter((id) => byId.has(id));
    if (present.length === 0) return;
    await this.serialised(group, async () => {
      this.logger.info('scale set delete instances', { group, instances: present.join(',') });
      await this.busy(record, async () => {
        await this.arm(`delete instances of ${JSON.stringify(group)}`, () =>
          this.client.virtualMachineScaleSets.deleteInstances(
            record.resourceGroup,
            group,
            { instanceIds: [...present] },
            this.lro(options),
          ),
        );
        record.targetCapacity = Math.max(0, record.targetCapacity - present.length);
      });
      await this.observe(record, options);
    });
  }

  /**
   * Protects instances from scale-in (busy workers) or lifts the protection (idle again).
   * A scale-in then removes unprotected instances only.
   */
  async setScaleInProtection(
    group: string,
    nodeIds: readonly string[],
    protect: boolean,
    options: OperationOptions = {},
  ): Promise<void> {
    for (const [i, id] of nodeIds.entries()) {
      if (typeof id !== 'string' || !/^\d+$/.test(id))
        throw new ValidationError(`nodeIds[${i}]`, id, 'must be a scale set instance id (digits)');
    }
    const record = await this.require(group, options);
    for (const id of nodeIds) {
      const vm: VirtualMachineScaleSetVM = {
        location: record.location,
        protectionPolicy: { protectFromScaleIn: protect },
      };
      await this.arm(`${protect ? 'protect' : 'unprotect'} instance ${id} of ${JSON.stringify(group)}`, () =>
        this.client.virtualMachineScaleSetVMs.update(record.resourceGroup, group, id, vm, this.lro(options)),
      );
    }
  }

  /**
   * Asks Azure to evict a Spot instance as a real eviction would (ARM `simulateEviction`):
   * the instance sees a `Preempt` scheduled event, then is evicted about 30 s later. For
   * testing how a farm rides out evictions.
   */
  async simulateEviction(group: string, nodeId: string, options: OperationOptions = {}): Promise<void> {
    if (typeof nodeId !== 'string' || !/^\d+$/.test(nodeId))
      throw new ValidationError('nodeId', nodeId, 'must be a scale set instance id (digits)');
    const record = await this.require(group, options);
    if (!record.spot)
      throw new FailedPreconditionError(`group ${JSON.stringify(group)} is not Spot: nothing to evict`);
    await this.arm(`simulate eviction of instance ${nodeId} of ${JSON.stringify(group)}`, () =>
      this.client.virtualMachineScaleSetVMs.simulateEviction(record.resourceGroup, group, nodeId, {
        abortSignal: options.abortSignal,
      }),
    );
  }

  /** @inheritdoc */
  onCapacityEvent(listener: (event: CapacityEvent) => void): () => void {
    this.listeners.add(listener);
    this.startWatch();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stopWatch();
    };
  }

  /** @inheritdoc */
  async close(): Promise<void> {
    this.closed = true;
    this.stopWatch();
    this.listeners.clear();
  }

  private startWatch(): void {
    if (this.watchTimer || this.watchIntervalMs <= 0 || this.closed) return;
    this.watchTimer = setInterval(() => void this.watchOnce(), this.watchIntervalMs);
    this.watchTimer.unref();
  }

  private stopWatch(): void {
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.watchTimer = undefined;
  }

  private async watchOnce(): Promise<void> {
    if (this.watching) return;
    this.watching = true;
    try {
      for (const record of this.groups.values()) {
        try {
          await this.observe(record, {});
        } catch (err) {
          if (err instanceof ArmError && err.statusCode === 404) {
            // Deleted outside Spillway: its instances are gone with it.
            for (const id of record.known.keys())
              this.emit({ type: 'nodeRemoved', group: record.name, nodeId: id, time: new Date() });
            this.groups.delete(record.name);
            continue;
          }
          this.logger.warn('scale set watch failed', {
            group: record.name,
            error: err instanceof Error ? err.message : String(err),
          });
        }
      }
    } finally {
      this.watching = false;
    }
  }

  private emit(event: CapacityEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.warn('capacity listener threw', {
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  }

  private lro(options: OperationOptions): { abortSignal?: AbortSignal; updateIntervalInMs: number } {
    return {
      ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
      updateIntervalInMs: this.pollIntervalMs,
    };
  }

  private async arm<T>(what: string, call: () => PromiseLike<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw toArmError(err, what);
    }
  }

  /**
   * Refuses growing a scale set beyond the region's vCPU quota (Regular: "Total Regional
   * vCPUs"; Spot: "Total Regional Low-priority vCPUs"), read from Compute usages first.
   */
  private async checkUsage(record: GroupRecord, capacity: number, options: OperationOptions): Promise<void> {
    if (this.options.checkQuota === false) return;
    const cores = vmSizeCores(record.vmSize ?? '');
    if (cores === undefined) return; // not an Azure size: nothing to count by
    const current = await this.readScaleSet(record.resourceGroup, record.name, options);
    const more = (capacity - (current?.sku?.capacity ?? 0)) * cores;
    if (more <= 0) return;
    const wanted = record.spot ? 'lowPriorityCores' : 'cores';
    const usages = await this.arm(`read the vCPU usage of ${record.location}`, async () => {
      const all = [];
      for await (const u of this.client.usage.list(record.location, {
        abortSignal: options.abortSignal,
      }))
        all.push(u);
      return all;
    });
    const usage = usages.find((u) => u.name.value?.toLowerCase() === wanted.toLowerCase());
    if (!usage) return;
    if (usage.currentValue + more > usage.limit) {
      throw new QuotaExceededError(
        record.spot ? 'regionalLowPriorityCores' : 'regionalCores',
        usage.limit,
        usage.currentValue,
        more,
        `grow scale set "${record.name}" to ${capacity} ${record.vmSize} instances in ${record.location}`,
      );
    }
  }

  private async busy<T>(record: GroupRecord, work: () => Promise<T>): Promise<T> {
    record.busy += 1;
    try {
      return await work();
    } finally {
      record.busy -= 1;
    }
  }

  private serialised<T>(name: string, work: () => Promise<T>): Promise<T> {
    const record = this.groups.get(name);
    if (!record) return work();
    const run = record.queue.then(work, work);
    record.queue = run.catch(() => undefined);
    return run;
  }

  private record(
    name: string,
    resourceGroup: string,
    location: string,
    vmSize: string | undefined,
    spot: boolean,
    maxCapacity: number,
    evictionPolicy: string | undefined,
  ): GroupRecord {
    let record = this.groups.get(name);
    if (!record || record.resourceGroup !== resourceGroup) {
      record = {
        name,
        resourceGroup,
        location,
        vmSize,
        spot,
        evictionPolicy,
        maxCapacity,
        targetCapacity: 0,
        errors: [],
        busy: 0,
        known: new Map(),
        queue: Promise.resolve(),
        observing: Promise.resolve(),
      };
      this.groups.set(name, record);
    }
    record.location = location;
    record.vmSize = vmSize;
    record.spot = spot;
    record.evictionPolicy = evictionPolicy;
    record.maxCapacity = maxCapacity;
    return record;
  }

  /** Records a scale set read from ARM (a group created by an earlier process). */
  private adopt(vmss: VirtualMachineScaleSet, resourceGroup: string): GroupRecord {
    const name = vmss.tags?.[GROUP_TAG] ?? vmss.name!;
    const existing = this.groups.get(name);
    if (existing) return existing;
    const spot =
      vmss.virtualMachineProfile?.priority === 'Spot' || vmss.virtualMachineProfile?.priority === 'Low';
    const max = Number(vmss.tags?.[MAX_TAG] ?? vmss.sku?.capacity ?? 0);
    const record = this.record(
      name,
      resourceGroup,
      vmss.location,
      vmss.sku?.name,
      spot,
      Number.isFinite(max) ? max : 0,
      vmss.virtualMachineProfile?.evictionPolicy,
    );
    record.targetCapacity = vmss.sku?.capacity ?? 0;
    record.gpus = gpusOfVmSize(vmss.sku?.name ?? '') ?? 0;
    return record;
  }

  private async readScaleSet(
    resourceGroup: string,
    name: string,
    options: OperationOptions,
  ): Promise<VirtualMachineScaleSet | undefined> {
    try {
      return await this.arm(`get scale set ${JSON.stringify(name)}`, () =>
        this.client.virtualMachineScaleSets.get(resourceGroup, name, { abortSignal: options.abortSignal }),
      );
    } catch (err) {
      if (err instanceof ArmError && (err.statusCode === 404 || err.code === 'ResourceNotFound'))
        return undefined;
      throw err;
    }
  }

  private async find(name: string, options: OperationOptions): Promise<GroupRecord | undefined> {
    const known = this.groups.get(name);
    const rg = known?.resourceGroup ?? this.options.resourceGroup;
    if (rg === undefined) return undefined;
    const vmss = await this.readScaleSet(rg, name, options);
    if (!vmss) {
      this.groups.delete(name);
      return undefined;
    }
    return known ?? this.adopt(vmss, rg);
  }

  private async require(name: string, options: OperationOptions): Promise<GroupRecord> {
    const record = this.groups.get(name) ?? (await this.find(name, options));
    if (!record)
      throw new ArmError(
        `capacity group ${JSON.stringify(name)}: no such scale set`,
        'ResourceNotFound',
        404,
      );
    return record;
  }

  private observe(record: GroupRecord, options: OperationOptions): Promise<ComputeNode[]> {
    const run = record.observing.then(() => this.observeNow(record, options));
    record.observing = run.catch(() => undefined);
    return run;
  }

  private async observeNow(record: GroupRecord, options: OperationOptions): Promise<ComputeNode[]> {
    const vms: InstanceView[] = [];
    const iter = this.client.virtualMachineScaleSetVMs.list(record.resourceGroup, record.name, {
      expand: 'instanceView',
      abortSignal: options.abortSignal,
    });
    await this.arm(`list instances of ${JSON.stringify(record.name)}`, async () => {
      for await (const vm of iter) {
        if (vm.instanceId === undefined) continue;
        vms.push({
          instanceId: vm.instanceId,
          provisioningState: vm.provisioningState,
          statusCodes: (vm.instanceView?.statuses ?? []).map((s) => s.code ?? ''),
          protectFromScaleIn: vm.protectionPolicy?.protectFromScaleIn === true,
          ...(vm.timeCreated ? { createdAt: vm.timeCreated } : {}),
          ...((vm.osProfile?.computerName ?? vm.instanceView?.computerName)
            ? { computerName: vm.osProfile?.computerName ?? vm.instanceView?.computerName }
            : {}),
        });
      }
    });
    const nodes = vms.map((vm) => ({
      ...toComputeNode(record.name, vm, record.spot),
      gpus: record.gpus ?? 0,
    }));
    const present = nodes.filter((n) => n.state !== 'leaving').length;
    const deletesEvicted = record.spot && record.evictionPolicy !== 'Deallocate';
    const vanishedWerePreempted = deletesEvicted && record.busy === 0 && present < record.targetCapacity;
    const events = diffNodes(record.known, nodes, {
      group: record.name,
      time: new Date(),
      vanishedWerePreempted,
    });
    const preempted = events.filter((e) => e.type === 'nodePreempted').length;
    // With the Delete policy ARM lowers the capacity for each evicted instance: so do we.
    if (deletesEvicted && preempted > 0)
      record.targetCapacity = Math.max(0, record.targetCapacity - preempted);
    record.known = new Map(nodes.map((n) => [n.id, n.state]));
    for (const event of events) this.emit(event);
    return nodes;
  }

  private async statusOf(record: GroupRecord, options: OperationOptions): Promise<GroupStatus> {
    const vmss = await this.readScaleSet(record.resourceGroup, record.name, options);
    if (!vmss)
      throw new ArmError(
        `capacity group ${JSON.stringify(record.name)}: no such scale set`,
        'ResourceNotFound',
        404,
      );
    const nodes = await this.observe(record, options);
    const current = nodes.filter((n) => n.state !== 'leaving' && n.state !== 'preempted').length;
    const target = vmss.sku?.capacity ?? 0;
    return {
      name: record.name,
      state: groupStateOf(vmss.provisioningState),
      targetDedicatedNodes: record.spot ? 0 : target,
      targetSpotNodes: record.spot ? target : 0,
      currentDedicatedNodes: record.spot ? 0 : current,
      currentSpotNodes: record.spot ? current : 0,
      nodeCounts: countNodes(nodes),
      errors: [...record.errors],
      backendId: vmss.id ?? record.name,
    };
  }
}
