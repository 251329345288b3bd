import type { GroupStatus, NodeState } from '../compute/backend';
import type { MountSpec } from '../storage/mounts';
import { mountToWire, mountsFromWire } from '../storage/mounts-wire';
import * as wc from '../gen/spillway/v1/capacity';
import { NodePriority } from '../gen/spillway/v1/common';
import {
  backendKinds,
  burstModes,
  durationFromWire,
  nodeStates,
  provisioningStates,
  targetOwners,
  workerDispositions,
} from '../model/wire-mapping';
import { ValidationError } from '../errors';
import type { UnaryMethod } from './call';

/** Options every call takes (the same as the `BurstClient`'s). */
export interface CapacityCallOptions {
  readonly abortSignal?: AbortSignal;
  readonly timeoutMs?: number;
}

/** The shape of a capacity group to create or reconcile. */
export interface CapacityGroupInput {
  /** 1-64 characters of [a-z0-9-], starting with a letter. */
  readonly name: string;
  readonly mode: 'frame-offload' | 'worker-burst';
  /** @default the service's configured backend for the mode */
  readonly backend?: 'local' | 'batch' | 'scale-set';
  /** Azure VM size, e.g. `Standard_D16as_v5`; free text for the local backend. */
  readonly vmSize: string;
  /** @default 1 */
  readonly taskSlotsPerNode?: number;
  readonly maxDedicatedNodes?: number;
  readonly maxSpotNodes?: number;
  /** Prices per node hour, for the policy, the budget and cost reports. @default free (0) */
  readonly cost?: {
    /** @default the service's budget currency */
    readonly currency?: string;
    readonly dedicated: number;
    readonly spot: number;
  };
  /** The nodes' OS image: required by Azure Batch and scale sets. @default none (the local engine needs none) */
  readonly image?: CapacityImage;
  /** Subnet resource id the nodes join (Batch pool or scale set). @default the backend's own network */
  readonly subnetId?: string;
  /** Scale sets: Azure resource group. @default the service's `workerBurst.resourceGroup` */
  readonly resourceGroup?: string;
  /** Scale sets: Azure region, e.g. `westeurope`. @default the service's `workerBurst.location` */
  readonly location?: string;
  /** Worker burst: how instances join the farm. Required for worker-burst groups. */
  readonly workerStartup?: WorkerStartupInput;
  /**
   * File systems mounted on every node (blob, Azure Files, NFS, CIFS; credentials by
   * reference); tasks find each in `SPILLWAY_MOUNT_<NAME>`. @default none
   */
  readonly mounts?: readonly MountSpec[];
  /**
   * Licence servers the renderers need: set on every task of the group, and checked from a
   * node of the group before its first frame. @default none
   */
  readonly licenseServers?: readonly LicenseServerInput[];
  /** The nodes' GPUs. @default from the VM size (an Azure N-series size has some), else none */
  readonly gpu?: { readonly count?: number; readonly device?: 'CUDA' | 'OPTIX' | 'HIP' };
  /** Everything else the contract offers (pool lifetime, eviction policy...), as wire fields. */
  readonly advanced?: Partial<Omit<wc.CapacityGroupSpec, 'name' | 'mode' | 'backend' | 'vmSize'>>;
}

/** A licence server of a group. */
export interface LicenseServerInput {
  /** `host:port` as the nodes reach it, e.g. `lic.studio.internal:27000`. */
  readonly address: string;
  /** Set to `port@host` on every task, e.g. `ADSKFLEX_LICENSE_FILE`, `solidangle_LICENSE`, `RLM_LICENSE`, `foundry_LICENSE`. @default none */
  readonly environmentVariables?: readonly string[];
  /** For messages. @default the address */
  readonly name?: string;
}

/** A node OS image: a marketplace image (publisher, offer, sku) or a custom image id. */
export interface CapacityImage {
  readonly publisher?: string;
  readonly offer?: string;
  readonly sku?: string;
  /** @default 'latest' */
  readonly version?: string;
  /** An Azure Compute Gallery image version resource id instead of the marketplace fields. */
  readonly virtualMachineImageId?: string;
  /** Batch only: the node agent matching the image, e.g. `batch.node.ubuntu 22.04`. */
  readonly nodeAgentSkuId?: string;
}

/**
 * An image as `az` writes one: a URN `publisher:offer:sku[:version]` (e.g.
 * `canonical:0001-com-ubuntu-server-jammy:22_04-lts:latest`) or a custom image's resource id
 * (`/subscriptions/.../images/...`). Throws a `ValidationError` naming `field` otherwise.
 */
