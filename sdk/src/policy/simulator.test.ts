import * as fs from 'node:fs';
import * as path from 'node:path';
import { createController, spillwayController, type PolicyName } from './controllers';
import { hindsightSchedule, lowerBound } from './lower-bound';
import { runScenario } from './report';
import { loadScenario, parseScenario, type Scenario } from './scenario';
import { simulate } from './simulator';

/** The scenarios in the repository's `scenarios/` folder. */
const SCENARIOS = path.resolve(__dirname, '../../../scenarios');
const files = fs.existsSync(SCENARIOS)
  ? fs
      .readdirSync(SCENARIOS)
      .filter((f) => f.endsWith('.json'))
      .sort()
  : [];

/**
 * Where the policy does not reach 1.3x the hindsight lower bound, with the ceiling it must
 * stay under and why (see docs/policy.md). Anything not listed must be within 1.3x.
 */
const KNOWN_RATIO_GAPS: Record<string, number> = {
  // 7,200 s frames that fit the deadline exactly 5 per worker on average: without hindsight
  // a worker's fifth frame is a coin toss until too late for the cloud, so ~40 frames go
  // out where hindsight sends ~20; the online floor with perfect progress is 1.84 (measured
  // 2.26 with progress reports).
  'long-frames-deadline': 2.3,
  // Each local worker's last frame must fit whole under the guard: ~45 frames over the
  // bound, which is within 0.3 % of the best hindsight schedule; online floor 1.15
  // (measured 1.35).
  'overnight-crunch': 1.4,
};

describe('simulator on the shared scenarios', () => {
  it('finds the shared scenarios', () => {
    expect(files.length).toBeGreaterThanOrEqual(7);
  });

  it.each(files)(
    '%s: Spillway meets every deadline a baseline meets, spends least among equals, near the bound',
    (file) => {
      // GIVEN a shared scenario
      const scenario = loadScenario(path.join(SCENARIOS, file));
      // WHEN every policy runs it
      const report = runScenario(scenario);
      const [mine, ...baselines] = report.results;
      expect(mine!.policy).toBe('spillway');
      // THEN every deadline any baseline meets, Spillway meets
      for (const b of baselines) {
        b.jobs.forEach((j, i) => {
          if (j.deadlineMet)
            expect({ job: j.id, policy: b.policy, spillway: mine!.jobs[i]!.deadlineMet }).toEqual({
              job: j.id,
              policy: b.policy,
              spillway: true,
            });
        });
        // AND it spends no more than any baseline meeting as many deadlines
        if (b.deadlinesMet >= mine!.deadlinesMet) expect(mine!.cost).toBeLessThanOrEqual(b.cost);
      }
      // AND nothing on a day the farm handles alone
      if (scenario.name === 'no-overflow') expect(mine!.cost).toBe(0);
      // AND the lower bound is below every run that meets every deadline, and below a
      // whole-frame schedule found with hindsight (where one is computed)
      for (const r of report.results)
        if (r.deadlinesMet === r.deadlinesTotal) expect(r.cost).toBeGreaterThanOrEqual(report.lowerBoundCost);
      const lb = lowerBound(scenario);
      expect(lb.cost).toBeGreaterThanOrEqual(lb.fluidCost);
      const h = hindsightSchedule(scenario);
      if (h) expect(h.cost).toBeGreaterThanOrEqual(lb.cost - 1e-9);
      // AND it is near the hindsight lower bound
      if (report.lowerBoundCost > 0)
        expect(mine!.cost / report.lowerBoundCost).toBeLessThanOrEqual(
          KNOWN_RATIO_GAPS[scenario.name] ?? 1.3,
        );
    },
  );
});

const small: Scenario = parseScenario({
  name: 'small',
  horizonSeconds: 86_400,
  localFarm: { workers: 10, speed: 1 },
  cloud: {
    maxNodes: 50,
    nodeBootSeconds: 300,
    nodeSpeed: 1,
    dedicatedPricePerHour: 0.68,
    spotPricePerHour: 0.14,
    spotEvictionsPerNodeHour: 0.3,
    billingGranularitySeconds: 60,
    transferSecondsPerFrame: 5,
  },
  jobs: [
    {
      id: 'a',
      submitAtSeconds: 0,
      frames: 300,
      frameSeconds: { mean: 600, stdev: 120 },
      priority: 50,
      deadlineAtSeconds: 10_800,
    },
    { id: 'b', submitAtSeconds: 1800, frames: 50, frameSeconds: { mean: 300, stdev: 30 }, priority: 80 },
  ],
  seed: 9,
});

describe('simulate', () => {
  it.each<PolicyName>(['spillway', 'spot-event-plugin', 'batch-autoscale'])(
    '%s: same seed, identical results',
    (name) => {
      // GIVEN one scenario WHEN it runs twice with fresh controllers THEN the results are identical
      expect(simulate(small, createController(name))).toEqual(simulate(small, createController(name)));
    },
  );

  it('a different seed gives different frame times and results', () => {
    // GIVEN the same scenario with another seed WHEN Spillway runs both THEN the figures differ
    expect(simulate({ ...small, seed: 10 }, spillwayController()).cost).not.toBe(
      simulate(small, spillwayController()).cost,
    );
  });

  it('renders every frame, bills whole intervals, and the never-burst baseline costs nothing', () => {
    // GIVEN the small scenario WHEN the baselines run
    const never = simulate(small, createController('never'));
    const sep = simulate(small, createController('spot-event-plugin'));
    // THEN all frames finish, never-burst spends 0, the plugin spends whole billed minutes
    expect(never.completed && sep.completed).toBe(true);
    expect(never.cost).toBe(0);
    expect(sep.cost).toBeGreaterThan(0);
    const minutes = (sep.spotNodeHours * 60) % 1;
    expect(Math.min(minutes, 1 - minutes)).toBeLessThan(1e-6);
    expect(sep.evictions).toBeGreaterThan(0);
  });

  it('the lower bound is 0 when the farm alone meets every deadline, and never above a run that meets them all', () => {
    // GIVEN a scenario the farm handles alone, and the small one
    const easy = { ...small, jobs: [{ ...small.jobs[0]!, frames: 20 }] };
    // WHEN bounds are computed THEN the easy one is 0 and no deadline-meeting run costs less
    expect(lowerBound(easy).cost).toBe(0);
    const lb = lowerBound(small).cost;
    expect(lb).toBeGreaterThan(0);
    for (const name of ['spillway', 'spot-event-plugin', 'render-hub'] as const) {
      const r = simulate(small, createController(name));
      if (r.deadlinesMet === r.deadlinesTotal) expect(r.cost).toBeGreaterThanOrEqual(lb);
    }
  });
});
