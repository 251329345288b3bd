import * as scaleset from '@spillway/sdk/compute/scaleset';
import { ArmEmulator, startArmEmulator } from '@spillway/sdk/emulate';
import { fixedTokenCredential, groupAlive, spotSpec, SUBSCRIPTION, waitFor, workerPid } from './support';

// GIVEN the ARM emulator answering every 4th request with 429 and Retry-After: 1 (second)
// WHEN the backend creates a scale set, scales it and deletes it
// THEN every operation completes, requests were throttled, and each throttled request was
// retried no sooner than Retry-After asked (counted at the emulator by client request id).

describe('ARM throttling', () => {
  let emulator: ArmEmulator;
  let backend: scaleset.ScaleSetBackend;

  beforeAll(async () => {
    emulator = await startArmEmulator({
      lroDelayMs: 20,
      throttle: { everyN: 4, retryAfterMs: 1000 },
    });
    backend = new scaleset.ScaleSetBackend({
      credential: fixedTokenCredential('throttling-test-token'),
      subscriptionId: SUBSCRIPTION,
      endpoint: emulator.url,
      trustedCaPem: emulator.caPem,
      pollIntervalMs: 20,
    });
  });

  afterAll(async () => {
    await backend?.close();
    await emulator?.close();
  });

  it('completes every operation and honours Retry-After', async () => {
    await backend.ensureGroup(spotSpec('throttled'));
    const status = await backend.resizeGroup('throttled', { dedicated: 0, spot: 2 });
    expect(status.currentSpotNodes).toBe(2);
    const dir = emulator.scaleSets()[0]!.instances[0]!.dir;
    const pid = await waitFor('worker pid', () => workerPid(dir));
    await backend.deleteGroup('throttled');
    expect(emulator.scaleSets()).toEqual([]);
    expect(groupAlive(pid)).toBe(false);

    const throttled = emulator.requests.filter((r) => r.status === 429);
    expect(throttled.length).toBeGreaterThanOrEqual(3);
    for (const t of throttled) {
      expect(t.clientRequestId).toBeDefined();
      const retry = emulator.requests.find((r) => r.clientRequestId === t.clientRequestId && r.time > t.time);
      expect(retry).toBeDefined();
      // Timer granularity: allow a few milliseconds under the second asked for.
      expect(retry!.time - t.time).toBeGreaterThanOrEqual(990);
    }
  });
});