export function parseImageReference(text: string, field = 'image'): CapacityImage {
  if (text.startsWith('/subscriptions/')) return { virtualMachineImageId: text };
  const parts = text.split(':');
  if (parts.length < 3 || parts.length > 4 || parts.some((p) => p.trim() === '')) {
    throw new ValidationError(
      field,
      text,
      'must be publisher:offer:sku[:version] (e.g. canonical:0001-com-ubuntu-server-jammy:22_04-lts) or an image resource id',
    );
  }
  const [publisher, offer, sku, version] = parts as [string, string, string, string | undefined];
  return { publisher, offer, sku, ...(version ? { version } : {}) };
}

/** How a worker-burst instance joins the farm (never a secret: name a secret-store reference). */
export interface WorkerStartupInput {
  readonly renderManager: 'deadline' | 'opencue';
  /** Deadline repository or RCS address; OpenCue Cuebot host:port. */
  readonly farmAddress: string;
  /** Deadline groups or OpenCue tags the worker advertises (the farm groups the group serves). @default none */
  readonly groups?: readonly string[];
  /** Deadline pools. @default none */
  readonly pools?: readonly string[];
  /** OpenCue facility. @default none */
  readonly facility?: string;
  /** A secret-store reference (e.g. a Key Vault secret URI) for farm credentials. @default none */
  readonly secretReference?: string;
  /** Replaces the render manager's default start-up command. @default the render manager's */
  readonly command?: string;
}

/** The studio's spend cap and what capacity costs. */
export interface BudgetInfo {
  /** The cap per hour; 0 = uncapped. */
  readonly maxSpendPerHour: number;
  readonly currency: string;
  /** What the nodes allocated now cost per hour. */
  readonly costPerHour: number;
  /** What the groups cost per hour at their targets (what the cap is checked against). */
  readonly projectedCostPerHour: number;
  /** Spent since `spentSince`. */
  readonly spentTotal: number;
  readonly spentSince: Date | undefined;
}

/** A capacity group: its shape and live status. */
export interface CapacityGroupInfo {
  readonly name: string;
  readonly mode: 'frame-offload' | 'worker-burst' | undefined;
  readonly backend: 'local' | 'batch' | 'scale-set' | undefined;
  readonly vmSize: string;
  readonly taskSlotsPerNode: number;
  readonly maxDedicatedNodes: number;
  readonly maxSpotNodes: number;
  readonly state: GroupStatus['state'] | undefined;
  readonly target: { readonly dedicated: number; readonly spot: number };
  readonly current: { readonly dedicated: number; readonly spot: number };
  /** Nodes per state. */
  readonly nodes: Partial<Record<NodeState, { readonly dedicated: number; readonly spot: number }>>;
  readonly costPerHour: number;
  /** Floors a person pinned with the last manual resize: the plan never goes below them. */
  readonly pinned: { readonly dedicated: number; readonly spot: number };
  /** Who set the current targets; undefined when no one has yet. */
  readonly targetOwner: 'manual' | 'plan' | undefined;
  /** What the group has cost so far. */
  readonly spentTotal: number;
  /** Worker burst: Spot evictions and the render work they interrupted (part of the spend). */
  readonly evictedWork: { readonly evictions: number; readonly lostMs: number; readonly lostCost: number };
  readonly errors: readonly { readonly code: string; readonly message: string }[];
  /** The pool's or scale set's id in the backend. */
  readonly backendId: string;
  readonly licenseServers: readonly {
    readonly address: string;
    readonly environmentVariables: readonly string[];
    readonly name: string;
  }[];
  /** File systems every node mounts (credentials by reference only). */
  readonly mounts: readonly MountSpec[];
  /** GPUs per node and their device API; undefined for a CPU group. */
  readonly gpu: { readonly count: number; readonly device: string } | undefined;
  /**
   * The latest preflight on a node of the group (its mounts, its licence servers); undefined
   * when the group needs none or none ran yet.
   */
  readonly preflight:
    | {
        readonly state: 'pending' | 'passed' | 'failed';
        /** What failed: `code` MountUnavailable or LicenseServerUnreachable, `subject` the mount or server. */
        readonly failures: readonly {
          readonly code: string;
          readonly subject: string;
          readonly message: string;
        }[];
        /** The kinds of check run, e.g. `['mounts', 'licence servers']`. */
        readonly checks: readonly string[];
        readonly checkedAt: Date | undefined;
        readonly nodeId: string;
      }
    | undefined;
  /** False while the group takes no frames (its last preflight failed; see `preflight` and `errors`). */
  readonly healthy: boolean;
}

