import { GROUP_NAME } from '../../model/validate';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backendQueryOf, type BackendRegistry } from '../../compute/registry';
import type {
  CapacityBackend,
  CapacityEvent,
  ComputeNode,
  GroupSpec,
  GroupStatus,
} from '../../compute/backend';
import { groupBasicsFromWire, scaleSetSpecFromWire } from '../../compute/scaleset/wire';
import { didYouMean } from '../../config/config';
import {
  FailedPreconditionError,
  NotFoundError,
  ResourceExhaustedError,
  ValidationError,
} from '../../errors';
import { BackendKind, CapacityGroupSpec } from '../../gen/spillway/v1/capacity';
import { BurstMode } from '../../gen/spillway/v1/common';
import type { Logger } from '../../logging';
import { writeFileAtomic } from '../../state/atomic-file';
import {
  canonicalMounts,
  validateMounts,
  validateScaleSetMounts,
  type MountSpec,
} from '../../storage/mounts';
import { mountsFromWire } from '../../storage/mounts-wire';
import type { JobSpec } from '../../model/frames';
import {
  gpuMismatch,
  groupEnvironment,
  licencePreflightCheck,
  resolveGpu,
  validateLicenseServers,
  type RoutableGroup,
} from './environments';
import { mountPreflightCheck } from './mount-check';
import type { DispatchVerdict, GroupPreflight, PreflightCheck, PreflightView } from './preflight';
import { SpendMeter, type EvictedWork } from './spend';
import {
  checkBudget,
  clampPlan,
  costOf,
  describeTarget,
  type BudgetCap,
  type ClampGroup,
  type ClampedTarget,
  type NodePair,
  type NodePrices,
} from './targets';

/** Who set a group's current targets. */
export type TargetOwner = 'manual' | 'plan';

/** A group's stored spec with its live status and who owns its targets. */
export interface CapacityGroupView {
  readonly spec: CapacityGroupSpec;
  readonly status: GroupStatus | undefined;
  /** What its allocated nodes cost per hour now. */
  readonly costPerHour: number;
  /** Floors a person pinned with the last manual resize (0/0: none). */
  readonly pinned: NodePair;
  /** Who set the current targets; undefined when no one has since the group was created. */
  readonly targetOwner: TargetOwner | undefined;
  /** What the group has cost since metering began. */
  readonly spentTotal: number;
  /** Worker burst: evictions and the render work they interrupted. */
  readonly evictedWork: EvictedWork;
  /** The latest preflight on one of its nodes; undefined when the group needs none or none ran yet. */
  readonly preflight?: PreflightView;
  /** False while the last preflight failed: the group takes no frames (the reasons are in `status.errors`). */
  readonly healthy: boolean;
}

/** A capacity event with its place in the log. */
export interface SequencedCapacityEvent extends CapacityEvent {
  readonly seq: number;
}

/** The studio's budget and spend. */
export interface BudgetView {
  /** 0 = uncapped. */
  readonly maxSpendPerHour: number;
  readonly currency: string;
  /** What the nodes allocated now cost per hour. */
  readonly costPerHour: number;
  /** What the groups cost per hour at their targets: what the cap is checked against. */
  readonly projectedCostPerHour: number;
  /** Spent since `spentSince`. */
  readonly spentTotal: number;
  readonly spentSince: Date;
}

/** A capacity target of a plan, as the planner proposes it. */
export interface PlanTarget {
  readonly capacityGroup: string;
  readonly dedicated: number;
  readonly spot: number;
}

/**
 * What the report being planned for involves: a worker-burst group is sized by the plan
 * only for the farm groups it serves, so a report that names none of them never shrinks it.
 */
export interface PlanContext {
  /** The reporting source (bridge), for logs. */
  readonly source: string;
  /** Capacity groups the report's jobs name. */
  readonly capacityGroups: readonly string[];
  /** Farm groups (Deadline groups or pools, OpenCue tags) of the report's jobs and workers. */
  readonly farmGroups: readonly string[];
}

/** A plan's target after the owners' bounds, and whether a resize was started for it. */
export interface AppliedTarget extends ClampedTarget {
  /** True when the group is being resized towards `effective`. */
  readonly resizing: boolean;
}

/** The outcome of applying a plan's targets. */
export interface AppliedPlan {
  /** One per group the plan named that exists. */
  readonly targets: readonly AppliedTarget[];
  /** Every clamping reason, and the groups the plan named that do not exist. */
  readonly reasons: readonly string[];
}

/** Options of the capacity manager. */
export interface CapacityManagerOptions {
  /** The studio's spend cap. @default uncapped, USD */
  readonly budget?: BudgetCap;
  /** The group of jobs that name none (for frame prices). @default 'default' */
  readonly defaultGroup?: string;
  /** What worker-burst specs that leave them empty get (configuration `workerBurst`). @default none */
  readonly scaleSetDefaults?: { readonly resourceGroup?: string; readonly location?: string };
  /** Where spend is metered across restarts. @default `spend.json` beside the groups file */
  readonly spendFile?: string;
  /** How often every group's cost is looked at for the spend meter; 0 turns it off. @default 30000 */
  readonly meterIntervalMs?: number;
  /**
   * How worker-burst groups are resized: the worker-burst coordinator, which grows the
   * scale set and drains on scale-in (a busy worker is never removed). @default the backend's `resizeGroup`
   */
  readonly workerBurstResizer?: {
    resizeGroup(
      name: string,
      target: NodePair,
      options?: { abortSignal?: AbortSignal },
    ): Promise<GroupStatus>;
  };
  /**
   * Runs each group's preflight (its mounts, its licence servers) on one of its nodes before its
   * first frame. @default none: groups naming licence servers are refused, mounts are not checked
   */
  readonly preflight?: GroupPreflight;
}

