import type { ComputeNode } from '../../compute/backend';
import { planWorkers, type LeftNode, type WorkerPlanInput, type WorkerView } from './plan';

const NOW = new Date('2026-03-01T12:00:00Z');

function node(id: string, state: ComputeNode['state'], extra: Partial<ComputeNode> = {}): ComputeNode {
  return {
    id,
    group: 'cloud',
    state,
    priority: 'spot',
    runningTasks: 0,
    createdAt: new Date(NOW.getTime() - 60_000),
    protectedFromScaleIn: false,
    hostName: `cloud00000${id}`,
    ...extra,
  };
}

const idle: WorkerView = { busy: false, acceptingWork: true };
const busy = (since = 30): WorkerView => ({
  busy: true,
  acceptingWork: true,
  busySince: new Date(NOW.getTime() - since * 1000),
});
const disabledIdle: WorkerView = { busy: false, acceptingWork: false };
const disabledBusy: WorkerView = { busy: true, acceptingWork: false, busySince: NOW };

function input(over: Partial<WorkerPlanInput>): WorkerPlanInput {
  return {
    now: NOW,
    nodes: [],
    workers: new Map(),
    target: undefined,
    draining: new Set(),
    left: [],
    joinTimeoutMs: 600_000,
    ...over,
  };
}

const workers = (entries: Record<string, WorkerView>): Map<string, WorkerView> =>
  new Map(Object.entries(entries).map(([id, w]) => [`cloud00000${id}`, w]));

describe('planWorkers', () => {
  // GIVEN a group's instances, workers, target and drains WHEN planned THEN the steps are these
  it.each<[string, Partial<WorkerPlanInput>, Record<string, unknown>]>([
    [
      'at its target: every worker serves, nothing moves',
      { nodes: [node('0', 'idle'), node('1', 'idle')], workers: workers({ 0: idle, 1: idle }), target: 2 },
      { draining: [], remove: [], growTo: undefined, orders: ['0:serve', '1:serve'] },
    ],
    [
      'below its target: grows the scale set',
      { nodes: [node('0', 'idle')], workers: workers({ 0: idle }), target: 3 },
      { draining: [], remove: [], growTo: 3, orders: ['0:serve'] },
    ],
    [
      'to 0: a booting instance goes at once, workers drain (idle first, busy last)',
      {
        nodes: [node('0', 'running'), node('1', 'idle'), node('2', 'starting', { hostName: 'cloud000002' })],
        workers: workers({ 0: busy(), 1: idle }),
        target: 0,
      },
      { draining: ['0', '1'], remove: ['2'], protect: ['0'], orders: ['0:drain', '1:drain', '2:remove'] },
    ],
    [
      'a draining worker that stopped taking work and renders nothing is deleted; a busy one waits',
      {
        nodes: [node('0', 'running', { protectedFromScaleIn: true }), node('1', 'idle')],
        workers: workers({ 0: disabledBusy, 1: disabledIdle }),
        target: 0,
        draining: new Set(['0', '1']),
      },
      { draining: ['0'], remove: ['1'], protect: [], orders: ['0:drain', '1:remove'] },
    ],
    [
      'an idle draining worker still taking work is not deleted (the bridge has not stopped it yet)',
      { nodes: [node('1', 'idle')], workers: workers({ 1: idle }), target: 0, draining: new Set(['1']) },
      { draining: ['1'], remove: [], orders: ['1:drain'] },
    ],
    [
      'shrinking by one drains the idle worker, not the busy one',
      {
        nodes: [node('0', 'running'), node('1', 'idle')],
        workers: workers({ 0: busy(), 1: idle }),
        target: 1,
      },
      { draining: ['1'], remove: [], orders: ['0:serve', '1:drain'] },
    ],
    [
      'of two busy workers, the one rendering longest drains',
      {
        nodes: [node('0', 'running'), node('1', 'running')],
        workers: workers({ 0: busy(10), 1: busy(90) }),
        target: 1,
      },
      { draining: ['1'], orders: ['0:serve', '1:drain'] },
    ],
    [
      'growing again takes a draining instance back before adding one',
      {
        nodes: [node('0', 'idle'), node('1', 'running')],
        workers: workers({ 0: idle, 1: disabledBusy }),
        target: 2,
        draining: new Set(['1']),
      },
      { draining: [], remove: [], growTo: undefined, orders: ['0:serve', '1:serve'] },
    ],
    [
      'an evicted instance: its worker gives its frame back; one removed lately: its record goes',
      {
        nodes: [node('0', 'preempted'), node('1', 'idle')],
        workers: workers({ 1: idle }),
        target: 1,
        left: [{ nodeId: '7', workerName: 'cloud000007', how: 'removed', at: NOW } satisfies LeftNode],
      },
      { draining: [], remove: [], orders: ['0:evicted', '1:serve', '7:remove'] },
    ],
    [
      'an instance up without a worker for longer than the join timeout is deleted when draining',
      {
        nodes: [node('3', 'idle', { createdAt: new Date(NOW.getTime() - 700_000) })],
        workers: new Map(),
        target: 0,
      },
      { draining: [], remove: ['3'], orders: ['3:remove'] },
    ],
    [
      'an instance up and not joined yet waits (its worker may be registering)',
      { nodes: [node('3', 'idle')], workers: new Map(), target: 0 },
      { draining: ['3'], remove: [], orders: ['3:drain'] },
    ],
    [
      'no bridge reports the group: protection is the only busy sign; unprotected instances go, protected ones stay',
      {
        nodes: [
          node('0', 'running', { protectedFromScaleIn: true }),
          node('1', 'idle'),
          node('2', 'starting'),
        ],
        workers: undefined,
        target: 1,
      },
      { draining: [], remove: ['1', '2'], orders: ['0:serve', '1:remove', '2:remove'] },
    ],
    [
      'protection follows the worker: busy protected, idle unprotected; no target: no sizing',
      {
        nodes: [node('0', 'running'), node('1', 'idle', { protectedFromScaleIn: true })],
        workers: workers({ 0: busy(), 1: idle }),
      },
      { protect: ['0'], unprotect: ['1'], draining: [], orders: ['0:serve', '1:serve'] },
    ],
  ])('%s', (_what, given, expected) => {
    const plan = planWorkers(input(given));
    const actual: Record<string, unknown> = {
      draining: [...plan.draining].sort(),
      remove: plan.remove,
      growTo: plan.growTo,
      protect: plan.protect,
      unprotect: plan.unprotect,
      orders: plan.orders.map((o) => `${o.nodeId}:${o.disposition}`).sort(),
    };
    for (const [k, v] of Object.entries(expected)) expect([k, actual[k]]).toEqual([k, v]);
  });

  it('never deletes an instance whose worker is busy, whatever the target', () => {
    // GIVEN every mix of worker states WHEN planned to 0 THEN no busy worker's instance is deleted
    const views = [idle, busy(), disabledIdle, disabledBusy, undefined];
    for (const a of views)
      for (const b of views) {
        const ws = new Map<string, WorkerView>();
        if (a) ws.set('cloud000000', a);
        if (b) ws.set('cloud000001', b);
        const plan = planWorkers(
          input({
            nodes: [node('0', 'running'), node('1', 'idle')],
            workers: ws,
            target: 0,
            draining: new Set(['0', '1']),
          }),
        );
        for (const id of plan.remove) expect(ws.get(`cloud00000${id}`)?.busy ?? false).toBe(false);
      }
  });
});