/** One node of a group. */
export interface CapacityNodeInfo {
  readonly nodeId: string;
  readonly group: string;
  readonly state: NodeState | undefined;
  readonly priority: 'dedicated' | 'spot';
  readonly runningTasks: number;
  readonly createdAt: Date | undefined;
  /** GPUs of the node. */
  readonly gpus: number;
  /** Scale sets: protected from scale-in (its worker is busy). */
  readonly protectedFromScaleIn: boolean;
  /** Worker burst: the name its worker joins the render manager with (its host name). */
  readonly workerName: string | undefined;
}

/** A worker of a worker-burst group as its render manager sees it (for `reportWorkers`). */
export interface WorkerReportInput {
  /** Its name in the render manager (the instance's host name, `CapacityNodeInfo.workerName`). */
  readonly workerName: string;
  /** It renders a frame now. */
  readonly busy: boolean;
  /** The render manager may give it new work (Deadline: enabled; OpenCue: not locked). */
  readonly acceptingWork: boolean;
  /** When its current frame started. */
  readonly busySince?: Date;
}

/** What one worker of a worker-burst group is to do. */
export interface WorkerOrderInfo {
  readonly workerName: string;
  readonly nodeId: string;
  /**
   * `serve`: take work; `drain`: take no new work (its instance leaves once idle);
   * `evicted`: give back the frame it was rendering now; `remove`: its instance is gone,
   * remove its record.
   */
  readonly disposition: 'serve' | 'drain' | 'evicted' | 'remove';
}

/** Calls one unary RPC with the client's metadata, deadline and retries. */
export type UnaryCaller = <Req, Res>(
  method: UnaryMethod<Req, Res>,
  request: Req,
  options?: CapacityCallOptions,
) => Promise<Res>;

function groupFromWire(g: wc.CapacityGroup | undefined): CapacityGroupInfo {
  const spec = g?.spec;
  const s = g?.status;
  const nodes: Partial<Record<NodeState, { dedicated: number; spot: number }>> = {};
  for (const c of s?.nodeCounts ?? []) {
    const state = nodeStates.fromWire(c.state);
    if (state) nodes[state] = { dedicated: c.dedicated, spot: c.spot };
  }
  return {
    name: spec?.name ?? '',
    mode: spec ? burstModes.fromWire(spec.mode) : undefined,
    backend: spec ? backendKinds.fromWire(spec.backend) : undefined,
    vmSize: spec?.vmSize ?? '',
    taskSlotsPerNode: spec?.taskSlotsPerNode || 1,
    maxDedicatedNodes: spec?.maxDedicatedNodes ?? 0,
    maxSpotNodes: spec?.maxSpotNodes ?? 0,
    state: s ? provisioningStates.fromWire(s.state) : undefined,
    target: { dedicated: s?.targetDedicatedNodes ?? 0, spot: s?.targetSpotNodes ?? 0 },
    current: { dedicated: s?.currentDedicatedNodes ?? 0, spot: s?.currentSpotNodes ?? 0 },
    nodes,
    costPerHour: s?.costPerHour ?? 0,
    pinned: { dedicated: s?.pinnedDedicatedNodes ?? 0, spot: s?.pinnedSpotNodes ?? 0 },
    targetOwner: s ? targetOwners.fromWire(s.targetOwner) : undefined,
    spentTotal: s?.spentTotal ?? 0,
    evictedWork: {
      evictions: s?.evictions ?? 0,
      lostMs: durationFromWire(s?.evictedWork) ?? 0,
      lostCost: s?.evictedWorkCost ?? 0,
    },
    errors: (s?.errors ?? []).map((e) => ({ code: e.code, message: e.message })),
    backendId: s?.backendId ?? '',
    licenseServers: (spec?.licenseServers ?? []).map((l) => ({
      ...l,
      environmentVariables: [...l.environmentVariables],
    })),
    mounts: mountsFromWire(spec?.mounts ?? []),
    gpu: spec?.gpu && spec.gpu.count > 0 ? { count: spec.gpu.count, device: spec.gpu.device } : undefined,
    preflight: s?.preflight
      ? {
          state:
            s.preflight.state === wc.PreflightState.PREFLIGHT_STATE_PASSED
              ? 'passed'
              : s.preflight.state === wc.PreflightState.PREFLIGHT_STATE_FAILED
                ? 'failed'
                : 'pending',
          failures: s.preflight.failures.map((f) => ({
            code: f.code,
            subject: f.subject,
            message: f.message,
          })),
          checks: [...s.preflight.checks],
          checkedAt: s.preflight.checkedAt,
          nodeId: s.preflight.nodeId,
        }
      : undefined,
    healthy: s?.healthy ?? true,
  };
}

