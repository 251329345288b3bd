import * as scaleset from '@spillway/sdk/compute/scaleset';
import { SpillwayError, ValidationError } from '@spillway/sdk';
import { ArmEmulator, startArmEmulator } from '@spillway/sdk/emulate';
import { fixedTokenCredential, RESOURCE_GROUP, spotSpec, SUBSCRIPTION } from './support';

// GIVEN the ARM emulator and the scale-set backend
// WHEN a spec is bad (capacity above the group maximum, custom data over Azure's limit, an
// unknown eviction policy, a secret in the start-up settings)
// THEN ensureGroup throws a ValidationError naming the field and quoting the value, and the
// emulator received no request and holds no scale set.
// AND the emulator itself refuses the same bad custom data with ARM's error shape, which
// the backend's error mapping turns into an ArmError with the ARM code.

describe('scale set spec validation', () => {
  let emulator: ArmEmulator;
  let backend: scaleset.ScaleSetBackend;

  beforeAll(async () => {
    emulator = await startArmEmulator({ lroDelayMs: 20 });
    backend = new scaleset.ScaleSetBackend({
      credential: fixedTokenCredential('validation-test-token'),
      subscriptionId: SUBSCRIPTION,
      endpoint: emulator.url,
      trustedCaPem: emulator.caPem,
      pollIntervalMs: 20,
      maxRetries: 0,
    });
  });

  afterAll(async () => {
    await backend?.close();
    await emulator?.close();
  });

  const huge = `echo start\n${'echo padding-the-worker-script-beyond-the-azure-limit\n'.repeat(1400)}`;
  const cases: [string, scaleset.ScaleSetGroupSpec, string, string][] = [
    [
      'capacity above the group maximum',
      spotSpec('bad-capacity', { capacity: 6 }),
      'spec.capacity',
      '(got 6)',
    ],
    [
      'custom data over the limit',
      spotSpec('bad-size', { workerStartup: { ...spotSpec('x').workerStartup, command: huge } }),
      'spec.workerStartup',
      'bytes)',
    ],
    [
      'an unknown eviction policy',
      spotSpec('bad-eviction', { evictionPolicy: 'Hibernate' as scaleset.EvictionPolicy }),
      'spec.evictionPolicy',
      '(got "Hibernate")',
    ],
    [
      'an account key in the start-up command',
      spotSpec('bad-secret', {
        workerStartup: {
          ...spotSpec('x').workerStartup,
          command:
            'az storage blob download --account-key Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFla0123456789abcd== -o x',
        },
      }),
      'spec.workerStartup.command',
      '(got "<redacted>")',
    ],
  ];

  it.each(cases)('refuses %s before any request', async (_what, spec, field, quoted) => {
    const before = emulator.requests.length;
    const err = await backend.ensureGroup(spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(field);
    expect((err as Error).message).toContain(field);
    expect((err as Error).message).toContain(quoted);
    expect((err as Error).message).not.toContain('Zm9vYmFy');
    expect(emulator.requests.length).toBe(before);
    expect(emulator.scaleSets()).toEqual([]);
  });

  it('refuses a resize above the group maximum before any request', async () => {
    // GIVEN an existing group with maxSpotNodes 5
    await backend.ensureGroup(
      spotSpec('bounded', { workerStartup: { ...spotSpec('x').workerStartup, command: 'true' } }),
    );
    const before = emulator.requests.length;
    // WHEN asked for 9
    const err = await backend.resizeGroup('bounded', { dedicated: 0, spot: 9 }).catch((e: unknown) => e);
    // THEN a ValidationError naming target.spot, no request, capacity unchanged
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toBe('target.spot: is above the group maximum of 5 (got 9)');
    expect(emulator.requests.length).toBe(before);
    expect(emulator.scaleSets()[0]!.capacity).toBe(0);
    // AND a malformed target is refused before the group is even looked up
    const malformed = await backend
      .resizeGroup('never-created', { dedicated: 0, spot: -1 })
      .catch((e: unknown) => e);
    expect((malformed as Error).message).toBe('target.spot: must be a whole number, 0 or more (got -1)');
    expect(emulator.requests.length).toBe(before);
    await backend.deleteGroup('bounded');
  });

  it('answers bad custom data sent straight through the client with an ARM error, and creates nothing', async () => {
    // GIVEN a model whose custom data is over the limit, bypassing the backend's checks
    const model = scaleset.toScaleSetModel(spotSpec('raw'), Buffer.alloc(70_000, 'a').toString('base64'), 1);
    // WHEN the real client sends it
    const err = await backend.client.virtualMachineScaleSets
      .createOrUpdate(RESOURCE_GROUP, 'raw', model)
      .then(
        () => undefined,
        (e: unknown) => scaleset.toArmError(e, 'create'),
      );
    // THEN the emulator refuses it in ARM's shape and the mapping keeps the ARM code
    expect(err).toBeInstanceOf(scaleset.ArmError);
    expect(err).toBeInstanceOf(SpillwayError);
    expect((err as scaleset.ArmError).code).toBe('InvalidParameter');
    expect((err as scaleset.ArmError).statusCode).toBe(400);
    expect((err as Error).message).toContain('65535');
    expect(emulator.scaleSets()).toEqual([]);
  });

  it('turns a failed long-running operation into an ArmError, a resizeFailed event and a group error', async () => {
    // GIVEN a group, and an emulator whose next operation fails asynchronously
    await backend.ensureGroup(
      spotSpec('failing', { workerStartup: { ...spotSpec('x').workerStartup, command: 'true' } }),
    );
    const events: string[] = [];
    const off = backend.onCapacityEvent((e) => events.push(`${e.type}:${e.error?.code ?? ''}`));
    emulator.failNextOperation(
      'AllocationFailed',
      'Allocation failed. We do not have sufficient capacity for the requested VM size in this region.',
    );
    // WHEN it is resized
    const err = await backend.resizeGroup('failing', { dedicated: 0, spot: 3 }).catch((e: unknown) => e);
    off();
    // THEN the poller's failure is an ArmError with the ARM code, an event, and a group error
    expect(err).toBeInstanceOf(scaleset.ArmError);
    expect((err as scaleset.ArmError).code).toBe('AllocationFailed');
    expect((err as Error).message).toContain('sufficient capacity');
    expect(events).toEqual(['resizeFailed:AllocationFailed']);
    const status = await backend.getGroup('failing');
    expect(status?.state).toBe('failed');
    expect(status?.errors.map((e) => e.code)).toEqual(['AllocationFailed']);
    expect(emulator.scaleSets().find((s) => s.name === 'failing')?.instances).toEqual([]);
    await backend.deleteGroup('failing');
  });

  it('stops waiting for a resize after resizeTimeoutMs and reports it', async () => {
    // GIVEN a group and operations that take longer than the resize timeout
    await backend.ensureGroup(
      spotSpec('timing-out', { workerStartup: { ...spotSpec('x').workerStartup, command: 'true' } }),
    );
    const events: string[] = [];
    const off = backend.onCapacityEvent((e) => events.push(`${e.type}:${e.error?.code ?? ''}`));
    // WHEN resized with a 5 ms timeout (the emulator takes 20 ms)
    const err = await backend
      .resizeGroup('timing-out', { dedicated: 0, spot: 1 }, { resizeTimeoutMs: 5 })
      .catch((e: unknown) => e);
    off();
    // THEN a typed error says so, and a resizeFailed event carries it
    expect(err).toBeInstanceOf(scaleset.ArmError);
    expect((err as scaleset.ArmError).code).toBe('ResizeTimedOut');
    expect((err as Error).message).toContain('not finished within 5 ms');
    expect(events).toContain('resizeFailed:ResizeTimedOut');
    await backend.deleteGroup('timing-out');
  });
});
