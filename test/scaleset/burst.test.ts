import * as fs from 'node:fs';
import * as path from 'node:path';
import * as scaleset from '@spillway/sdk/compute/scaleset';
import { FailedPreconditionError } from '@spillway/sdk';
import { ArmEmulator, startArmEmulator } from '@spillway/sdk/emulate';
import {
  alive,
  eventsOf,
  fixedTokenCredential,
  groupAlive,
  RESOURCE_GROUP,
  spotSpec,
  SUBSCRIPTION,
  waitFor,
  workerPid,
} from './support';

// GIVEN the ARM emulator over HTTPS (its own CA) and the scale-set backend driving the real
// @azure/arm-compute client against it with a TokenCredential
// WHEN a Spot scale set is created, scaled 0 -> 5 -> 2 with two busy instances protected,
// one instance evicted, one removed by name, and the set deleted
// THEN the protected instances survive the scale-in, the eviction is an event with the
// instance id, and every instance's worker process really started and really stopped.

describe('scale set worker burst against the ARM emulator', () => {
  let emulator: ArmEmulator;
  let backend: scaleset.ScaleSetBackend;

  beforeAll(async () => {
    emulator = await startArmEmulator({
      lroDelayMs: 30,
      evictionDeleteDelayMs: 400,
      killGraceMs: 1000,
    });
    backend = new scaleset.ScaleSetBackend({
      credential: fixedTokenCredential('test-token-for-the-emulator'),
      subscriptionId: SUBSCRIPTION,
      endpoint: emulator.url,
      trustedCaPem: emulator.caPem,
      resourceGroup: RESOURCE_GROUP,
      pollIntervalMs: 20,
      watchIntervalMs: 100,
      requestTimeoutMs: 10_000,
    });
  });

  afterAll(async () => {
    await backend?.close();
    await emulator?.close();
  });

  it('creates, scales out and in around protected instances, surfaces an eviction, and deletes', async () => {
    const events = eventsOf(backend);
    const spec = spotSpec('burst-a');

    // GIVEN a new Spot scale set at capacity 0
    const created = await backend.ensureGroup(spec);
    expect(created).toMatchObject({
      name: 'burst-a',
      state: 'steady',
      targetSpotNodes: 0,
      currentSpotNodes: 0,
    });
    const [set] = emulator.scaleSets();
    expect(set).toMatchObject({
      name: 'burst-a',
      resourceGroup: RESOURCE_GROUP,
      priority: 'Spot',
      evictionPolicy: 'Delete',
      capacity: 0,
    });
    expect(set!.instances).toHaveLength(0);

    // WHEN it scales out to 5
    const five = await backend.resizeGroup('burst-a', { dedicated: 0, spot: 5 });
    expect(five.targetSpotNodes).toBe(5);
    expect(five.currentSpotNodes).toBe(5);

    // THEN five workers really run, each in its own instance directory, having joined the farm
    const instances = emulator.scaleSets()[0]!.instances;
    expect(instances.map((i) => i.instanceId).sort()).toEqual(['0', '1', '2', '3', '4']);
    const pids = new Map<string, number>();
    for (const i of instances) {
      const pid = await waitFor(`worker pid of instance ${i.instanceId}`, () => workerPid(i.dir));
      expect(alive(pid)).toBe(true);
      expect(fs.readFileSync(path.join(i.dir, 'joined'), 'utf8').trim()).toBe(
        `rcs.studio.internal:4433 burst-a_${i.instanceId}`,
      );
      pids.set(i.instanceId, pid);
    }
    expect(new Set(pids.values()).size).toBe(5);
    const nodes = await backend.listNodes('burst-a');
    expect(nodes.map((n) => n.state)).toEqual(['idle', 'idle', 'idle', 'idle', 'idle']);
    await waitFor('nodeReady events', () => events.filter((e) => e.type === 'nodeReady').length === 5);

    // WHEN instances 1 and 3 are busy (protected) and the set scales in to 2
    await backend.setScaleInProtection('burst-a', ['1', '3'], true);
    const busy = await backend.listNodes('burst-a');
    expect(busy.filter((n) => n.protectedFromScaleIn).map((n) => n.id)).toEqual(['1', '3']);
    expect(busy.filter((n) => n.state === 'running').map((n) => n.id)).toEqual(['1', '3']);
    const two = await backend.resizeGroup('burst-a', { dedicated: 0, spot: 2 });

    // THEN the protected ones survive and the others' process trees are gone
    expect(two.targetSpotNodes).toBe(2);
    expect((await backend.listNodes('burst-a')).map((n) => n.id)).toEqual(['1', '3']);
    for (const id of ['0', '2', '4']) {
      expect(alive(pids.get(id)!)).toBe(false);
      expect(groupAlive(pids.get(id)!)).toBe(false);
    }
    for (const id of ['1', '3']) expect(alive(pids.get(id)!)).toBe(true);

    // WHEN instance 1 is evicted (Spot, Delete policy)
    await emulator.evict(RESOURCE_GROUP, 'burst-a', '1');

    // THEN the backend sees it and says so with the instance id; its process is gone
    const preempted = await waitFor('nodePreempted event', () =>
      events.find((e) => e.type === 'nodePreempted'),
    );
    expect(preempted).toMatchObject({ type: 'nodePreempted', group: 'burst-a', nodeId: '1' });
    expect(groupAlive(pids.get('1')!)).toBe(false);
    await waitFor('evicted instance gone', () => emulator.scaleSets()[0]!.instances.length === 1);

    // WHEN a busy instance is removed by name, it is refused before any request
    await expect(backend.removeNodes('burst-a', ['3'])).rejects.toBeInstanceOf(FailedPreconditionError);
    expect(alive(pids.get('3')!)).toBe(true);

    // WHEN it becomes idle (protection lifted) and is removed by name
    await backend.setScaleInProtection('burst-a', ['3'], false);
    await backend.removeNodes('burst-a', ['3']);
    expect(await backend.listNodes('burst-a')).toEqual([]);
    expect(groupAlive(pids.get('3')!)).toBe(false);
    expect(emulator.scaleSets()[0]!.capacity).toBe(0);

    // WHEN the set is deleted
    await backend.resizeGroup('burst-a', { dedicated: 0, spot: 1 });
    const last = emulator.scaleSets()[0]!.instances[0]!;
    const lastPid = await waitFor('last worker pid', () => workerPid(last.dir));
    expect(alive(lastPid)).toBe(true);
    await backend.deleteGroup('burst-a');

    // THEN nothing is left: no scale set, no process; deleting again succeeds
    expect(emulator.scaleSets()).toEqual([]);
    expect(groupAlive(lastPid)).toBe(false);
    expect(await backend.getGroup('burst-a')).toBeUndefined();
    await expect(backend.deleteGroup('burst-a')).resolves.toBeUndefined();
    expect(events.filter((e) => e.type === 'nodePreempted').map((e) => e.nodeId)).toEqual(['1']);
  });

  it('sees a Deallocate-policy eviction as a preempted node that stays listed', async () => {
    // GIVEN a Spot set with the Deallocate policy and two running workers
    const events = eventsOf(backend);
    await backend.ensureGroup(spotSpec('burst-b', { evictionPolicy: 'Deallocate', capacity: 2 }));
    const set = emulator.scaleSets().find((s) => s.name === 'burst-b')!;
    const pid = await waitFor('worker pid', () => workerPid(set.instances[0]!.dir));

    // WHEN instance 0 is evicted
    await emulator.evict(RESOURCE_GROUP, 'burst-b', '0');

    // THEN it is preempted (deallocated, still listed) and its worker is gone
    const event = await waitFor('nodePreempted event', () =>
      events.find((e) => e.type === 'nodePreempted' && e.group === 'burst-b'),
    );
    expect(event.nodeId).toBe('0');
    const nodes = await backend.listNodes('burst-b');
    expect(nodes.map((n) => [n.id, n.state])).toEqual([
      ['0', 'preempted'],
      ['1', 'idle'],
    ]);
    expect(groupAlive(pid)).toBe(false);

    // AND a new backend (a restarted service) finds the group by its tag and reads it back
    const restarted = new scaleset.ScaleSetBackend({
      credential: fixedTokenCredential('test-token-for-the-emulator'),
      subscriptionId: SUBSCRIPTION,
      endpoint: emulator.url,
      trustedCaPem: emulator.caPem,
      resourceGroup: RESOURCE_GROUP,
      pollIntervalMs: 20,
    });
    const listed = await restarted.listGroups();
    expect(listed.map((g) => [g.name, g.targetSpotNodes, g.currentSpotNodes])).toEqual([['burst-b', 2, 1]]);
    await expect(restarted.resizeGroup('burst-b', { dedicated: 0, spot: 6 })).rejects.toThrow(
      'target.spot: is above the group maximum of 5 (got 6)',
    );
    await restarted.close();
    await backend.deleteGroup('burst-b');
    expect(emulator.scaleSets()).toEqual([]);
  });

  it('notices a scale set deleted outside Spillway', async () => {
    // GIVEN a group with one worker, watched
    const events = eventsOf(backend);
    await backend.ensureGroup(spotSpec('burst-c', { capacity: 1 }));
    await backend.listNodes('burst-c');
    // WHEN someone deletes the scale set straight through ARM
    await backend.client.virtualMachineScaleSets.delete(RESOURCE_GROUP, 'burst-c', {
      updateIntervalInMs: 20,
    });
    // THEN the watch reports its instance removed and forgets the group
    const removed = await waitFor('nodeRemoved event', () =>
      events.find((e) => e.type === 'nodeRemoved' && e.group === 'burst-c'),
    );
    expect(removed.nodeId).toBe('0');
    expect(await backend.getGroup('burst-c')).toBeUndefined();
  });

  it('aborts a long-running operation through its AbortSignal', async () => {
    // GIVEN a slow emulator (operations stay InProgress for 1.5 s) and a group
    const slow = await startArmEmulator({ lroDelayMs: 1500 });
    const client = new scaleset.ScaleSetBackend({
      credential: fixedTokenCredential('abort-test-token'),
      subscriptionId: SUBSCRIPTION,
      endpoint: slow.url,
      trustedCaPem: slow.caPem,
      pollIntervalMs: 20,
    });
    try {
      // WHEN the create is aborted once ARM has accepted it
      const controller = new AbortController();
      const pending = client
        .ensureGroup(spotSpec('slow'), { abortSignal: controller.signal })
        .catch((e: unknown) => e);
      await waitFor('the scale set to be accepted', () => slow.scaleSets().length === 1);
      controller.abort();
      const err = await pending;
      // THEN it rejects as an abort while ARM's operation is still running
      expect((err as Error).name).toBe('AbortError');
      expect(slow.scaleSets()[0]?.provisioningState).toBe('Creating');
    } finally {
      await client.close();
      await slow.close();
    }
  });
});
