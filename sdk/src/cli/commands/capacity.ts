import type { Command } from '@commander-js/extra-typings';
import { exits, printJson, withConnection } from '../command';
import { connect } from '../connect';
import { groupTable, nodeTable } from '../format';

/** `spillway capacity`: one screen of the studio's burst capacity. */
export function register(program: Command): void {
  withConnection(
    program
      .command('capacity')
      .summary('the burst capacity held: groups, nodes by state, cost per hour')
      .description(
        'what burst capacity the service holds: every capacity group with its nodes (current and target, dedicated and spot), node states, errors, and the total cost per hour',
      )
      .option('--nodes', 'also list every node'),
  ).action(
    exits(async (opts) => {
      const client = connect(opts);
      try {
        const groups = await client.capacity.list();
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
          printJson({ total, groups, parameters, ...(opts.nodes ? { nodes } : {}) });
          return 0;
        }
        if (groups.length === 0) {
          console.log('no capacity groups');
          return 0;
        }
        console.log(groupTable(groups));
        for (const g of groups) {
          const states = Object.entries(g.nodes)
            .map(([state, c]) => `${state} ${c.dedicated + c.spot}`)
            .join(', ');
          if (states) console.log(`  ${g.name}: ${states}`);
          for (const e of g.errors) console.log(`  ${g.name}: error ${e.code}: ${e.message}`);
        }
        console.log(
          `total: ${total.groups} group(s), ${total.dedicated} dedicated + ${total.spot} spot node(s), ${total.costPerHour.toFixed(2)} per hour`,
        );
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
