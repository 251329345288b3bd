import type { Command } from '@commander-js/extra-typings';
import { exits, jsonOption, UsageError } from '../command';

/** `spillway simulate`: the farm simulator over a scenario file. */
export function register(program: Command): void {
  program
    .command('simulate')
    .summary('run a burst scenario through the farm simulator, Spillway against baselines')
    .description(
      "run a burst scenario (the shape of scenarios/README.md in the repository) through the seeded, event-driven farm simulator with Spillway's policy and the baselines, and print per policy: makespan, each job's finish and whether it met its deadline, cloud cost, node-hours (spot, dedicated), frames offloaded and recalled, evictions, and cost ÷ the scenario's hindsight lower bound",
    )
    .requiredOption('--scenario <FILE>', 'the scenario file')
    .option(
      '--policy <NAME>',
      'one of: spillway, never, spot-event-plugin, batch-autoscale, avere-scaler, render-hub (default: all of them)',
    )
    .option(jsonOption[0], 'one JSON document: {"scenario", "lowerBoundCost", "results": [...]}')
    .addHelpText(
      'after',
      '\nExample:\n  spillway simulate --scenario scenarios/overnight-crunch.json --policy spillway',
    )
    .action(
      exits(async (opts) => {
        const policy = require('../../policy') as typeof import('../../policy');
        let names: readonly (typeof policy.POLICY_NAMES)[number][] = policy.POLICY_NAMES;
        if (opts.policy !== undefined) {
          const name = policy.POLICY_NAMES.find((n) => n === opts.policy);
          if (!name)
            throw new UsageError(
              `--policy ${JSON.stringify(opts.policy)}: unknown policy; expected one of ${policy.POLICY_NAMES.join(', ')}`,
              '--policy',
            );
          names = [name];
        }
        const scenario = policy.loadScenario(opts.scenario);
        const report = policy.runScenario(scenario, names);
        if (opts.json) {
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
      }),
    );
}
