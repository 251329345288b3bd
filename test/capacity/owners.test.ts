import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BurstServiceError, type CapacityGroupInfo } from '@spillway/sdk';
import { startCapacityService, type CapacityTestService } from './support';

// Capacity has owners (#20). GIVEN a real service on the local engine (gRPC on port 0) and
// a capacity group a person sized by hand WHEN a bridge reports its farm THEN the plan
// never goes below what the person set, and says so in its reasons.

/** A farm with every local worker busy and frames queued, as a bridge reports it. */
const saturatedFarm = (source: string, capacityGroup?: string) => ({
  source,
  observedAt: new Date(),
  jobs: [
    {
      sourceJobId: 'shot-010',
      priority: 50,
      group: '',
      queuedFrames: 40,
      renderingFrames: 8,
      offloadedFrames: 0,
      burstable: false,
      ...(capacityGroup ? { capacityGroup } : {}),
    },
  ],
  workers: [{ group: '', idle: 0, busy: 8 }],
});

describe('capacity owners on a live service', () => {
  let svc: CapacityTestService;
  beforeAll(async () => {
    svc = await startCapacityService();
    await svc.client.capacity.ensure({
      name: 'nightly',
      mode: 'frame-offload',
      vmSize: 'local-8',
      maxDedicatedNodes: 4,
      maxSpotNodes: 20,
      cost: { dedicated: 0.6, spot: 0.15 },
    });
  });
  afterAll(() => svc.close());

  const nightly = (): Promise<CapacityGroupInfo> => svc.client.capacity.get('nightly');

  it('keeps `pools resize nightly --dedicated 0 --spot 20` through the next farm report', async () => {
    // GIVEN a person pins nightly at 0 dedicated + 20 spot with the CLI
    const resize = await svc.cli('pools', 'resize', 'nightly', '--dedicated', '0', '--spot', '20');
    expect(resize.stderr).toBe('');
    expect(resize.code).toBe(0);
    expect(await nightly()).toMatchObject({
      target: { dedicated: 0, spot: 20 },
      pinned: { dedicated: 0, spot: 20 },
      targetOwner: 'manual',
    });

    // WHEN a bridge reports a farm that gives the cloud nothing to do
    const plan = await svc.client.reportFarmState(saturatedFarm('deadline:main'));

    // THEN the plan's target for nightly is the pin, and its reasons say why
    expect(plan.targets.find((t) => t.capacityGroup === 'nightly')).toMatchObject({
      capacityGroup: 'nightly',
      dedicatedNodes: 0,
      spotNodes: 20,
    });
    expect(plan.reasons).toContain('group nightly: kept at 20 spot, pinned by hand (the plan wanted 0)');
    // ... and the group keeps its 20 spot nodes (a resize would have been started at once).
    await new Promise((r) => setTimeout(r, 300));
    expect((await nightly()).target).toEqual({ dedicated: 0, spot: 20 });
    const shown = await svc.cli('capacity');
    expect(shown.stdout).toMatch(/^ {2}nightly: targets set by hand; pinned 0\/20; spent \d+\.\d\d$/m);

    // A resize to 0 and 0 hands the group back to the plan.
    await svc.client.capacity.resize('nightly', { dedicated: 0, spot: 0 });
    const next = await svc.client.reportFarmState(saturatedFarm('deadline:main'));
    expect(next.reasons.filter((r) => r.startsWith('group nightly'))).toEqual([]);
  });

  it('refuses a submission to a capacity group that does not exist, naming it', async () => {
    // GIVEN no group "nosuchgroup" WHEN frames are submitted to it THEN NOT_FOUND names it
    // (it used to be accepted and wait forever)
    const refused = await svc.client
      .submitFrames(
        { source: 'test:owners', sourceJobId: 'j1', commandTemplate: 'true', capacityGroup: 'nosuchgroup' },
        [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1 }],
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(refused).toBeInstanceOf(BurstServiceError);
    expect(refused).toMatchObject({ code: 'NOT_FOUND' });
    expect((refused as Error).message).toBe(
      'capacity group "nosuchgroup" does not exist (spillway pools list)',
    );
    // A near miss gets a suggestion; nothing was stored.
    await expect(
      svc.client.submitFrames(
        { source: 'test:owners', sourceJobId: 'j1', commandTemplate: 'true', capacityGroup: 'nightley' },
        [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1 }],
      ),
    ).rejects.toThrow(
      'capacity group "nightley" does not exist; did you mean "nightly"? (spillway pools list)',
    );
    await expect(svc.client.getJob({ source: 'test:owners', sourceJobId: 'j1' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });

    // The same through `spillway submit --group nosuchgroup`.
    const cli = await svc.cli('submit', '--frames', '1-2', '--command', 'true', '--group', 'nosuchgroup');
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('capacity group "nosuchgroup" does not exist');
  });

  it('prints "created NAME (frame-offload, local, …)": the backend the service chose', async () => {
    const created = await svc.cli('pools', 'create', 'plain', '--vm-size', 'local-2', '--max-dedicated', '1');
    expect(created.stderr).toBe('');
    expect(created.stdout.trim()).toBe('created plain (frame-offload, local, local-2)');
    await svc.client.capacity.delete('plain');
    // A backend this service does not run is refused, saying which one it runs.
    const batch = await svc.cli(
      'pools',
      'create',
      'other',
      '--vm-size',
      'x',
      '--max-spot',
      '1',
      '--backend',
      'batch',
    );
    expect(batch.code).toBe(1);
    expect(batch.stderr).toContain(
      'spec.backend is BACKEND_KIND_BATCH, but this service offloads frames to the local engine (configuration compute.backend "local")',
    );
  });
});

describe('pins across a restart', () => {
  // GIVEN a group pinned by hand on the embedded engine WHEN the service restarts (the engine
  // comes back with no nodes) THEN the group is brought back to its pin, still owned by hand,
  // and spend keeps being metered from the same start
  it('brings a group back to its pin and keeps who set it', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-capacity-restart-'));
    try {
      const first = await startCapacityService({}, { dataDir });
      await first.client.capacity.ensure({
        name: 'nightly',
        mode: 'frame-offload',
        vmSize: 'local-8',
        maxDedicatedNodes: 2,
        maxSpotNodes: 3,
        cost: { dedicated: 0.6, spot: 0.15 },
      });
      await first.client.capacity.resize('nightly', { dedicated: 1, spot: 2 });
      const since = (await first.client.capacity.budget()).spentSince;
      await first.close();

      const second = await startCapacityService({}, { dataDir });
      try {
        expect(await second.client.capacity.get('nightly')).toMatchObject({
          target: { dedicated: 1, spot: 2 },
          pinned: { dedicated: 1, spot: 2 },
          targetOwner: 'manual',
        });
        expect((await second.client.capacity.budget()).spentSince).toEqual(since);
      } finally {
        await second.close();
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
