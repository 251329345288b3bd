import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { BurstClient, silentLogger } from '@spillway/sdk';
import { loadConfig } from '@spillway/sdk/config';
import {
  ArmBatchQuotaSource,
  BatchComputeBackend,
  fixedBatchQuotas,
  QuotaExceededError,
  type BatchComputeBackendOptions,
  type GroupSpec,
} from '@spillway/sdk/compute';
import { DEFAULT_BATCH_QUOTA, startBatchEmulator, type BatchEmulator } from '@spillway/sdk/emulate';
import { embeddedProviders, startService, type RunningService } from '@spillway/sdk/service';

// GIVEN a Batch account with core and pool quotas (the emulator enforces them as Batch does:
// a resize beyond the core quota is accepted and shows `AccountCoreQuotaReached` on the pool
// afterwards)
// WHEN the backend, told where the quotas are, is asked for more than they hold
// THEN it refuses before Batch is asked, with a QuotaExceededError naming the quota, its
// limit, what is in use and what was asked; within the quota, the resize goes through.

const IMAGE = {
  publisher: 'canonical',
  offer: '0001-com-ubuntu-server-jammy',
  sku: '22_04-lts',
  nodeAgentSkuId: 'batch.node.ubuntu 22.04',
};
const group = (name: string): GroupSpec => ({
  name,
  vmSize: 'Standard_D4as_v5', // 4 cores a node
  taskSlotsPerNode: 4,
  maxDedicatedNodes: 10,
  maxSpotNodes: 10,
  image: IMAGE,
});
const token: TokenCredential = {
  getToken: async (): Promise<AccessToken> => ({
    token: 'management-token',
    expiresOnTimestamp: Date.now() + 3_600_000,
  }),
};

describe('quota checked before a Batch resize is accepted', () => {
  let emu: BatchEmulator;
  const backends: BatchComputeBackend[] = [];
  const backendFor = (extra: Partial<BatchComputeBackendOptions>): BatchComputeBackend => {
    const b = new BatchComputeBackend({
      accountUrl: emu.url,
      credential: { accountName: emu.accountName, accountKey: emu.accountKey },
      retry: { maxAttempts: 3, initialIntervalMs: 10, maxIntervalMs: 50 },
      ...extra,
    });
    backends.push(b);
    return b;
  };

  beforeAll(async () => {
    emu = await startBatchEmulator({
      engine: {
        bootDelayMs: 50,
        resizeTimeMs: 50,
        quota: { ...DEFAULT_BATCH_QUOTA, dedicatedCores: 16, lowPriorityCores: 12, pools: 3 },
      },
    });
  });
  afterAll(async () => {
    for (const b of backends) await b.close();
    await emu?.close();
  });

  it('GIVEN 8 of 16 dedicated cores in use WHEN a group asks for 3 more 4-core nodes THEN dedicatedCores is named and nothing is resized', async () => {
    const backend = backendFor({ quotas: fixedBatchQuotas({ dedicatedCores: 16, lowPriorityCores: 12 }) });
    await backend.ensureGroup(group('busy'));
    await backend.resizeGroup('busy', { dedicated: 2, spot: 0 });
    await backend.ensureGroup(group('render'));
    const resizes = emu.records.byOperation.get('Pool_Resize') ?? 0;

    const err = await backend.resizeGroup('render', { dedicated: 3, spot: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuotaExceededError);
    expect(err).toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      quota: 'dedicatedCores',
      limit: 16,
      inUse: 8,
      requested: 12,
    });
    expect((err as Error).message).toContain(
      'dedicated core quota (dedicatedCores) is 16 with 8 in use besides',
    );
    expect(emu.records.byOperation.get('Pool_Resize') ?? 0).toBe(resizes);
    expect(emu.engine.getPool('render')?.targetDedicatedNodes).toBe(0);

    // Within the quota it goes through, and Batch allocates it all.
    const ok = await backend.resizeGroup('render', { dedicated: 2, spot: 0 });
    expect(ok.targetDedicatedNodes).toBe(2);
    expect(emu.engine.getPool('render')?.resizeErrors).toEqual([]);
  });

  it('GIVEN the quotas read from the account resource WHEN spot nodes beyond the low-priority quota are asked THEN lowPriorityCores is named', async () => {
    // The emulator serves the account's ARM resource (Microsoft.Batch/batchAccounts) at its own address.
    const quotas = new ArmBatchQuotaSource({
      accountResourceId: `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/render/providers/Microsoft.Batch/batchAccounts/${emu.accountName}`,
      credential: token,
      endpoint: emu.url,
    });
    expect(await quotas.getQuotas()).toEqual({
      dedicatedCores: 16,
      lowPriorityCores: 12,
      pools: 3,
      activeJobs: 100,
    });
    const backend = backendFor({ quotas });
    await backend.ensureGroup(group('render'));
    const err = await backend.resizeGroup('render', { dedicated: 0, spot: 4 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ quota: 'lowPriorityCores', limit: 12, inUse: 0, requested: 16 });
    expect((await backend.resizeGroup('render', { dedicated: 0, spot: 3 })).targetSpotNodes).toBe(3);
  });

  it('GIVEN 3 pools of a 3-pool quota WHEN a fourth group is made THEN pools is named and no pool is added', async () => {
    const backend = backendFor({ quotas: fixedBatchQuotas({ pools: 3 }) });
    await backend.ensureGroup(group('third'));
    const adds = emu.records.byOperation.get('Pool_Add') ?? 0;
    const err = await backend.ensureGroup(group('fourth')).catch((e: unknown) => e);
    expect(err).toMatchObject({ quota: 'pools', limit: 3, inUse: 3, requested: 1 });
    expect(emu.records.byOperation.get('Pool_Add') ?? 0).toBe(adds);
  });

  it('GIVEN no quota source WHEN a resize goes beyond the core quota THEN Batch accepts it and reports AccountCoreQuotaReached on the pool, as Azure does', async () => {
    const backend = backendFor({});
    // 16 dedicated cores hold 4 nodes of 4 cores: 'busy' gets 4 of the 5 it asks for.
    const status = await backend.resizeGroup('busy', { dedicated: 5, spot: 0 });
    expect(status.errors.map((e) => e.code)).toEqual(['AccountCoreQuotaReached']);
    expect(emu.engine.currentNodes('busy').dedicated).toBe(4);
  });

  it('GIVEN a malformed account resource id WHEN the source is made THEN the field is named', () => {
    expect(() => new ArmBatchQuotaSource({ accountResourceId: 'acct', credential: token })).toThrow(
      'accountResourceId: must be a Batch account resource id',
    );
  });
});

