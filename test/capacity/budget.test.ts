import { BurstServiceError } from '@spillway/sdk';
import { startCapacityService, until, type CapacityTestService } from './support';

// Money is checked on every path that adds cost (#20). GIVEN a service with
// budget.maxSpendPerHour 1.0 and groups priced per node hour WHEN a person resizes or
// creates beyond the cap, or a plan would take the studio over it THEN the resize and the
// create answer RESOURCE_EXHAUSTED naming the cap and the cost, the plan is clamped with a
// reason, and `spillway capacity` and `client.capacity.budget()` show cap, spend per hour
// and spend so far.

describe('the budget on every path that adds cost', () => {
  let svc: CapacityTestService;
  beforeAll(async () => {
    svc = await startCapacityService({ 'budget.maxSpendPerHour': 1.0 });
    for (const name of ['nightly', 'rush']) {
      await svc.client.capacity.ensure({
        name,
        mode: 'frame-offload',
        vmSize: 'local-8',
        maxDedicatedNodes: 4,
        maxSpotNodes: 20,
        cost: { dedicated: 0.6, spot: 0.15 },
      });
    }
  });
  afterAll(() => svc.close());

  it('refuses `pools resize nightly --spot 20` (3.00/h) over a 1.00/h cap, naming both', async () => {
    const cli = await svc.cli('pools', 'resize', 'nightly', '--dedicated', '0', '--spot', '20');
    expect(cli.code).toBe(1);
    expect(cli.stderr.trim()).toBe(
      'spillway pools resize: resizing "nightly" to 0 dedicated + 20 spot would cost 3.00 USD/h (3.00 USD/h for every group together), ' +
        'over budget.maxSpendPerHour of 1.00 USD/h; 1.00 USD/h is left, enough for 6 spot node(s); ask for less or raise the cap',
    );
    const refused = await svc.client.capacity.resize('nightly', { dedicated: 1, spot: 4 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(BurstServiceError);
    expect(refused).toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    expect((refused as Error).message).toContain('budget.maxSpendPerHour of 1.00 USD/h');
    expect((refused as Error).message).toContain('would cost 1.20 USD/h');
    // Nothing changed.
    expect((await svc.client.capacity.get('nightly')).target).toEqual({ dedicated: 0, spot: 0 });
  });

  it('accepts what fits, and refuses a create (reconcile) that raises the prices over the cap', async () => {
    const ok = await svc.client.capacity.resize('nightly', { dedicated: 0, spot: 6 });
    expect(ok.target).toEqual({ dedicated: 0, spot: 6 });
    await expect(
      svc.client.capacity.ensure({
        name: 'nightly',
        mode: 'frame-offload',
        vmSize: 'local-8',
        maxDedicatedNodes: 4,
        maxSpotNodes: 20,
        cost: { dedicated: 0.6, spot: 0.3 },
      }),
    ).rejects.toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      message: expect.stringContaining(
        'reconciling capacity group "nightly" at its prices would cost 1.80 USD/h (1.80 USD/h for every group together), over budget.maxSpendPerHour of 1.00 USD/h',
      ),
    });
    // Taking nodes away is never refused.
    await svc.client.capacity.resize('nightly', { dedicated: 0, spot: 6 });
  });

  it('clamps a plan that would take the studio over the cap, and says so', async () => {
    // GIVEN nightly pinned at 6 spot (0.90/h) WHEN a report wants rush nodes for a deadline
    const plan = await svc.client.reportFarmState({
      source: 'deadline:main',
      observedAt: new Date(),
      jobs: [
        {
          sourceJobId: 'rush-1',
          priority: 90,
          group: '',
          queuedFrames: 30,
          renderingFrames: 8,
          offloadedFrames: 0,
          burstable: true,
          deadline: new Date(Date.now() + 3_600_000),
          capacityGroup: 'rush',
        },
      ],
      workers: [{ group: '', idle: 0, busy: 8 }],
    });
    // THEN nightly keeps its pin and rush gets only what the cap leaves (none: one more node is 1.05/h)
    expect(plan.targets.filter((t) => t.capacityGroup !== 'default')).toMatchObject([
      { capacityGroup: 'nightly', dedicatedNodes: 0, spotNodes: 6 },
      { capacityGroup: 'rush', dedicatedNodes: 0, spotNodes: 0 },
    ]);
    expect(plan.reasons).toEqual(
      expect.arrayContaining([
        'group nightly: kept at 6 spot, pinned by hand (the plan wanted 0)',
        expect.stringMatching(
          /^group rush: 0 spot instead of 6: budget\.maxSpendPerHour is 1\.00 USD\/h and the plan would cost 1\.80 USD\/h$/,
        ),
      ]),
    );
    expect(plan.projectedCostPerHour).toBeCloseTo(0.9);
  });

  it('shows the budget, spend per hour and spend so far in `spillway capacity` and the client', async () => {
    const budget = await until(
      () => svc.client.capacity.budget(),
      (b) => b.spentTotal > 0 && b.costPerHour > 0.89,
    );
    expect(budget).toMatchObject({
      maxSpendPerHour: 1,
      currency: 'USD',
      projectedCostPerHour: expect.closeTo(0.9, 5),
      costPerHour: expect.closeTo(0.9, 5),
    });
    expect(budget.spentTotal).toBeGreaterThan(0);
    expect(budget.spentSince!.getTime()).toBeLessThanOrEqual(Date.now());

    const json = JSON.parse((await svc.cli('capacity', '--json')).stdout) as {
      budget: { maxSpendPerHour: number; costPerHour: number; spentTotal: number; currency: string };
    };
    expect(json.budget).toMatchObject({ maxSpendPerHour: 1, currency: 'USD' });
    expect(json.budget.spentTotal).toBeGreaterThanOrEqual(budget.spentTotal);
    const text = await svc.cli('capacity');
    expect(text.stdout).toMatch(
      /^budget: 1\.00 USD\/h; now 0\.90 USD\/h, 0\.90 USD\/h at targets; spent \d+\.\d\d USD since \d{4}-\d\d-\d\dT/m,
    );
  });
});