/** The render work one eviction in a worker-burst group interrupted, when it was recorded. */
export interface EvictedWorkRecord {
  readonly group: string;
  readonly at: Date;
  /** Render time lost. */
  readonly lostMs: number;
  /** What it cost, in the budget's currency. */
  readonly lostCost: number;
}

/** The budget is exhausted: the change would take the studio over `budget.maxSpendPerHour`. */
export class BudgetExceededError extends ResourceExhaustedError {
  constructor(
    message: string,
    /** The cap per hour. */
    readonly maxSpendPerHour: number,
    /** What every group together would cost per hour after the change. */
    readonly projectedCostPerHour: number,
  ) {
    super(message);
  }
}

interface GroupRecord {
  spec: CapacityGroupSpec;
  pinned: NodePair;
  owner: TargetOwner | undefined;
  /** Bumped by every manual resize: a plan's resize computed before it is dropped. */
  manualSeq: number;
}

interface StoredGroup {
  spec: unknown;
  pinned?: NodePair;
  owner?: TargetOwner;
}

const NAME = GROUP_NAME;
const SUBNET =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Network\/virtualNetworks\/[^/]+\/subnets\/[^/]+$/i;
const NONE: NodePair = { dedicated: 0, spot: 0 };

/** The wire's name for a backend kind. */
function wireKindOf(kind: string): BackendKind {
  if (kind === 'batch') return BackendKind.BACKEND_KIND_BATCH;
  if (kind === 'scaleset') return BackendKind.BACKEND_KIND_SCALE_SET;
  return BackendKind.BACKEND_KIND_LOCAL;
}

const kindNames: Partial<Record<CapacityBackend['kind'], string>> = {
  local: 'the local engine',
  batch: 'Azure Batch',
  scaleset: 'VM Scale Sets',
};

/**
 * The studio's capacity groups and who owns their capacity. It keeps the groups' specs
 * (`groups.json`, written atomically), their live state from the backend of each burst
 * mode, and the owners' bounds:
 * - a person's resize pins the group: its targets become floors the plan never goes below;
 * - the maxima bound every target;
 * - a plan never removes a busy node or worker, and never shrinks a worker-burst group
 *   for a report that does not involve the farm groups it serves;
 * - the budget (`budget.maxSpendPerHour`) is checked on every path that adds cost: a plan
 *   is clamped to it, a manual resize or group create over it is refused.
 * It also meters spend (node time × the group's prices) and prices a frame's slot time.
 * One set of groups for every bridge of the studio.
 */
