import { BatchComputeBackend, LocalComputeBackend } from '@spillway/sdk/compute';
import { startBatchEmulator } from '@spillway/sdk/emulate';

// GIVEN pools on an N-series size (Standard_NC4as_T4_v3: 1 T4), an A100 size with 4 and a
// CPU size
// WHEN their nodes are listed through the real @azure/batch client against `spillway emulate
// batch`, and through the local engine
// THEN every node reports the GPUs of its size (Batch reports a node's VM size; the count
// comes from it), and the local engine reports what a free-text size declares.

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
