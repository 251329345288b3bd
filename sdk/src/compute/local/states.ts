import type { NodeState } from '../backend';
import type { BatchNodeState } from './types';

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
