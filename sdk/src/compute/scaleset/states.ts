/**
 * Scale set instances as `ComputeNode`s, and the capacity events between two
 * observations. Pure functions.
 */
import type { CapacityEvent, ComputeNode, GroupStatus, NodeCounts, NodeState } from '../backend';

/** What the backend reads of one instance (a subset of `VirtualMachineScaleSetVM`). */
export interface InstanceView {
  readonly instanceId: string;
  /** ARM provisioning state, e.g. `Creating`, `Succeeded`, `Deleting`, `Failed`. */
  readonly provisioningState?: string;
  /** Instance view status codes, e.g. `PowerState/running`. */
  readonly statusCodes: readonly string[];
  readonly protectFromScaleIn: boolean;
  readonly createdAt?: Date;
  /** The VM's host name (`osProfile.computerName`). */
  readonly computerName?: string;
}

/** The power state from status codes (`running`, `deallocated`, ...), if reported. */
export function powerStateOf(codes: readonly string[]): string | undefined {
  const code = codes.find((c) => c.startsWith('PowerState/'));
  return code?.slice('PowerState/'.length).toLowerCase();
}

/**
 * An instance's node state. A Spot instance found deallocated (or being deleted while
 * deallocated) was evicted: Spillway never deallocates instances itself.
 */
export function nodeStateOf(instance: InstanceView, spot: boolean): NodeState {
  const provisioning = (instance.provisioningState ?? '').toLowerCase();
  const power = powerStateOf(instance.statusCodes);
  if (spot && (power === 'deallocated' || power === 'deallocating')) return 'preempted';
  if (provisioning === 'failed') return 'unusable';
  if (provisioning === 'deleting') return 'leaving';
  if (provisioning === 'creating' || power === undefined) return 'creating';
  switch (power) {
    case 'starting':
      return 'starting';
    case 'running':
      return instance.protectFromScaleIn ? 'running' : 'idle';
    case 'stopping':
    case 'stopped':
    case 'deallocating':
    case 'deallocated':
      return 'offline';
    default:
      return 'unusable';
  }
}

/** An instance as a node of group `group`. */
export function toComputeNode(group: string, instance: InstanceView, spot: boolean): ComputeNode {
  const state = nodeStateOf(instance, spot);
  return {
    id: instance.instanceId,
    group,
    state,
    priority: spot ? 'spot' : 'dedicated',
    runningTasks: state === 'running' ? 1 : 0,
    createdAt: instance.createdAt ?? new Date(0),
    protectedFromScaleIn: instance.protectFromScaleIn,
    ...(instance.computerName ? { hostName: instance.computerName } : {}),
  };
}

const READY: ReadonlySet<NodeState> = new Set(['idle', 'running']);
const FAILED: ReadonlySet<NodeState> = new Set(['unusable', 'startTaskFailed']);

/** What the backend knows besides the two observations. */
export interface DiffContext {
  readonly group: string;
  readonly time: Date;
  /**
   * Instances that vanished were evicted (Spot, Delete policy): set when the scale set's
   * capacity fell below the target Spillway last set, with no operation of Spillway's under way.
   */
  readonly vanishedWerePreempted: boolean;
}

/** Capacity events between a previous and a current observation of a group's nodes. */
export function diffNodes(
  previous: ReadonlyMap<string, NodeState>,
  current: readonly ComputeNode[],
  context: DiffContext,
): CapacityEvent[] {
  const events: CapacityEvent[] = [];
  const base = { group: context.group, time: context.time };
  const seen = new Set<string>();
  for (const node of current) {
    seen.add(node.id);
    const before = previous.get(node.id);
    if (before === node.state) continue;
    if (READY.has(node.state) && (before === undefined || !READY.has(before))) {
      events.push({ ...base, type: 'nodeReady', nodeId: node.id });
    } else if (node.state === 'preempted') {
      events.push({ ...base, type: 'nodePreempted', nodeId: node.id });
    } else if (FAILED.has(node.state) && (before === undefined || !FAILED.has(before))) {
      events.push({
        ...base,
        type: 'nodeFailed',
        nodeId: node.id,
        error: {
          code: 'InstanceFailed',
          message: `instance ${node.id} is ${node.state}`,
          observedAt: context.time,
        },
      });
    }
  }
  for (const [id, before] of previous) {
    if (seen.has(id)) continue;
    const evicted = context.vanishedWerePreempted && before !== 'preempted' && before !== 'leaving';
    events.push({ ...base, type: evicted ? 'nodePreempted' : 'nodeRemoved', nodeId: id });
  }
  return events;
}

/** Node counts by state and priority. */
export function countNodes(nodes: readonly ComputeNode[]): NodeCounts {
  const counts: Partial<Record<NodeState, { dedicated: number; spot: number }>> = {};
  for (const node of nodes) {
    const entry = (counts[node.state] ??= { dedicated: 0, spot: 0 });
    entry[node.priority === 'spot' ? 'spot' : 'dedicated'] += 1;
  }
  return counts;
}

/** A group's state from the scale set's provisioning state. */
export function groupStateOf(provisioningState: string | undefined): GroupStatus['state'] {
  switch ((provisioningState ?? '').toLowerCase()) {
    case 'creating':
      return 'creating';
    case 'updating':
      return 'resizing';
    case 'deleting':
      return 'deleting';
    case 'failed':
      return 'failed';
    default:
      return 'steady';
  }
}
