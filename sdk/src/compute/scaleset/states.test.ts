import type { NodeState } from '../backend';
import { countNodes, diffNodes, groupStateOf, nodeStateOf, toComputeNode, type InstanceView } from './states';

const view = (
  provisioningState: string,
  power: string | undefined,
  protectFromScaleIn = false,
): InstanceView => ({
  instanceId: '0',
  provisioningState,
  statusCodes: [
    `ProvisioningState/${provisioningState.toLowerCase()}`,
    ...(power ? [`PowerState/${power}`] : []),
  ],
  protectFromScaleIn,
});

describe('nodeStateOf', () => {
  // GIVEN an instance's provisioning and power state WHEN mapped THEN the node state
  it.each<[string, InstanceView, boolean, NodeState]>([
    ['creating', view('Creating', 'starting'), true, 'creating'],
    ['no power state yet', view('Succeeded', undefined), true, 'creating'],
    ['starting', view('Succeeded', 'starting'), true, 'starting'],
    ['running, unprotected', view('Succeeded', 'running'), true, 'idle'],
    ['running, protected (busy)', view('Succeeded', 'running', true), true, 'running'],
    ['spot deallocated = evicted', view('Succeeded', 'deallocated'), true, 'preempted'],
    ['spot evicted, being deleted', view('Deleting', 'deallocated'), true, 'preempted'],
    ['regular deallocated', view('Succeeded', 'deallocated'), false, 'offline'],
    ['regular stopped', view('Succeeded', 'stopped'), false, 'offline'],
    ['deleting', view('Deleting', 'running'), true, 'leaving'],
    ['failed', view('Failed', 'running'), false, 'unusable'],
    ['unknown power state', view('Succeeded', 'weird'), false, 'unusable'],
  ])('%s', (_what, instance, spot, expected) => {
    expect(nodeStateOf(instance, spot)).toBe(expected);
  });
});

describe('diffNodes', () => {
  const time = new Date('2026-01-01T00:00:00Z');
  const node = (id: string, state: NodeState) => ({
    ...toComputeNode('g', { ...view('Succeeded', 'running'), instanceId: id }, true),
    state,
  });
  // GIVEN two observations WHEN diffed THEN the events
  it.each<[string, [string, NodeState][], [string, NodeState][], boolean, [string, string][]]>([
    ['new ready node', [], [['0', 'idle']], false, [['nodeReady', '0']]],
    ['creating then ready', [['0', 'creating']], [['0', 'idle']], false, [['nodeReady', '0']]],
    ['idle to running is no event', [['0', 'idle']], [['0', 'running']], false, []],
    ['still creating', [['0', 'creating']], [['0', 'creating']], false, []],
    ['evicted in place', [['0', 'running']], [['0', 'preempted']], false, [['nodePreempted', '0']]],
    ['failed', [['0', 'creating']], [['0', 'unusable']], false, [['nodeFailed', '0']]],
    ['removed by us', [['0', 'idle']], [], false, [['nodeRemoved', '0']]],
    ['vanished while capacity fell short: evicted', [['0', 'idle']], [], true, [['nodePreempted', '0']]],
    [
      'preempted then gone: removed, not preempted twice',
      [['0', 'preempted']],
      [],
      true,
      [['nodeRemoved', '0']],
    ],
    ['leaving then gone', [['0', 'leaving']], [], true, [['nodeRemoved', '0']]],
  ])('%s', (_what, before, after, vanished, expected) => {
    const events = diffNodes(
      new Map(before),
      after.map(([id, s]) => node(id, s)),
      { group: 'g', time, vanishedWerePreempted: vanished },
    );
    expect(events.map((e) => [e.type, e.nodeId])).toEqual(expected);
    for (const e of events) expect(e).toMatchObject({ group: 'g', time });
  });
});

describe('countNodes and groupStateOf', () => {
  it('counts by state and priority', () => {
    const nodes = [
      toComputeNode('g', view('Succeeded', 'running'), true),
      toComputeNode('g', view('Succeeded', 'running'), true),
      toComputeNode('g', view('Succeeded', 'running', true), false),
    ];
    expect(countNodes(nodes)).toEqual({
      idle: { dedicated: 0, spot: 2 },
      running: { dedicated: 1, spot: 0 },
    });
  });

  it.each([
    ['Creating', 'creating'],
    ['Updating', 'resizing'],
    ['Deleting', 'deleting'],
    ['Failed', 'failed'],
    ['Succeeded', 'steady'],
    [undefined, 'steady'],
  ])('%s -> %s', (state, expected) => {
    expect(groupStateOf(state)).toBe(expected);
  });
});
