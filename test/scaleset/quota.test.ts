import * as scaleset from '@spillway/sdk/compute/scaleset';
import { QuotaExceededError } from '@spillway/sdk/compute';
import { ArmEmulator, startArmEmulator } from '@spillway/sdk/emulate';
import { fixedTokenCredential, spotSpec, SUBSCRIPTION } from './support';

// GIVEN a subscription whose region allows 40 Spot vCPUs (the ARM emulator serves Compute
// usages and refuses a scale set change beyond them, 409 OperationNotAllowed, as ARM does)
// WHEN a Spot scale set of 16-vCPU instances is grown to 2 (32 vCPUs), then to 3 (48)
// THEN the first goes through and the second is refused before ARM is asked to scale, with
// a QuotaExceededError naming the regional Spot vCPU quota, its limit and what is in use.

describe('quota checked before a scale set grows', () => {
  let emulator: ArmEmulator;
  let backend: scaleset.ScaleSetBackend;

  beforeAll(async () => {
    emulator = await startArmEmulator({ lroDelayMs: 20, usageLimits: { lowPriorityCores: 40, cores: 10 } });
    backend = new scaleset.ScaleSetBackend({
      credential: fixedTokenCredential('quota-test-token'),
      subscriptionId: SUBSCRIPTION,
      endpoint: emulator.url,
      trustedCaPem: emulator.caPem,
      pollIntervalMs: 20,
    });
    await backend.ensureGroup(spotSpec('quota-a', { maxSpotNodes: 4 }));
  });

  afterAll(async () => {
    await backend?.close();
    await emulator?.close();
  });

  it('GIVEN 40 Spot vCPUs WHEN grown to 32 then 48 THEN the second is refused naming regionalLowPriorityCores', async () => {
    expect((await backend.resizeGroup('quota-a', { dedicated: 0, spot: 2 })).targetSpotNodes).toBe(2);
    const patches = emulator.requests.filter((r) => r.method === 'PATCH').length;

    const err = await backend.resizeGroup('quota-a', { dedicated: 0, spot: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuotaExceededError);
    expect(err).toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      quota: 'regionalLowPriorityCores',
      limit: 40,
      inUse: 32,
      requested: 16,
    });
    expect((err as Error).message).toContain('Total Regional Low-priority vCPUs');
    expect(emulator.requests.filter((r) => r.method === 'PATCH').length).toBe(patches);
    expect(emulator.scaleSets()[0]!.capacity).toBe(2);
  });

  it('GIVEN the check turned off WHEN grown beyond the quota THEN ARM itself refuses, 409 OperationNotAllowed', async () => {
    const unchecked = new scaleset.ScaleSetBackend({
      credential: fixedTokenCredential('quota-test-token'),
      subscriptionId: SUBSCRIPTION,
      endpoint: emulator.url,
      trustedCaPem: emulator.caPem,
      pollIntervalMs: 20,
      checkQuota: false,
    });
    try {
      await unchecked.ensureGroup(spotSpec('quota-a', { maxSpotNodes: 4 }));
      const err = await unchecked.resizeGroup('quota-a', { dedicated: 0, spot: 3 }).catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(QuotaExceededError);
      expect(err).toMatchObject({ code: 'OperationNotAllowed' });
      expect((err as Error).message).toContain('exceeding approved Total Regional Low-priority vCPUs quota');
    } finally {
      await unchecked.close();
    }
  });
});
