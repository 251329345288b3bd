import * as tls from 'node:tls';
import { ComputeManagementClient } from '@azure/arm-compute';
import { BatchComputeBackend, LocalComputeBackend } from '@spillway/sdk/compute';
import * as scaleset from '@spillway/sdk/compute/scaleset';
import { startArmEmulator, startBatchEmulator } from '@spillway/sdk/emulate';
import { fixedTokenCredential, RESOURCE_GROUP, spotSpec, SUBSCRIPTION } from '../scaleset/support';

// GIVEN pools on an N-series size (Standard_NC4as_T4_v3: 1 T4), an A100 size with 4 and a
// CPU size
// WHEN their nodes are listed through the real @azure/batch client against `spillway emulate
// batch`, and through the local engine
// THEN every node reports the GPUs of its size (Batch reports a node's VM size; the count
// comes from it), and the local engine reports what a free-text size declares; the ARM
// emulator lists resource SKUs with Azure's `GPUs` capability (read by the real
// @azure/arm-compute client) and scale-set instances of an N-series size report its GPUs.

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const IMAGE = {
  publisher: 'canonical',
  offer: '0001-com-ubuntu-server-jammy',
  sku: '22_04-lts',
  nodeAgentSkuId: 'batch.node.ubuntu 22.04',
};

test('nodes of N-series pools report their GPUs through the Batch emulator', async () => {
  const emu = await startBatchEmulator({ engine: { bootDelayMs: 0 } });
  const backend = new BatchComputeBackend({
    accountUrl: emu.url,
    credential: { accountName: emu.accountName, accountKey: emu.accountKey },
    pollIntervalMs: 100,
  });
  try {
    for (const [name, vmSize] of [
      ['t4', 'Standard_NC4as_T4_v3'],
      ['a100', 'Standard_NC96ads_A100_v4'],
      ['cpu', 'Standard_D4as_v5'],
    ] as const) {
      await backend.ensureGroup({ name, vmSize, maxDedicatedNodes: 2, maxSpotNodes: 0, image: IMAGE });
      await backend.resizeGroup(name, { dedicated: 2, spot: 0 });
    }
    const gpus = async (name: string): Promise<number[]> =>
      until(`2 nodes in ${name}`, async () => {
        const nodes = await backend.listNodes(name);
        return nodes.length === 2 ? nodes.map((n) => n.gpus ?? -1) : undefined;
      });
    expect(await gpus('t4')).toEqual([1, 1]);
    expect(await gpus('a100')).toEqual([4, 4]);
    expect(await gpus('cpu')).toEqual([0, 0]);
  } finally {
    await backend.close();
    await emu.close();
  }
}, 120_000);

test('the local engine reports the GPUs a group declares for a free-text size, or its N-series size', async () => {
  const backend = new LocalComputeBackend({ bootDelayMs: 0 });
  try {
    await backend.ensureGroup({
      name: 'declared',
      vmSize: 'local-gpu',
      gpusPerNode: 2,
      maxDedicatedNodes: 1,
      maxSpotNodes: 0,
    });
    await backend.ensureGroup({
      name: 'sized',
      vmSize: 'Standard_NV72ads_A10_v5',
      maxDedicatedNodes: 1,
      maxSpotNodes: 0,
    });
    await backend.ensureGroup({ name: 'plain', vmSize: 'local', maxDedicatedNodes: 1, maxSpotNodes: 0 });
    for (const g of ['declared', 'sized', 'plain']) await backend.resizeGroup(g, { dedicated: 1, spot: 0 });
    expect((await backend.listNodes('declared')).map((n) => n.gpus)).toEqual([2]);
    expect((await backend.listNodes('sized')).map((n) => n.gpus)).toEqual([2]);
    expect((await backend.listNodes('plain')).map((n) => n.gpus)).toEqual([0]);
  } finally {
    await backend.close();
  }
});

test('the ARM emulator lists resource SKUs with GPUs, and scale-set instances of an N-series size report them', async () => {
  const emulator = await startArmEmulator({ lroDelayMs: 20 });
  const credential = fixedTokenCredential('gpu-test-token');
  const client = new ComputeManagementClient(credential, SUBSCRIPTION, {
    endpoint: emulator.url,
    credentials: { scopes: ['https://management.azure.com/.default'] },
    tlsOptions: { ca: [...tls.rootCertificates, emulator.caPem] },
  });
  const backend = new scaleset.ScaleSetBackend({
    credential,
    subscriptionId: SUBSCRIPTION,
    endpoint: emulator.url,
    trustedCaPem: emulator.caPem,
    resourceGroup: RESOURCE_GROUP,
    pollIntervalMs: 20,
    watchIntervalMs: 100,
  });
  try {
    const skus = new Map<string, string | undefined>();
    for await (const sku of client.resourceSkus.list({ filter: "location eq 'westeurope'" })) {
      skus.set(sku.name!, sku.capabilities?.find((c) => c.name === 'GPUs')?.value);
    }
    expect(skus.get('Standard_NC4as_T4_v3')).toBe('1');
    expect(skus.get('Standard_ND96asr_v4')).toBe('8');
    expect(skus.has('Standard_D16as_v5')).toBe(true);
    expect(skus.get('Standard_D16as_v5')).toBeUndefined();

    await backend.ensureGroup(spotSpec('gpu-workers', { vmSize: 'Standard_NC64as_T4_v3' }));
    await backend.resizeGroup('gpu-workers', { dedicated: 0, spot: 2 });
    const nodes = await until('2 instances', async () => {
      const n = await backend.listNodes('gpu-workers');
      return n.length === 2 ? n : undefined;
    });
    expect(nodes.map((n) => n.gpus)).toEqual([4, 4]);
  } finally {
    await backend.deleteGroup('gpu-workers').catch(() => undefined);
    await backend.close();
    await emulator.close();
  }
}, 120_000);
