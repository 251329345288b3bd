import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { startBatchEmulator } from '@spillway/sdk/emulate';
import { startCapacityService, type CapacityTestService } from './support';

// `pools create --backend batch` can describe a real Batch pool (#20: it could not: no
// --image, "group.image: is required by Azure Batch"). GIVEN the service on the Batch
// backend against the Batch emulator (the real @azure/batch client over HTTP) WHEN
// `spillway pools create --backend batch` runs THEN each missing field is refused by name
// with the flag that sets it, and a complete command creates the pool with its image.

const SUBNET =
  '/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/studio/subnets/render';

describe('pools create --backend batch', () => {
  let dir: string;
  let emulator: Awaited<ReturnType<typeof startBatchEmulator>>;
  let svc: CapacityTestService;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-pools-batch-'));
    emulator = await startBatchEmulator({ port: 0 });
    fs.writeFileSync(path.join(dir, 'batch.key'), emulator.accountKey);
    svc = await startCapacityService({
      'compute.backend': 'batch',
      'compute.local.nodes': 0,
      'compute.batch.accountUrl': emulator.url,
      'compute.batch.accountName': emulator.accountName,
      'compute.batch.accountKeyFile': path.join(dir, 'batch.key'),
    });
  }, 60_000);

  afterAll(async () => {
    await svc?.close();
    await emulator?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const base = [
    'pools',
    'create',
    'nightly',
    '--backend',
    'batch',
    '--vm-size',
    'Standard_D4as_v5',
    '--max-spot',
    '4',
  ];

  // GIVEN one field missing or wrong WHEN created THEN refused naming the field and its flag
  it.each<[string, string[], string, string]>([
    ['no image', [], 'spec.image: is required by Azure Batch', '--image (or --image-id)'],
    [
      'no node agent',
      ['--image', 'canonical:0001-com-ubuntu-server-jammy:22_04-lts'],
      'spec.image.node_agent_sku_id: is required by Azure Batch',
      '--node-agent-sku',
    ],
    [
      'a subnet that is not a resource id',
      [
        '--image',
        'canonical:0001-com-ubuntu-server-jammy:22_04-lts',
        '--node-agent-sku',
        'batch.node.ubuntu 22.04',
        '--subnet',
        'render',
      ],
      'spec.batch_pool.subnet_id: must be a subnet resource id',
      '--subnet',
    ],
  ])('refuses %s', async (_what, extra, message, flag) => {
    const r = await svc.cli(...base, ...extra);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain(`[set with ${flag}]`);
  });

  it('refuses an image that is not publisher:offer:sku[:version] before calling the service', async () => {
    const r = await svc.cli(...base, '--image', 'ubuntu');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--image "ubuntu": must be publisher:offer:sku[:version]');
  });

  it('creates a real pool: its image and node agent reach Batch', async () => {
    const r = await svc.cli(
      ...base,
      '--image',
      'canonical:0001-com-ubuntu-server-jammy:22_04-lts:latest',
      '--node-agent-sku',
      'batch.node.ubuntu 22.04',
      '--subnet',
      SUBNET,
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('created nightly (frame-offload, batch, Standard_D4as_v5)');
    const batch = new BatchServiceClient(
      new BatchSharedKeyCredentials(emulator.accountName, emulator.accountKey),
      emulator.url,
    );
    const pool = await batch.pool.get('nightly');
    expect(pool.vmSize?.toLowerCase()).toBe('standard_d4as_v5');
    expect(pool.virtualMachineConfiguration).toMatchObject({
      imageReference: {
        publisher: 'canonical',
        offer: '0001-com-ubuntu-server-jammy',
        sku: '22_04-lts',
        version: 'latest',
      },
      nodeAgentSKUId: 'batch.node.ubuntu 22.04',
    });
    const group = await svc.client.capacity.get('nightly');
    expect(group).toMatchObject({ backend: 'batch', maxSpotNodes: 4 });
  }, 60_000);
});
