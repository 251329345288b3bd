import type { Frame } from '@spillway/sdk';
import { startCapacityService, until, type CapacityTestService } from './support';

// Per-frame and per-job cost (#20; always 0 before). GIVEN a group on the local engine
// priced per node hour, with 2 task slots per node WHEN frames run on it as real child
// processes THEN each frame costs its run time × its node's price / 2 (the node's time
// apportioned by slot time), its node's priority decides the price, and the job's cost is
// the sum of its frames'.

const DEDICATED = 36; // per node hour: 0.01 per node second
const SPOT = 3.6; // 0.001 per node second
const SLOTS = 2;

describe('frame and job cost', () => {
  let svc: CapacityTestService;
  beforeAll(async () => {
    svc = await startCapacityService();
    await svc.client.capacity.ensure({
      name: 'render',
      mode: 'frame-offload',
      vmSize: 'local-8',
      taskSlotsPerNode: SLOTS,
      maxDedicatedNodes: 1,
      maxSpotNodes: 1,
      cost: { dedicated: DEDICATED, spot: SPOT },
    });
    // Only a spot node: every frame is priced at the spot price.
    await svc.client.capacity.resize('render', { dedicated: 0, spot: 1 });
  });
  afterAll(() => svc.close());

  it('fills in frame and job cost from run time × the slot price of the node each ran on', async () => {
    const started = Date.now();
    const { jobId } = await svc.client.submitFrames(
      {
        source: 'test:cost',
        sourceJobId: 'cost-1',
        commandTemplate: 'sleep 1 && mkdir -p out && echo #IFRAME# > out/f_#ZFRAME#.txt',
        capacityGroup: 'render',
      },
      [1, 2, 3, 4].map((i) => ({ sourceTaskId: String(i), frameStart: i, frameEnd: i })),
    );
    const job = await until(
      () => svc.client.getJob(jobId),
      (j) => j.state !== 'active',
      60_000,
    );
    const wallSeconds = (Date.now() - started) / 1000;
    expect(job.state).toBe('completed');
    expect(job.counts.succeeded).toBe(4);
    const frames: Frame[] = [];
    for await (const f of svc.client.listFrames(jobId)) frames.push(f);
    const spotPerSlotSecond = SPOT / SLOTS / 3600;
    for (const f of frames) {
      // Each ran at least the second it slept, at most the whole job's wall time, on the spot node.
      expect(f.cost).toBeGreaterThanOrEqual(1 * spotPerSlotSecond);
      expect(f.cost).toBeLessThanOrEqual(wallSeconds * spotPerSlotSecond);
      // Its own run time, as the service saw it, priced.
      const ran = (f.finishedAt!.getTime() - f.startedAt!.getTime()) / 1000;
      expect(f.cost).toBeCloseTo(ran * spotPerSlotSecond, 6);
    }
    expect(job.cost).toBeCloseTo(
      frames.reduce((sum, f) => sum + f.cost, 0),
      9,
    );
    // The group's spend so far (its node's whole time, idle too) covers what its frames were charged.
    const group = await svc.client.capacity.get('render');
    expect(group.spentTotal).toBeGreaterThanOrEqual(job.cost);
  }, 90_000);
});
