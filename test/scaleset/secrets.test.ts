import * as https from 'node:https';
import { inspect } from 'node:util';
import * as scaleset from '@spillway/sdk/compute/scaleset';
import { ArmEmulator, startArmEmulator } from '@spillway/sdk/emulate';
import { fixedTokenCredential, memoryLogger, spotSpec, SUBSCRIPTION } from './support';

// GIVEN the ARM emulator, which accepts only one bearer token, and backends logging to memory
// WHEN requests fail (no token, a rejected token, a missing resource, a failed operation)
// THEN the answers are ARM-shaped errors, the backend throws ArmErrors with the ARM code, and
// the token appears in no error message, stack, inspection or log line.

const GOOD = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJzcGlsbHdheS10ZXN0In0.good-token-never-printed';
const BAD = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJpbnRydWRlciJ9.bad-token-never-printed';

function rawRequest(
  url: string,
  ca: string,
  headers: Record<string, string> = {},
  method = 'GET',
  payload?: unknown,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(payload === undefined ? undefined : JSON.stringify(payload));
  });
}

describe('ARM credentials', () => {
  let emulator: ArmEmulator;
  const emulatorLog = memoryLogger();

  beforeAll(async () => {
    emulator = await startArmEmulator({
      lroDelayMs: 20,
      acceptToken: (t) => t === GOOD,
      logger: emulatorLog,
    });
  });

  afterAll(async () => {
    await emulator?.close();
  });

  it('answers 401 in ARM shape without a bearer token, over HTTPS only', async () => {
    const path = `/subscriptions/${SUBSCRIPTION}/resourceGroups/render-burst/providers/Microsoft.Compute/virtualMachineScaleSets?api-version=2026-03-01`;
    const res = await rawRequest(emulator.url + path, emulator.caPem);
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toEqual({
      error: { code: 'AuthenticationFailed', message: expect.stringContaining('Authorization') },
    });
    const ok = await rawRequest(emulator.url + path, emulator.caPem, { authorization: `Bearer ${GOOD}` });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ value: [] });
    // The admin eviction call answers in ARM's shape too.
    const evict = await rawRequest(
      emulator.url + '/spillway-admin/evict',
      emulator.caPem,
      { authorization: `Bearer ${GOOD}`, 'content-type': 'application/json' },
      'POST',
      { resourceGroup: 'render-burst', scaleSet: 'missing', instanceId: '0' },
    );
    expect(evict.status).toBe(404);
    expect(JSON.parse(evict.body)).toEqual({
      error: {
        code: 'ResourceNotFound',
        message: expect.stringContaining('virtualMachineScaleSets/missing'),
      },
    });
    // An untrusted client (no CA) cannot talk to it at all.
    await expect(rawRequest(emulator.url + path, '')).rejects.toThrow();
  });

  it('never puts the token in errors or logs', async () => {
    const log = memoryLogger();
    const intruder = new scaleset.ScaleSetBackend({
      credential: fixedTokenCredential(BAD),
      subscriptionId: SUBSCRIPTION,
      endpoint: emulator.url,
      trustedCaPem: emulator.caPem,
      resourceGroup: 'render-burst',
      maxRetries: 0,
      logger: log,
    });
    const owner = new scaleset.ScaleSetBackend({
      credential: fixedTokenCredential(GOOD),
      subscriptionId: SUBSCRIPTION,
      endpoint: emulator.url,
      trustedCaPem: emulator.caPem,
      resourceGroup: 'render-burst',
      pollIntervalMs: 20,
      maxRetries: 0,
      logger: log,
    });
    const errors: unknown[] = [];
    // A rejected token
    errors.push(await intruder.ensureGroup(spotSpec('secret-a')).catch((e: unknown) => e));
    expect(errors[0]).toBeInstanceOf(scaleset.ArmError);
    expect((errors[0] as scaleset.ArmError).code).toBe('InvalidAuthenticationToken');
    expect((errors[0] as scaleset.ArmError).statusCode).toBe(401);
    // A missing resource
    errors.push(await owner.resizeGroup('no-such-group', { dedicated: 0, spot: 1 }).catch((e: unknown) => e));
    expect((errors[1] as scaleset.ArmError).code).toBe('ResourceNotFound');
    // A failed long-running operation (deleting instances that do not exist, straight through the client)
    await owner.ensureGroup(
      spotSpec('secret-b', { workerStartup: { ...spotSpec('x').workerStartup, command: 'true' } }),
    );
    errors.push(
      await owner.client.virtualMachineScaleSets
        .deleteInstances('render-burst', 'secret-b', { instanceIds: ['42'] })
        .then(
          () => undefined,
          (e: unknown) => scaleset.toArmError(e, 'delete instances'),
        ),
    );
    expect((errors[2] as scaleset.ArmError).code).toBe('InvalidParameter');
    await owner.deleteGroup('secret-b');
    await intruder.close();
    await owner.close();

    for (const err of errors) {
      const text = [
        String(err),
        (err as Error).stack ?? '',
        inspect(err, { depth: 5 }),
        JSON.stringify(err),
      ].join('\n');
      expect(text).not.toContain('never-printed');
      expect(text).not.toContain('eyJ');
    }
    expect(log.lines.length).toBeGreaterThan(0);
    for (const line of [...log.lines, ...emulatorLog.lines]) {
      expect(line).not.toContain('never-printed');
      expect(line).not.toContain('eyJ');
    }
  });
});
