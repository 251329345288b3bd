import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { UsageError } from '../command';

const help = `Usage: spillway simulate --scenario FILE [--policy NAME] [--json]

Runs a burst scenario (the shape of scenarios/README.md in the repository) through the seeded,
event-driven farm simulator with Spillway's policy and the baselines, and prints per
policy: makespan, each job's finish and whether it met its deadline, cloud cost, node-hours
(spot, dedicated), frames offloaded and recalled, evictions, and cost ÷ the scenario's
hindsight lower bound.

  --scenario FILE   the scenario file (required)
  --policy NAME     one of: spillway, never, spot-event-plugin, batch-autoscale,
                    avere-scaler, render-hub (default: all of them)
  --json            one JSON document: {"scenario", "lowerBoundCost", "results": [...]}

Example: spillway simulate --scenario scenarios/overnight-crunch.json --policy spillway`;

/** `spillway simulate`: the farm simulator over a scenario file. */
export const simulateCommand: Command = {
  name: 'simulate',
  summary: 'run a burst scenario through the farm simulator, Spillway against baselines',
  help,
  async run(args) {
    let values: { scenario?: string; policy?: string; json?: boolean };
    try {
      ({ values } = parseArgs({
        args,
        options: { scenario: { type: 'string' }, policy: { type: 'string' }, json: { type: 'boolean' } },
      }));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const policy = require('../../policy') as typeof import('../../policy');
    if (!values.scenario) throw new UsageError('--scenario FILE is required');
    let names: readonly (typeof policy.POLICY_NAMES)[number][] = policy.POLICY_NAMES;
    if (values.policy !== undefined) {
      const name = policy.POLICY_NAMES.find((n) => n === values.policy);
      if (!name)
        throw new UsageError(
          `--policy: unknown policy ${JSON.stringify(values.policy)}; expected one of ${policy.POLICY_NAMES.join(', ')}`,
        );
      names = [name];
    }
    const scenario = policy.loadScenario(values.scenario);
    const report = policy.runScenario(scenario, names);
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
      return 0;
    }
    console.log(`${scenario.name}: ${scenario.description}`);
    console.log(`hindsight lower bound on cloud cost: ${report.lowerBoundCost.toFixed(2)}\n`);
    console.log(policy.textTable([[...policy.TABLE_HEADINGS], ...report.results.map(policy.tableRow)]));
    console.log('');
    for (const r of report.results) {
      const jobs = r.jobs.map(
        (j) =>
          `${j.id} ${policy.clock(j.finishedAtSeconds)}` +
          (j.deadlineAtSeconds === null
            ? ''
            : ` (deadline ${policy.clock(j.deadlineAtSeconds)} ${j.deadlineMet ? 'met' : 'MISSED'})`),
      );
      console.log(`${r.policy}: ${jobs.join(', ')}`);
    }
    return 0;
  },
};