/**
 * The CapacityService through a `BurstClient`'s channel (`client.capacity`): capacity groups
 * (Batch pools, Scale Sets, or the local engine's pools) and their nodes.
 */
export class CapacityApi {
  constructor(
    private readonly service: wc.CapacityServiceClient,
    private readonly call: UnaryCaller,
  ) {}

  /** Every group, in name order. */
  async list(options?: CapacityCallOptions): Promise<CapacityGroupInfo[]> {
    const groups: CapacityGroupInfo[] = [];
    let pageToken = '';
    do {
      const res = await this.call(
        this.service.listCapacityGroups.bind(this.service),
        { pageSize: 1000, pageToken },
        options,
      );
      groups.push(...res.groups.map(groupFromWire));
      pageToken = res.nextPageToken;
    } while (pageToken !== '');
    return groups;
  }

  /** One group; NOT_FOUND when there is none of that name. */
  async get(name: string, options?: CapacityCallOptions): Promise<CapacityGroupInfo> {
    const res = await this.call(this.service.getCapacityGroup.bind(this.service), { name }, options);
    return groupFromWire(res.group);
  }

  /** Creates the group, or reconciles an existing one towards the input. Idempotent. */
  async ensure(
    input: CapacityGroupInput,
    options?: CapacityCallOptions,
  ): Promise<{ group: CapacityGroupInfo; created: boolean }> {
    const worker = input.mode === 'worker-burst';
    const startup = input.workerStartup;
    const spec = wc.CapacityGroupSpec.fromPartial({
      ...input.advanced,
      ...(input.image ? { image: { ...input.advanced?.image, ...input.image } } : {}),
      ...(!worker && input.subnetId
        ? { batchPool: { ...input.advanced?.batchPool, subnetId: input.subnetId } }
        : {}),
      ...(worker && (input.subnetId || input.resourceGroup || input.location || startup)
        ? {
            scaleSet: {
              ...input.advanced?.scaleSet,
              ...(input.subnetId ? { subnetId: input.subnetId } : {}),
              ...(input.resourceGroup ? { resourceGroup: input.resourceGroup } : {}),
              ...(input.location ? { location: input.location } : {}),
              ...(startup
                ? {
                    workerStartup: {
                      renderManager:
                        startup.renderManager === 'opencue'
                          ? wc.RenderManager.RENDER_MANAGER_OPENCUE
                          : wc.RenderManager.RENDER_MANAGER_DEADLINE,
                      farmAddress: startup.farmAddress,
                      groups: [...(startup.groups ?? [])],
                      pools: [...(startup.pools ?? [])],
                      facility: startup.facility ?? '',
                      secretReference: startup.secretReference ?? '',
                      command: startup.command ?? '',
                    },
                  }
                : {}),
            },
          }
        : {}),
      ...(input.mounts ? { mounts: input.mounts.map(mountToWire) } : {}),
      name: input.name,
      mode: burstModes.toWire(input.mode),
      backend: input.backend ? backendKinds.toWire(input.backend) : wc.BackendKind.BACKEND_KIND_UNSPECIFIED,
      vmSize: input.vmSize,
      taskSlotsPerNode: input.taskSlotsPerNode ?? input.advanced?.taskSlotsPerNode ?? 0,
      maxDedicatedNodes: input.maxDedicatedNodes ?? input.advanced?.maxDedicatedNodes ?? 0,
      maxSpotNodes: input.maxSpotNodes ?? input.advanced?.maxSpotNodes ?? 0,
      ...(input.licenseServers
        ? {
            licenseServers: input.licenseServers.map((l) => ({
              address: l.address,
              environmentVariables: [...(l.environmentVariables ?? [])],
              name: l.name ?? '',
            })),
          }
        : {}),
      ...(input.gpu ? { gpu: { count: input.gpu.count ?? 0, device: input.gpu.device ?? '' } } : {}),
      ...(input.cost
        ? {
            cost: {
              currency: input.cost.currency ?? '',
              dedicatedPerNodeHour: input.cost.dedicated,
              spotPerNodeHour: input.cost.spot,
              billingGranularitySeconds: 60,
            },
          }
        : {}),
    });
    const res = await this.call(this.service.ensureCapacityGroup.bind(this.service), { spec }, options);
    return { group: groupFromWire(res.group), created: res.created };
  }

