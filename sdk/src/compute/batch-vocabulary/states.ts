import type { NodeState } from '../backend';

/** Node states exactly as Azure Batch spells them on the wire. */
export type BatchNodeState =
  | 'creating'
  | 'starting'
  | 'waitingforstarttask'
  | 'idle'
  | 'running'
  | 'rebooting'
  | 'preempted'
  | 'starttaskfailed'
  | 'unusable'
  | 'leavingpool'
  | 'offline';

const NODE_STATES: Record<string, NodeState> = {
  creating: 'creating',
  starting: 'starting',
  rebooting: 'starting',
  reimaging: 'starting',
  waitingforstarttask: 'waitingForStartTask',
  idle: 'idle',
  running: 'running',
  preempted: 'preempted',
  starttaskfailed: 'startTaskFailed',
  unusable: 'unusable',
  unknown: 'unusable',
  leavingpool: 'leaving',
  offline: 'offline',
};

/** Maps a Batch wire node state (`waitingforstarttask`) to the contract's (`waitingForStartTask`). */
export function nodeStateOf(state: BatchNodeState | string | undefined): NodeState {
  return NODE_STATES[state ?? 'unknown'] ?? 'unusable';
}