describe('quota checked before a resize, through the service', () => {
  let dir: string;
  let emu: BatchEmulator;
  let service: RunningService;
  let client: BurstClient;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-quota-'));
    emu = await startBatchEmulator({ engine: { bootDelayMs: 50, resizeTimeMs: 50 } });
    fs.writeFileSync(path.join(dir, 'batch.key'), emu.accountKey);
    // The account's quota as the portal shows it: 8 dedicated cores (two 4-core nodes).
    const config = loadConfig({
      env: {},
      overrides: {
        listen: '127.0.0.1:0',
        dataDir: path.join(dir, 'data'),
        'compute.backend': 'batch',
        'compute.local.nodes': 1,
        'compute.batch.accountUrl': emu.url,
        'compute.batch.accountName': emu.accountName,
        'compute.batch.accountKeyFile': path.join(dir, 'batch.key'),
        'compute.batch.quota.dedicatedCores': 8,
      },
    });
    service = await startService(config, embeddedProviders(config), silentLogger);
    client = new BurstClient(service.address);
  });
  afterAll(async () => {
    client?.close();
    await service?.close();
    await emu?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('GIVEN compute.batch.quota.dedicatedCores 8, one 4-core node in use WHEN a group asks for 2 of 4 cores THEN RESOURCE_EXHAUSTED names dedicatedCores and its pool keeps its target', async () => {
    await client.capacity.ensure({
      name: 'comp',
      mode: 'frame-offload',
      vmSize: 'Standard_D4as_v5',
      maxDedicatedNodes: 4,
      maxSpotNodes: 4,
      image: {
        publisher: 'canonical',
        offer: '0001-com-ubuntu-server-jammy',
        sku: '22_04-lts',
        nodeAgentSkuId: 'batch.node.ubuntu 22.04',
      },
    });
    const err = await client.capacity.resize('comp', { dedicated: 2, spot: 0 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    expect((err as Error).message).toContain(
      "needs 8 cores, but the Batch account's dedicated core quota (dedicatedCores) is 8 with 4 in use besides",
    );
    expect(emu.engine.getPool('comp')?.targetDedicatedNodes).toBe(0);
    expect((await client.capacity.resize('comp', { dedicated: 1, spot: 0 })).target.dedicated).toBe(1);
  });

  it.each([
    ['compute.batch.quota.dedicatedCores', -1],
    ['compute.batch.quota.pools', 1.5],
    ['compute.batch.quota.lowPriorityCores', 'many'],
  ])('GIVEN %s = %j WHEN the configuration loads THEN the key is named', (key, value) => {
    expect(() =>
      loadConfig({
        env: {},
        overrides: {
          'compute.backend': 'batch',
          'compute.batch.accountUrl': 'https://a.b.batch.azure.com',
          [key]: value,
        },
      }),
    ).toThrow(key);
  });
});
