import type { Command } from '@commander-js/extra-typings';
import type { BudgetInfo } from '../../client';
import { exits, printJson, withConnection } from '../command';
import { connect } from '../connect';
import { groupTable, nodeTable } from '../format';

/** The budget as one line: the cap, spend per hour now and at the targets, spend so far. */
export function budgetLine(b: BudgetInfo): string {
  const cap = b.maxSpendPerHour > 0 ? `${b.maxSpendPerHour.toFixed(2)} ${b.currency}/h` : 'uncapped';
  const since = b.spentSince ? ` since ${b.spentSince.toISOString()}` : '';
  return `budget: ${cap}; now ${b.costPerHour.toFixed(2)} ${b.currency}/h, ${b.projectedCostPerHour.toFixed(2)} ${b.currency}/h at targets; spent ${b.spentTotal.toFixed(2)} ${b.currency}${since}`;
}

/** `spillway capacity`: one screen of the studio's burst capacity. */
export function register(program: Command): void {
  withConnection(
    program
      .command('capacity')
      .summary('the burst capacity held: groups, nodes by state, cost per hour')
      .description(
        'what burst capacity the service holds: every capacity group with its nodes (current and target, dedicated and spot), node states, who set its targets and its pinned floors, errors, the total cost per hour, and the budget: the cap (budget.maxSpendPerHour), the cost per hour now and at the targets, and what has been spent so far',
      )
      .option('--nodes', 'also list every node'),
  ).action(
    exits(async (opts) => {
      const client = connect(opts);
      try {
        const groups = await client.capacity.list();
        const budget = await client.capacity.budget();
        // The figures the burst policy plans each group with, configured or observed.
        const { parameters } = await client.burstStatus();
        const nodes = opts.nodes
          ? (await Promise.all(groups.map((g) => client.capacity.nodes(g.name)))).flat()
          : [];
        const total = {
          groups: groups.length,
          dedicated: groups.reduce((n, g) => n + g.current.dedicated, 0),
          spot: groups.reduce((n, g) => n + g.current.spot, 0),
          costPerHour: groups.reduce((n, g) => n + g.costPerHour, 0),
        };
        if (opts.json) {
          printJson({ total, budget, groups, parameters, ...(opts.nodes ? { nodes } : {}) });
          return 0;
        }
        if (groups.length === 0) {
          console.log(`no capacity groups\n${budgetLine(budget)}`);
          return 0;
        }
        console.log(groupTable(groups));
        for (const g of groups) {
          const states = Object.entries(g.nodes)
            .map(([state, c]) => `${state} ${c.dedicated + c.spot}`)
            .join(', ');
          if (states) console.log(`  ${g.name}: ${states}`);
          if (g.targetOwner || g.pinned.dedicated + g.pinned.spot > 0)
            console.log(
              `  ${g.name}: targets set by ${g.targetOwner === 'manual' ? 'hand' : (g.targetOwner ?? 'no one')}; pinned ${g.pinned.dedicated}/${g.pinned.spot}; spent ${g.spentTotal.toFixed(2)}`,
            );
          for (const e of g.errors) console.log(`  ${g.name}: error ${e.code}: ${e.message}`);
        }
        console.log(
          `total: ${total.groups} group(s), ${total.dedicated} dedicated + ${total.spot} spot node(s), ${total.costPerHour.toFixed(2)} per hour`,
        );
        console.log(budgetLine(budget));
        if (parameters.length > 0) {
          const { parameterLines } = require('../../policy/explain') as typeof import('../../policy/explain');
          console.log(['planned with:', ...parameterLines(parameters)].join('\n'));
        }
        if (opts.nodes) console.log(`\n${nodes.length > 0 ? nodeTable(nodes) : 'no nodes'}`);
        return 0;
      } finally {
        client.close();
      }
    }),
  );
}
