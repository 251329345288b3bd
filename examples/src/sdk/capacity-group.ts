// Create a capacity group, grow it, look at its nodes, and remove it.
//   node examples/dist/sdk/capacity-group.js
import { BurstClient, sleep } from '@spillway/sdk';

async function main(): Promise<void> {
  const client = new BurstClient(process.env.SPILLWAY_ADDRESS ?? '127.0.0.1:7443');
  try {
    // Idempotent: an existing group is reconciled to this shape.
    const { group, created } = await client.capacity.ensure({
      name: 'example-nightly',
      mode: 'frame-offload', // frames run as tasks (Batch); 'worker-burst' grows the farm (scale sets)
      backend: 'local', // 'batch' or 'scale-set' on Azure; 'local' is the embedded engine
      vmSize: 'Standard_D16as_v5',
      taskSlotsPerNode: 2,
      maxDedicatedNodes: 2,
      maxSpotNodes: 4,
      cost: { dedicated: 0.77, spot: 0.15 }, // per node-hour, for plans and cost reports
    });
    console.log(`${created ? 'created' : 'reconciled'} ${group.name}`);

    const resized = await client.capacity.resize(group.name, { dedicated: 1, spot: 2 });
    console.log(`target ${resized.target.dedicated} dedicated + ${resized.target.spot} spot`);

    // The local engine boots nodes at once; Azure takes minutes.
    let nodes = await client.capacity.nodes(group.name);
    for (let i = 0; i < 50 && nodes.length < 3; i++) {
      await sleep(200);
      nodes = await client.capacity.nodes(group.name);
    }
    for (const n of nodes) console.log(`  ${n.nodeId} ${n.priority} ${n.state}`);
    const [info] = (await client.capacity.list()).filter((g) => g.name === group.name);
    console.log(`cost ${info?.costPerHour.toFixed(2)} per hour`);

    await client.capacity.delete(group.name); // deleting a missing group succeeds too
    console.log(`deleted ${group.name}`);
  } finally {
    client.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
