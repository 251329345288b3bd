import type { GroupStatus, NodeState } from '../compute/backend';
import * as wc from '../gen/spillway/v1/capacity';
import { NodePriority } from '../gen/spillway/v1/common';
import { backendKinds, burstModes, nodeStates, provisioningStates } from '../model/wire-mapping';
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
  /** Prices per node hour, for the policy and cost reports. */
  readonly cost?: { readonly currency?: string; readonly dedicated: number; readonly spot: number };
  /** Everything else the contract offers (image, pool or scale-set options...), as wire fields. */
  readonly advanced?: Partial<Omit<wc.CapacityGroupSpec, 'name' | 'mode' | 'backend' | 'vmSize'>>;
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
  readonly errors: readonly { readonly code: string; readonly message: string }[];
  /** The pool's or scale set's id in the backend. */
  readonly backendId: string;
}

/** One node of a group. */
export interface CapacityNodeInfo {
  readonly nodeId: string;
  readonly group: string;
  readonly state: NodeState | undefined;
  readonly priority: 'dedicated' | 'spot';
  readonly runningTasks: number;
  readonly createdAt: Date | undefined;
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
    errors: (s?.errors ?? []).map((e) => ({ code: e.code, message: e.message })),
    backendId: s?.backendId ?? '',
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
    const spec = wc.CapacityGroupSpec.fromPartial({
      ...input.advanced,
      name: input.name,
      mode: burstModes.toWire(input.mode),
      backend: input.backend ? backendKinds.toWire(input.backend) : wc.BackendKind.BACKEND_KIND_UNSPECIFIED,
      vmSize: input.vmSize,
      taskSlotsPerNode: input.taskSlotsPerNode ?? input.advanced?.taskSlotsPerNode ?? 0,
      maxDedicatedNodes: input.maxDedicatedNodes ?? input.advanced?.maxDedicatedNodes ?? 0,
      maxSpotNodes: input.maxSpotNodes ?? input.advanced?.maxSpotNodes ?? 0,
      ...(input.cost
        ? {
            cost: {
              currency: input.cost.currency ?? 'USD',
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

  /** Deletes a group and its nodes; deleting a missing group succeeds. */
  async delete(name: string, options?: CapacityCallOptions): Promise<void> {
    await this.call(this.service.deleteCapacityGroup.bind(this.service), { name }, options);
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
        })),
      );
      pageToken = res.nextPageToken;
    } while (pageToken !== '');
    return nodes;
  }
}