  /** Sets a group's target node counts. */
  async resize(
    name: string,
    target: { readonly dedicated: number; readonly spot: number },
    options?: CapacityCallOptions & {
      /** What happens to tasks on removed nodes. @default 'taskCompletion' (let them finish) */
      readonly deallocation?: 'taskCompletion' | 'requeue';
    },
  ): Promise<CapacityGroupInfo> {
    const res = await this.call(
      this.service.resizeCapacityGroup.bind(this.service),
      {
        name,
        targetDedicatedNodes: target.dedicated,
        targetSpotNodes: target.spot,
        deallocation:
          options?.deallocation === 'requeue'
            ? wc.NodeDeallocation.NODE_DEALLOCATION_REQUEUE
            : wc.NodeDeallocation.NODE_DEALLOCATION_TASK_COMPLETION,
        resizeTimeout: undefined,
      },
      options,
    );
    return groupFromWire(res.group);
  }

  /** The studio's budget: the cap, cost per hour now and at the targets, and spend so far. */
  async budget(options?: CapacityCallOptions): Promise<BudgetInfo> {
    const res = await this.call(this.service.getBudget.bind(this.service), {}, options);
    const b = res.budget;
    return {
      maxSpendPerHour: b?.maxSpendPerHour ?? 0,
      currency: b?.currency ?? '',
      costPerHour: b?.costPerHour ?? 0,
      projectedCostPerHour: b?.projectedCostPerHour ?? 0,
      spentTotal: b?.spentTotal ?? 0,
      spentSince: b?.spentSince,
    };
  }

  /** Deletes a group and its nodes; deleting a missing group succeeds. */
  async delete(name: string, options?: CapacityCallOptions): Promise<void> {
    await this.call(this.service.deleteCapacityGroup.bind(this.service), { name }, options);
  }

  /**
   * Worker burst: reports how the render manager sees a worker-burst group's workers, and
   * answers what each is to do (the bridge carries it out: Deadline disables or re-enables
   * the worker, OpenCue locks or unlocks the host; evicted workers' frames are requeued;
   * removed workers' records go). Busy workers are kept from scale-in; an instance is only
   * deleted once its worker drained.
   */
  async reportWorkers(
    group: string,
    workers: readonly WorkerReportInput[],
    options?: CapacityCallOptions & { readonly source?: string },
  ): Promise<WorkerOrderInfo[]> {
    const res = await this.call(
      this.service.reportWorkers.bind(this.service),
      {
        capacityGroup: group,
        source: options?.source ?? '',
        workers: workers.map((w) => ({
          workerName: w.workerName,
          busy: w.busy,
          acceptingWork: w.acceptingWork,
          busySince: w.busySince,
        })),
      },
      options,
    );
    return res.orders.flatMap((o) => {
      const disposition = workerDispositions.fromWire(o.disposition);
      return disposition ? [{ workerName: o.workerName, nodeId: o.nodeId, disposition }] : [];
    });
  }

  /** A group's nodes. */
  async nodes(group: string, options?: CapacityCallOptions): Promise<CapacityNodeInfo[]> {
    const nodes: CapacityNodeInfo[] = [];
    let pageToken = '';
    do {
      const res = await this.call(
        this.service.listNodes.bind(this.service),
        { capacityGroup: group, pageSize: 1000, pageToken },
        options,
      );
      nodes.push(
        ...res.nodes.map((n) => ({
          nodeId: n.nodeId,
          group: n.capacityGroup,
          state: nodeStates.fromWire(n.state),
          priority:
            n.priority === NodePriority.NODE_PRIORITY_SPOT ? ('spot' as const) : ('dedicated' as const),
          runningTasks: n.runningTasks,
          createdAt: n.createdAt,
          gpus: n.gpus,
          protectedFromScaleIn: n.protectedFromScaleIn,
          workerName: n.workerName === '' ? undefined : n.workerName,
        })),
      );
      pageToken = res.nextPageToken;
    } while (pageToken !== '');
    return nodes;
  }
}