export class CapacityManager {
  private readonly groups = new Map<string, GroupRecord>();
  private readonly events: SequencedCapacityEvent[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly evictedWorkListeners = new Set<(work: EvictedWorkRecord) => void>();
  private readonly unsubscribes: (() => void)[] = [];
  private readonly budgetCap: BudgetCap;
  private readonly meter: SpendMeter;
  private readonly meterTimer: NodeJS.Timeout | undefined;
  /** Plan resizes waiting per group: only the latest counts. */
  private readonly planned = new Map<string, { target: NodePair; manualSeq: number }>();
  private readonly planRunning = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();
  /** Node priority by `group/node`: a node's priority never changes. */
  private readonly priorities = new Map<string, 'dedicated' | 'spot'>();
  private readonly nodeLookups = new Map<string, Promise<void>>();

  constructor(
    private readonly backends: BackendRegistry,
    private readonly file: string,
    private readonly logger: Logger,
    private readonly options: CapacityManagerOptions = {},
  ) {
    this.budgetCap = options.budget ?? { maxSpendPerHour: 0, currency: 'USD' };
    if (fs.existsSync(file)) {
      for (const entry of JSON.parse(fs.readFileSync(file, 'utf8')) as unknown[]) {
        // Files written before owners were recorded hold bare specs.
        const stored: StoredGroup =
          typeof entry === 'object' && entry !== null && 'spec' in entry
            ? (entry as StoredGroup)
            : { spec: entry };
        const spec = CapacityGroupSpec.fromJSON(stored.spec);
        // Groups stored before the backend was filled in: the one that has served them.
        if (spec.backend === BackendKind.BACKEND_KIND_UNSPECIFIED)
          spec.backend = this.defaultBackend(spec.mode);
        this.groups.set(spec.name, {
          spec,
          pinned: stored.pinned ?? NONE,
          owner: stored.owner,
          manualSeq: 0,
        });
      }
    }
    this.meter = new SpendMeter({ file: options.spendFile ?? path.join(path.dirname(file), 'spend.json') });
    for (const { backend } of backends.list()) {
      this.unsubscribes.push(backend.onCapacityEvent((e) => this.record(e)));
    }
    const every = options.meterIntervalMs ?? 30_000;
    if (every > 0) {
      this.meterTimer = setInterval(() => {
        this.list({ abortSignal: this.abort.signal }).catch((err: unknown) =>
          this.logger.debug('metering capacity failed', { error: errorText(err) }),
        );
      }, every);
      this.meterTimer.unref();
    }
  }

  private record(event: CapacityEvent): void {
    this.events.push({ ...event, seq: this.events.length + 1 });
    if (event.type !== 'quotaReached' && this.groups.has(event.group) && !this.abort.signal.aborted) {
      // Nodes came or went: the spend meter's rate for the group changes now, not at the next look.
      this.get(event.group, { abortSignal: this.abort.signal }).catch((err: unknown) =>
        this.logger.debug('metering capacity failed', { group: event.group, error: errorText(err) }),
      );
    }
    if (event.type === 'quotaReached' || event.type === 'resizeFailed' || event.type === 'nodeFailed') {
      this.logger.warn('capacity event', {
        type: event.type,
        group: event.group,
        node: event.nodeId,
        code: event.error?.code,
      });
    }
    for (const l of this.listeners) l();
  }

  /** The registered backend the group lives on: by its mode and the kind its spec names. */
  private backendFor(spec: CapacityGroupSpec): CapacityBackend {
    const query = backendQueryOf(spec);
    if (query.mode === 'worker-burst' && !this.backends.list().some((e) => e.mode === 'worker-burst')) {
      throw new FailedPreconditionError(
        `capacity group ${JSON.stringify(spec.name)} is worker burst, but no scale-set backend is configured (configuration workerBurst.subscriptionId and workerBurst.resourceGroup)`,
      );
    }
    return this.backends.resolve(query).backend;
  }

  /** The first frame-offload backend registered: where groups that name no backend kind go. */
  private offload(): CapacityBackend {
    return this.backends.resolve({ mode: 'frame-offload' }).backend;
  }

  /** Who resizes a group: the worker-burst coordinator for worker-burst groups (drain on scale-in), else its backend. */
  private resizerFor(spec: CapacityGroupSpec): Pick<CapacityBackend, 'resizeGroup'> {
    const wb = this.options.workerBurstResizer;
    if (wb && spec.mode === BurstMode.BURST_MODE_WORKER_BURST) {
      this.backendFor(spec); // refuses when no scale-set backend is configured
      return { resizeGroup: (name, target, options) => wb.resizeGroup(name, target, options) };
    }
    return this.backendFor(spec);
  }

  /** A group's price per node hour for a priority (0 for an unknown or unpriced group). */
  pricePerNodeHour(group: string, priority: 'dedicated' | 'spot'): number {
    const spec = this.groups.get(group)?.spec;
    return spec ? pricesOf(spec)[priority] : 0;
  }

  /** Records the render work an eviction in a worker-burst group interrupted (spend and status). */
  recordEvictedWork(group: string, lostMs: number, lostCost: number): void {
    this.meter.recordEviction(group, lostMs, lostCost);
    const work = { group, at: new Date(), lostMs, lostCost };
    for (const l of this.evictedWorkListeners) l(work);
  }

  /** Calls `listener` with each eviction's lost work as it is recorded (the cost ledger's feed). */
  onEvictedWork(listener: (work: EvictedWorkRecord) => void): () => void {
    this.evictedWorkListeners.add(listener);
    return () => this.evictedWorkListeners.delete(listener);
  }

  /** The backend that serves a mode here: scale sets for worker burst, the offload backend's kind otherwise. */
  private defaultBackend(mode: BurstMode): BackendKind {
    if (mode === BurstMode.BURST_MODE_WORKER_BURST) return BackendKind.BACKEND_KIND_SCALE_SET;
    return wireKindOf(this.offload().kind);
  }

  /** Validates what every spec needs, whatever its backend, before anything is stored or created. */
  static validate(spec: CapacityGroupSpec): void {
    if (!NAME.test(spec.name)) {
      throw new ValidationError(
        'spec.name',
        spec.name,
        'must be 1-64 characters of a-z 0-9 -, starting with a letter',
      );
    }
    if (spec.mode === BurstMode.BURST_MODE_UNSPECIFIED) {
      throw new ValidationError(
        'spec.mode',
        'BURST_MODE_UNSPECIFIED',
        'must be FRAME_OFFLOAD or WORKER_BURST',
      );
    }
    if (spec.vmSize.trim() === '') {
      throw new ValidationError('spec.vm_size', spec.vmSize, 'must name a VM size, e.g. "Standard_D16as_v5"');
    }
    if (spec.taskSlotsPerNode > 256) {
      throw new ValidationError('spec.task_slots_per_node', spec.taskSlotsPerNode, 'must be from 1 to 256');
    }
    if (spec.maxDedicatedNodes + spec.maxSpotNodes === 0) {
      throw new ValidationError('spec.max_dedicated_nodes', 0, 'and max_spot_nodes cannot both be 0');
    }
    validateMounts(mountsFromWire(spec.mounts ?? []), 'spec.mounts', 'proto');
    for (const [field, v] of [
      ['spec.cost.dedicated_per_node_hour', spec.cost?.dedicatedPerNodeHour ?? 0],
      ['spec.cost.spot_per_node_hour', spec.cost?.spotPerNodeHour ?? 0],
    ] as const) {
      if (!(v >= 0) || !Number.isFinite(v)) throw new ValidationError(field, v, 'must be a price >= 0');
    }
  }

  /**
   * The spec as it will be stored: the backend resolved from the mode and the service's
   * configuration, defaults filled in (currency, a scale set's resource group and location),
   * and each field the chosen backend needs checked, named by its wire path.
   */
  private resolve(input: CapacityGroupSpec): CapacityGroupSpec {
    CapacityManager.validate(input);
    const worker = input.mode === BurstMode.BURST_MODE_WORKER_BURST;
    const offloadKind = this.defaultBackend(BurstMode.BURST_MODE_FRAME_OFFLOAD);
    const backend =
      input.backend !== BackendKind.BACKEND_KIND_UNSPECIFIED
        ? input.backend
        : this.defaultBackend(input.mode);
    const backendName = BackendKind[backend] ?? String(backend);
    if (worker && backend !== BackendKind.BACKEND_KIND_SCALE_SET) {
      throw new ValidationError(
        'spec.backend',
        backendName,
        'must be BACKEND_KIND_SCALE_SET for a worker-burst group',
      );
    }
    if (!worker && backend === BackendKind.BACKEND_KIND_SCALE_SET) {
      throw new ValidationError(
        'spec.backend',
        backendName,
        'is for worker burst (mode WORKER_BURST); a frame-offload group runs on Azure Batch or the local engine',
      );
    }
    const offloadKinds = this.backends
      .list()
      .flatMap((e) => (e.mode === 'frame-offload' ? [wireKindOf(e.backend.kind)] : []));
    if (!worker && backend !== offloadKind && !offloadKinds.includes(backend)) {
      const offload = this.offload().kind;
      throw new FailedPreconditionError(
        `spec.backend is ${backendName}, but this service offloads frames to ${kindNames[offload] ?? offload} (configuration compute.backend ${JSON.stringify(offload)})`,
      );
    }
    const spec = CapacityGroupSpec.fromPartial({ ...input, backend });
    if (spec.cost) {
      if (spec.cost.currency === '') spec.cost.currency = this.budgetCap.currency;
      if (spec.cost.currency !== this.budgetCap.currency) {
        throw new ValidationError(
          'spec.cost.currency',
          spec.cost.currency,
          `must be the budget's currency ${JSON.stringify(this.budgetCap.currency)} (configuration budget.currency)`,
        );
      }
    }
    if (spec.batchPool?.subnetId && !SUBNET.test(spec.batchPool.subnetId)) {
      throw new ValidationError(
        'spec.batch_pool.subnet_id',
        spec.batchPool.subnetId,
        'must be a subnet resource id: /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/VNET/subnets/NAME',
      );
    }
    if (backend === BackendKind.BACKEND_KIND_BATCH) validateVmImage(spec, true);
    if (spec.licenseServers.length > 0) {
      if (worker) {
        throw new ValidationError(
          'spec.license_servers',
          spec.licenseServers.map((l) => l.address),
          "is for frame-offload groups (Spillway's tasks); worker-burst instances run the render manager's worker, which reads licences from the farm's own worker environment",
        );
      }
      if (!this.options.preflight) {
        throw new FailedPreconditionError(
          'spec.license_servers: this service runs no licence check (no preflight configured)',
        );
      }
      validateLicenseServers(spec.licenseServers);
    }
    const gpu = resolveGpu(spec.vmSize, spec.gpu);
    if (gpu) spec.gpu = gpu;
    else delete spec.gpu;
    if (worker) {
      const defaults = this.options.scaleSetDefaults ?? {};
      const scaleSet = spec.scaleSet ?? {
        resourceGroup: '',
        location: '',
        subnetId: '',
        evictionPolicy: 0,
        maxPrice: 0,
        workerStartup: undefined,
      };
      if (scaleSet.resourceGroup === '' && defaults.resourceGroup)
        scaleSet.resourceGroup = defaults.resourceGroup;
      if (scaleSet.location === '' && defaults.location) scaleSet.location = defaults.location;
      spec.scaleSet = scaleSet;
      if (!/^[-\w._()]{1,90}$/.test(scaleSet.resourceGroup)) {
        throw new ValidationError(
          'spec.scale_set.resource_group',
          scaleSet.resourceGroup,
          'must name an Azure resource group (1-90 letters, digits, - _ . ( )); the default is configuration workerBurst.resourceGroup',
        );
      }
      if (!/^[a-z0-9]+$/.test(scaleSet.location)) {
        throw new ValidationError(
          'spec.scale_set.location',
          scaleSet.location,
          'must name an Azure region such as "westeurope"; the default is configuration workerBurst.location',
        );
      }
      if (scaleSet.subnetId && !SUBNET.test(scaleSet.subnetId)) {
        throw new ValidationError(
          'spec.scale_set.subnet_id',
          scaleSet.subnetId,
          'must be a subnet resource id: /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/VNET/subnets/NAME',
        );
      }
      validateVmImage(spec, false);
      validateScaleSetMounts(mountsFromWire(spec.mounts ?? []), 'spec.mounts', 'proto');
      const startup = scaleSet.workerStartup;
      if (!startup || startup.renderManager === 0) {
        throw new ValidationError(
          'spec.scale_set.worker_startup.render_manager',
          startup?.renderManager ?? null,
          'is required: RENDER_MANAGER_DEADLINE or RENDER_MANAGER_OPENCUE (how instances join the farm)',
        );
      }
      if (startup.farmAddress === '' && startup.command === '') {
        throw new ValidationError(
          'spec.scale_set.worker_startup.farm_address',
          '',
          'is required: the Deadline repository or RCS address, or the Cuebot host:port',
        );
      }
    }
    return spec;
  }

  /**
   * Creates the group or reconciles it towards the spec. Refused with RESOURCE_EXHAUSTED
   * when the group's nodes at the spec's prices would take the studio over its cap.
   */
  async ensure(
    input: CapacityGroupSpec,
    options: { abortSignal?: AbortSignal } = {},
  ): Promise<{ group: CapacityGroupView; created: boolean }> {
    const spec = this.resolve(input);
    const existing = this.groups.get(spec.name);
    if (
      existing &&
      (existing.spec.mode !== spec.mode ||
        existing.spec.vmSize !== spec.vmSize ||
        (existing.spec.backend !== BackendKind.BACKEND_KIND_UNSPECIFIED &&
          existing.spec.backend !== spec.backend))
    ) {
      throw new FailedPreconditionError(
        `capacity group ${JSON.stringify(spec.name)} exists with another mode, backend or VM size; delete it first to change those`,
      );
    }
    if (
      existing &&
      canonicalMounts(mountsFromWire(existing.spec.mounts ?? [])) !==
        canonicalMounts(mountsFromWire(spec.mounts ?? []))
    ) {
      throw new FailedPreconditionError(
        `capacity group ${JSON.stringify(spec.name)} exists with other mounts; its nodes mount what they were created with (a Batch pool's mountConfiguration cannot change), so delete it first to change them`,
      );
    }
    const backend = this.backendFor(spec);
    // A pool or scale set may exist already with nodes (adopted, or a spec whose prices change).
    const before = await backend.getGroup(spec.name, options);
    await this.refuseOverBudget(
      spec.name,
      before ? { dedicated: before.targetDedicatedNodes, spot: before.targetSpotNodes } : NONE,
      pricesOf(spec),
      `${existing ? 'reconciling' : 'creating'} capacity group ${JSON.stringify(spec.name)} at its prices`,
      options,
    );
    const status = await backend.ensureGroup(toBackendSpec(spec), options);
    if (existing && JSON.stringify(existing.spec.licenseServers) !== JSON.stringify(spec.licenseServers)) {
      this.options.preflight?.forget(spec.name);
    }
    this.groups.set(spec.name, {
      spec,
      pinned: existing?.pinned ?? NONE,
      owner: existing?.owner,
      manualSeq: existing?.manualSeq ?? 0,
    });
    this.save();
    // The licence check starts now: it is usually done before the first frame arrives.
    this.dispatchVerdict(spec.name);
    return { group: this.view(spec, status), created: !existing };
  }

  /**
   * Brings every stored group back onto its backend (after a restart the embedded engine is
   * new; Batch and Scale Sets answer an ensure of an existing group as a no-op), and back up
   * to the floors a person pinned. A group whose backend refuses is logged and kept.
   */
  async reconcileAll(options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    for (const record of this.groups.values()) {
      try {
        const backend = this.backendFor(record.spec);
        const status = await backend.ensureGroup(toBackendSpec(record.spec), options);
        const pin = clampTo(record.pinned, maxOf(record.spec));
        if (status.targetDedicatedNodes < pin.dedicated || status.targetSpotNodes < pin.spot) {
          await this.resizerFor(record.spec).resizeGroup(
            record.spec.name,
            {
              dedicated: Math.max(status.targetDedicatedNodes, pin.dedicated),
              spot: Math.max(status.targetSpotNodes, pin.spot),
            },
            options,
          );
        }
      } catch (err) {
        this.logger.error('capacity group could not be restored', {
          group: record.spec.name,
          error: errorText(err),
        });
      }
    }
  }

  private recordOf(name: string): GroupRecord {
    const record = this.groups.get(name);
    if (!record) {
      const guess = didYouMean(name, [...this.groups.keys()]);
      throw new NotFoundError(
        `capacity group ${JSON.stringify(name)} does not exist${guess ? `; did you mean ${JSON.stringify(guess)}?` : ''} (spillway pools list)`,
      );
    }
    return record;
  }

  /** A group by name. */
  async get(name: string, options: { abortSignal?: AbortSignal } = {}): Promise<CapacityGroupView> {
    const { spec } = this.recordOf(name);
    return this.view(spec, await this.backendFor(spec).getGroup(name, options));
  }

  /** Every group, by name. */
  async list(options: { abortSignal?: AbortSignal } = {}): Promise<CapacityGroupView[]> {
    const names = [...this.groups.keys()].sort();
    return Promise.all(names.map((n) => this.get(n, options)));
  }

  /** The spec of a group, if any (for the policy). */
  specOf(name: string): CapacityGroupSpec | undefined {
    return this.groups.get(name)?.spec;
  }

  /**
   * Checks that frames may be submitted to a group: NOT_FOUND naming the group when there is
   * none of that name, FAILED_PRECONDITION when it is a worker-burst group (its instances
   * join the farm; frames are not offloaded to them).
   */
  requireOffloadGroup(name: string | undefined, job?: Pick<JobSpec, 'gpus'>): void {
    const record = this.recordOf(name ?? this.options.defaultGroup ?? 'default');
    if (record.spec.mode === BurstMode.BURST_MODE_WORKER_BURST) {
      throw new FailedPreconditionError(
        `capacity group ${JSON.stringify(record.spec.name)} is worker burst: its instances join the farm as workers; offload frames to a frame-offload group`,
      );
    }
    if (job) {
      const mismatch = gpuMismatch(
        job.gpus ?? 0,
        routable(record.spec),
        [...this.groups.values()].map((r) => routable(r.spec)),
      );
      if (mismatch) throw new FailedPreconditionError(mismatch);
    }
    const verdict = this.dispatchVerdict(record.spec.name);
    if (verdict.verdict === 'refuse') throw new FailedPreconditionError(verdict.reason);
  }

  /**
   * Refuses a job whose outputs go to a share its group does not mount, or mounts read-only:
   * FAILED_PRECONDITION naming the mount and the group.
   */
  requireSharedOutput(name: string | undefined, shared: { readonly mount: string }): void {
    const record = this.recordOf(name ?? this.options.defaultGroup ?? 'default');
    const mount = mountsFromWire(record.spec.mounts ?? []).find((m) => m.name === shared.mount);
    if (!mount)
      throw new FailedPreconditionError(
        `job.output.shared.mount ${JSON.stringify(shared.mount)} is not a mount of capacity group ${JSON.stringify(record.spec.name)} (it mounts ${(record.spec.mounts ?? []).map((m) => JSON.stringify(m.name)).join(', ') || 'nothing'})`,
      );
    if (!mount.writable)
      throw new FailedPreconditionError(
        `job.output.shared.mount ${JSON.stringify(shared.mount)} of capacity group ${JSON.stringify(record.spec.name)} is not writable: set writable on the mount to write outputs there`,
      );
  }

  /**
   * What the dispatcher may do with a group's frames now (see `GroupPreflight.verdict`): held
   * while its preflight runs on a node of it, sent once the node passed, sent back to the farm
   * (naming the mount or the licence server) while it fails.
   */
  dispatchVerdict(name: string): DispatchVerdict {
    const checks = this.preflightChecks(name);
    if (checks.length === 0 || !this.options.preflight) return { verdict: 'go' };
    return this.options.preflight.verdict(name, checks);
  }

  /** The checks a group's nodes run before its first frame: its mounts, then its licence servers. */
  preflightChecks(name: string): PreflightCheck[] {
    const spec = this.groups.get(name)?.spec;
    if (!spec) return [];
    return [mountPreflightCheck(this.mountsOf(name)), licencePreflightCheck(spec.licenseServers)].filter(
      (c): c is PreflightCheck => c !== undefined,
    );
  }

  /** The environment every task of the group gets: its licence servers and GPUs. */
  environmentOf(name: string): Record<string, string> {
    const spec = this.groups.get(name)?.spec;
    return spec ? groupEnvironment(spec) : {};
  }

  /** GPUs per node of a group (0 for a CPU group or one that does not exist). */
  gpusOf(name: string): number {
    return this.groups.get(name)?.spec.gpu?.count ?? 0;
  }

  /**
   * Sets a group's targets by hand, within its maxima and the budget. The targets become
   * the group's pinned floors: a plan never sizes the group below them (resize to 0 and 0
   * to hand the group back to the plan entirely).
   */
  async resize(
    name: string,
    target: { dedicated: number; spot: number },
    options: {
      abortSignal?: AbortSignal;
      deallocation?: 'taskCompletion' | 'requeue';
      resizeTimeoutMs?: number;
    } = {},
  ): Promise<CapacityGroupView> {
    const record = this.recordOf(name);
    const { spec } = record;
    if (target.dedicated > spec.maxDedicatedNodes) {
      throw new ValidationError(
        'target_dedicated_nodes',
        target.dedicated,
        `must be at most max_dedicated_nodes (${spec.maxDedicatedNodes})`,
      );
    }
    if (target.spot > spec.maxSpotNodes) {
      throw new ValidationError(
        'target_spot_nodes',
        target.spot,
        `must be at most max_spot_nodes (${spec.maxSpotNodes})`,
      );
    }
    await this.refuseOverBudget(
      name,
      target,
      pricesOf(spec),
      `resizing ${JSON.stringify(name)} to ${describeTarget(target)}`,
      options,
    );
    // Whatever a plan queued before this is stale now.
    record.manualSeq += 1;
    this.planned.delete(name);
    const status = await this.resizerFor(spec).resizeGroup(name, target, options);
    record.pinned = { dedicated: target.dedicated, spot: target.spot };
    record.owner = 'manual';
    this.save();
    this.logger.info('capacity pinned by hand', {
      group: name,
      dedicated: target.dedicated,
      spot: target.spot,
    });
    return this.view(spec, status);
  }

  private async refuseOverBudget(
    name: string,
    target: NodePair,
    prices: NodePrices,
    what: string,
    options: { abortSignal?: AbortSignal },
  ): Promise<void> {
    if (this.budgetCap.maxSpendPerHour <= 0 || costOf(target, prices) === 0) return;
    const views = await this.list(options);
    const refusal = checkBudget(
      views.map((v) => ({ name: v.spec.name, target: targetOf(v), prices: pricesOf(v.spec) })),
      { group: name, target, prices, what },
      this.budgetCap,
    );
    if (refusal) {
      throw new BudgetExceededError(refusal.message, refusal.maxSpendPerHour, refusal.projectedCostPerHour);
    }
  }

  /**
   * Applies a plan's capacity targets within the owners' bounds (see `clampPlan`): answers
   * with each group's effective target and why it differs from the plan's, and starts the
   * resizes towards them without waiting for them (a group may take minutes to settle). Only
   * the latest plan per group is applied; a manual resize in between wins.
   */
  async applyPlan(
    targets: readonly PlanTarget[],
    context: PlanContext,
    options: { abortSignal?: AbortSignal; resize?: boolean } = {},
  ): Promise<AppliedPlan> {
    const reasons: string[] = [];
    const wanted = new Map<string, NodePair>();
    for (const t of targets) {
      if (!this.groups.has(t.capacityGroup)) {
        reasons.push(`group ${t.capacityGroup}: does not exist; the plan's target for it is ignored`);
        continue;
      }
      wanted.set(t.capacityGroup, { dedicated: t.dedicated, spot: t.spot });
    }
    const seqs = new Map([...this.groups].map(([name, r]) => [name, r.manualSeq]));
    const views = await this.list(options);
    const clampGroups = await Promise.all(
      views.map(async (v): Promise<ClampGroup> => {
        const record = this.groups.get(v.spec.name)!;
        const requested = wanted.get(v.spec.name);
        const current = currentOf(v);
        const max = maxOf(v.spec);
        const shrinks =
          requested !== undefined &&
          (Math.min(requested.dedicated, max.dedicated) < current.dedicated ||
            Math.min(requested.spot, max.spot) < current.spot);
        return {
          name: v.spec.name,
          ...(requested ? { requested } : {}),
          max,
          pin: record.pinned,
          current,
          target: targetOf(v),
          busy: shrinks ? await this.busyNodes(v.spec, options) : NONE,
          holdTarget: v.spec.mode === BurstMode.BURST_MODE_WORKER_BURST && !involves(v.spec, context),
          prices: pricesOf(v.spec),
        };
      }),
    );
    const clamped = clampPlan(clampGroups, this.budgetCap);
    const applied: AppliedTarget[] = clamped.map((c) => {
      const now = clampGroups.find((g) => g.name === c.group)!.target;
      const resizing =
        (options.resize ?? true) &&
        (now.dedicated !== c.effective.dedicated || now.spot !== c.effective.spot);
      if (resizing) this.schedulePlanResize(c.group, c.effective, seqs.get(c.group) ?? 0);
      return { ...c, resizing };
    });
    reasons.push(...applied.flatMap((a) => a.reasons));
    if (applied.some((a) => a.limits.length > 0)) {
      this.logger.info('plan targets clamped', {
        source: context.source,
        groups: applied.filter((a) => a.limits.length > 0).map((a) => `${a.group}:${a.limits.join('+')}`),
      });
    }
    return { targets: applied, reasons };
  }

  private schedulePlanResize(group: string, target: NodePair, manualSeq: number): void {
    this.planned.set(group, { target, manualSeq });
    if (this.planRunning.has(group)) return; // the running loop picks the latest up
    const loop = (async () => {
      for (let next = this.planned.get(group); next; next = this.planned.get(group)) {
        this.planned.delete(group);
        const record = this.groups.get(group);
        if (this.abort.signal.aborted || !record || record.manualSeq !== next.manualSeq) continue;
        // The plan owns the targets from the moment it asks for them: the backend shows the
        // new targets while the resize runs (a scale set's long-running operation).
        const before = record.owner;
        record.owner = 'plan';
        try {
          await this.resizerFor(record.spec).resizeGroup(group, next.target, {
            abortSignal: this.abort.signal,
          });
          if (record.manualSeq === next.manualSeq) this.save();
        } catch (err) {
          if (record.manualSeq === next.manualSeq && record.owner === 'plan') record.owner = before;
          if (!this.abort.signal.aborted) {
            this.logger.warn('resize from plan failed', { group, error: errorText(err) });
          }
        }
      }
    })().finally(() => this.planRunning.delete(group));
    this.planRunning.set(group, loop);
  }

  /** Nodes of a group running work now, by priority. */
  private async busyNodes(
    spec: CapacityGroupSpec,
    options: { abortSignal?: AbortSignal },
  ): Promise<NodePair> {
    const nodes = await this.backendFor(spec).listNodes(spec.name, options);
    this.learnPriorities(spec.name, nodes);
    const busy = nodes.filter((n) => n.runningTasks > 0 || n.state === 'running' || n.protectedFromScaleIn);
    return {
      dedicated: busy.filter((n) => n.priority === 'dedicated').length,
      spot: busy.filter((n) => n.priority === 'spot').length,
    };
  }

  private learnPriorities(group: string, nodes: readonly ComputeNode[]): void {
    for (const n of nodes) this.priorities.set(`${group}/${n.id}`, n.priority);
  }

  /**
   * What one task slot of a node costs per hour: the node's price (dedicated or spot, by
   * the node's priority) divided by the group's slots per node. A frame's cost is its run
   * time × this. When the node is gone before its priority was learnt, a group with only
   * one priority uses that one; a mixed group uses the dedicated price (never under-counts).
   */
  async slotPricePerHour(capacityGroup: string | undefined, nodeId: string | undefined): Promise<number> {
    const name = capacityGroup ?? this.options.defaultGroup ?? 'default';
    const spec = this.groups.get(name)?.spec;
    if (!spec?.cost) return 0;
    const prices = pricesOf(spec);
    if (prices.dedicated === 0 && prices.spot === 0) return 0;
    let priority = nodeId ? this.priorities.get(`${name}/${nodeId}`) : undefined;
    if (!priority && nodeId) {
      // One listing for every frame that asks at once.
      let lookup = this.nodeLookups.get(name);
      if (!lookup) {
        lookup = this.backendFor(spec)
          .listNodes(name, { abortSignal: this.abort.signal })
          .then((nodes) => this.learnPriorities(name, nodes))
          .catch((err: unknown) =>
            this.logger.debug('listing nodes for prices failed', { group: name, error: errorText(err) }),
          )
          .finally(() => this.nodeLookups.delete(name));
        this.nodeLookups.set(name, lookup);
      }
      await lookup;
      priority = this.priorities.get(`${name}/${nodeId}`);
    }
    priority ??= spec.maxDedicatedNodes === 0 ? 'spot' : 'dedicated';
    return prices[priority] / (spec.taskSlotsPerNode || 1);
  }

  /** The studio's budget: the cap, cost per hour now and at the targets, and spend so far. */
  async budget(options: { abortSignal?: AbortSignal } = {}): Promise<BudgetView> {
    const views = await this.list(options);
    const spent = this.meter.snapshot();
    return {
      maxSpendPerHour: this.budgetCap.maxSpendPerHour,
      currency: this.budgetCap.currency,
      costPerHour: views.reduce((sum, v) => sum + v.costPerHour, 0),
      projectedCostPerHour: views.reduce((sum, v) => sum + costOf(targetOf(v), pricesOf(v.spec)), 0),
      spentTotal: spent.total,
      spentSince: spent.since,
    };
  }

  /** The mounts of a group's nodes (none for a group that does not exist). */
  mountsOf(name: string): MountSpec[] {
    const spec = this.groups.get(name)?.spec;
    return spec ? mountsFromWire(spec.mounts ?? []) : [];
  }

  /** Deletes a group. Deleting a missing group succeeds. */
  async delete(name: string, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    const record = this.groups.get(name);
    if (!record) return;
    this.options.preflight?.forget(name);
    this.planned.delete(name);
    await this.backendFor(record.spec).deleteGroup(name, options);
    this.groups.delete(name);
    this.meter.forget(name);
    this.save();
  }

  /** A group's nodes. */
  async listNodes(name: string, options: { abortSignal?: AbortSignal } = {}): Promise<ComputeNode[]> {
    const { spec } = this.recordOf(name);
    const nodes = await this.backendFor(spec).listNodes(name, options);
    this.learnPriorities(name, nodes);
    return nodes;
  }

  /** Capacity events after `afterSeq` (of one group if given). */
  eventsAfter(afterSeq: number, group?: string): SequencedCapacityEvent[] {
    return this.events.slice(afterSeq).filter((e) => !group || e.group === group);
  }

  get lastSeq(): number {
    return this.events.length;
  }

  onEvents(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private view(spec: CapacityGroupSpec, status: GroupStatus | undefined): CapacityGroupView {
    const costPerHour = status
      ? costOf({ dedicated: status.currentDedicatedNodes, spot: status.currentSpotNodes }, pricesOf(spec))
      : 0;
    const backend = this.backendFor(spec);
    this.meter.observe(spec.name, costPerHour, backend.kind !== 'local');
    const record = this.groups.get(spec.name);
    const preflight = this.options.preflight?.view(spec.name);
    const healthy = preflight?.state !== 'failed';
    return {
      spec,
      status:
        status && preflight && !healthy
          ? {
              ...status,
              errors: [
                ...status.errors,
                ...preflight.failures.map((f) => ({
                  code: f.code,
                  message: f.message,
                  observedAt: preflight.checkedAt,
                })),
              ],
            }
          : status,
      costPerHour,
      pinned: record?.pinned ?? NONE,
      targetOwner: record?.owner,
      spentTotal: this.meter.snapshot().byGroup.get(spec.name) ?? 0,
      evictedWork: this.meter.snapshot().evictionsByGroup.get(spec.name) ?? {
        evictions: 0,
        lostMs: 0,
        lostCost: 0,
      },
      ...(preflight ? { preflight } : {}),
      healthy,
    };
  }

  private save(): void {
    writeFileAtomic(
      this.file,
      JSON.stringify(
        [...this.groups.values()].map((r) => ({
          spec: CapacityGroupSpec.toJSON(r.spec),
          pinned: r.pinned,
          ...(r.owner ? { owner: r.owner } : {}),
        })),
        null,
        2,
      ),
    );
  }

  /** Stops metering and drops plan resizes still waiting; the meter is saved. */
  close(): void {
    this.abort.abort();
    if (this.meterTimer) clearInterval(this.meterTimer);
    this.planned.clear();
    this.meter.save();
    for (const u of this.unsubscribes) u();
    this.listeners.clear();
  }
}

function routable(spec: CapacityGroupSpec): RoutableGroup {
  return { name: spec.name, mode: spec.mode, gpus: spec.gpu?.count ?? 0 };
}

/** Whether the report being planned involves a group (see `PlanContext`). */
export function involves(spec: CapacityGroupSpec, context: PlanContext): boolean {
  if (context.capacityGroups.includes(spec.name)) return true;
  const startup = spec.scaleSet?.workerStartup;
  const served = new Set([...(startup?.groups ?? []), ...(startup?.pools ?? [])].filter((g) => g !== ''));
  return context.farmGroups.some((g) => served.has(g));
}

function validateVmImage(spec: CapacityGroupSpec, batch: boolean): void {
  const image = spec.image;
  const where = batch ? 'Azure Batch' : 'a scale set';
  if (!image || (!image.virtualMachineImageId && !image.publisher && !image.offer && !image.sku)) {
    throw new ValidationError(
      'spec.image',
      null,
      `is required by ${where}: publisher, offer and sku (e.g. canonical, 0001-com-ubuntu-server-jammy, 22_04-lts), or virtual_machine_image_id`,
    );
  }
  if (!image.virtualMachineImageId) {
    for (const [field, value] of [
      ['publisher', image.publisher],
      ['offer', image.offer],
      ['sku', image.sku],
    ] as const) {
      if (value === '') {
        throw new ValidationError(
          `spec.image.${field}`,
          value,
          'is required with a marketplace image (or give virtual_machine_image_id)',
        );
      }
    }
  }
  if (batch && !image.nodeAgentSkuId) {
    throw new ValidationError(
      'spec.image.node_agent_sku_id',
      image.nodeAgentSkuId,
      'is required by Azure Batch and must match the image, e.g. "batch.node.ubuntu 22.04"',
    );
  }
}

function pricesOf(spec: CapacityGroupSpec): NodePrices {
  return { dedicated: spec.cost?.dedicatedPerNodeHour ?? 0, spot: spec.cost?.spotPerNodeHour ?? 0 };
}

function maxOf(spec: CapacityGroupSpec): NodePair {
  return { dedicated: spec.maxDedicatedNodes, spot: spec.maxSpotNodes };
}

function clampTo(n: NodePair, max: NodePair): NodePair {
  return { dedicated: Math.min(n.dedicated, max.dedicated), spot: Math.min(n.spot, max.spot) };
}

function targetOf(v: CapacityGroupView): NodePair {
  return { dedicated: v.status?.targetDedicatedNodes ?? 0, spot: v.status?.targetSpotNodes ?? 0 };
}

function currentOf(v: CapacityGroupView): NodePair {
  return { dedicated: v.status?.currentDedicatedNodes ?? 0, spot: v.status?.currentSpotNodes ?? 0 };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The backend's view of a wire spec: worker-burst groups carry their scale-set options. */
export function toBackendSpec(spec: CapacityGroupSpec): GroupSpec {
  const mounts = mountsFromWire(spec.mounts ?? []);
  const withMounts = mounts.length > 0 ? { mounts } : {};
  if (spec.mode === BurstMode.BURST_MODE_WORKER_BURST)
    return { ...scaleSetSpecFromWire(spec), ...withMounts };
  return {
    ...groupBasicsFromWire(spec),
    ...(spec.image ? { image: spec.image } : {}),
    ...(spec.batchPool?.startTaskCommand ? { startTaskCommand: spec.batchPool.startTaskCommand } : {}),
    ...(spec.batchPool?.subnetId ? { subnetId: spec.batchPool.subnetId } : {}),
    ...withMounts,
    ...(spec.gpu?.count ? { gpusPerNode: spec.gpu.count } : {}),
  };
}
