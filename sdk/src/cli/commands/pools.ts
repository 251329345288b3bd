import type { Command } from '@commander-js/extra-typings';
import {
  decimal,
  exits,
  oneOf,
  printJson,
  typedOption,
  UsageError,
  wholeNumber,
  withConnection,
} from '../command';
import { connect } from '../connect';
import { groupTable, nodeTable } from '../format';

/** `spillway pools list|create|resize|delete|nodes`. */
export function register(program: Command): void {
  const pools = program
    .command('pools')
    .summary('list, create, resize and delete capacity groups (Batch pools, scale sets)')
    .description(
      'list, create, resize and delete capacity groups: where burst work runs (an Azure Batch pool for frame offload, a VM Scale Set for worker burst, or a pool of the embedded local engine)',
    );

  withConnection(pools.command('list').description('every capacity group')).action(
    exits(async (opts) => {
      const client = connect(opts);
      try {
        const groups = await client.capacity.list();
        if (opts.json) printJson(groups);
        else console.log(groups.length > 0 ? groupTable(groups) : 'no capacity groups');
        return 0;
      } finally {
        client.close();
      }
    }),
  );

  withConnection(
    pools
      .command('create')
      .description('create a capacity group, or reconcile an existing one to these settings (idempotent)')
      .argument('<NAME>', 'the group: 1-64 characters of a-z 0-9 -, starting with a letter')
      .addOption(
        typedOption('--vm-size <SIZE>', 'VM size, e.g. Standard_D16as_v5', (v) => v).makeOptionMandatory(),
      )
      .addOption(
        typedOption(
          '--mode <MODE>',
          'frame-offload or worker-burst',
          oneOf(['frame-offload', 'worker-burst'] as const),
        ).default('frame-offload' as const),
      )
      .addOption(
        typedOption(
          '--backend <BACKEND>',
          "local, batch or scale-set (default: the service's backend for the mode)",
          oneOf(['local', 'batch', 'scale-set'] as const),
        ),
      )
      .addOption(typedOption('--slots <N>', 'task slots per node', wholeNumber({ min: 1 })).default(1))
      .addOption(typedOption('--max-dedicated <N>', 'most dedicated nodes', wholeNumber()).default(0))
      .addOption(typedOption('--max-spot <N>', 'most spot nodes', wholeNumber()).default(0))
      .addOption(
        typedOption(
          '--dedicated-price <P>',
          'price of a dedicated node per hour (with --spot-price)',
          decimal({ min: 0 }),
        ),
      )
      .addOption(
        typedOption(
          '--spot-price <P>',
          'price of a spot node per hour (with --dedicated-price)',
          decimal({ min: 0 }),
        ),
      )
      .addHelpText(
        'after',
        `
Example:
  spillway pools create nightly --vm-size Standard_D16as_v5 --backend batch \\
      --slots 1 --max-spot 50 --dedicated-price 0.77 --spot-price 0.15`,
      ),
  ).action(
    exits(async (name, opts) => {
      if ((opts.dedicatedPrice === undefined) !== (opts.spotPrice === undefined)) {
        const missing = opts.dedicatedPrice === undefined ? '--dedicated-price' : '--spot-price';
        throw new UsageError('--dedicated-price and --spot-price go together', missing);
      }
      const client = connect(opts);
      try {
        const { group, created } = await client.capacity.ensure({
          name,
          mode: opts.mode,
          ...(opts.backend ? { backend: opts.backend } : {}),
          vmSize: opts.vmSize,
          taskSlotsPerNode: opts.slots,
          maxDedicatedNodes: opts.maxDedicated,
          maxSpotNodes: opts.maxSpot,
          ...(opts.dedicatedPrice !== undefined
            ? { cost: { dedicated: opts.dedicatedPrice, spot: opts.spotPrice! } }
            : {}),
        });
        if (opts.json) printJson({ created, group });
        else
          console.log(
            `${created ? 'created' : 'reconciled'} ${group.name} (${group.mode}, ${group.backend}, ${group.vmSize})`,
          );
        return 0;
      } finally {
        client.close();
      }
    }),
  );

  withConnection(
    pools
      .command('resize')
      .description("set a group's target node counts")
      .argument('<NAME>', 'the group')
      .addOption(
        typedOption('--dedicated <N>', 'target dedicated nodes', wholeNumber()).makeOptionMandatory(),
      )
      .addOption(typedOption('--spot <N>', 'target spot nodes', wholeNumber()).makeOptionMandatory())
      .option(
        '--requeue',
        'removed nodes give their running tasks back to the queue (default: nodes leave when their tasks finish)',
      )
      .addHelpText('after', '\nExample:\n  spillway pools resize nightly --dedicated 0 --spot 20'),
  ).action(
    exits(async (name, opts) => {
      const client = connect(opts);
      try {
        const group = await client.capacity.resize(
          name,
          { dedicated: opts.dedicated, spot: opts.spot },
          { deallocation: opts.requeue ? 'requeue' : 'taskCompletion' },
        );
        if (opts.json) printJson(group);
        else
          console.log(
            `${group.name}: target ${group.target.dedicated} dedicated, ${group.target.spot} spot (${group.state ?? '?'}; now ${group.current.dedicated}/${group.current.spot})`,
          );
        return 0;
      } finally {
        client.close();
      }
    }),
  );

  withConnection(
    pools
      .command('delete')
      .description('delete a group (a missing group: nothing to do)')
      .argument('<NAME>', 'the group'),
  ).action(
    exits(async (name, opts) => {
      const client = connect(opts);
      try {
        await client.capacity.delete(name);
        if (opts.json) printJson({ deleted: name });
        else console.log(`deleted ${name}`);
        return 0;
      } finally {
        client.close();
      }
    }),
  );

  withConnection(
    pools.command('nodes').description("a group's nodes").argument('<NAME>', 'the group'),
  ).action(
    exits(async (name, opts) => {
      const client = connect(opts);
      try {
        const nodes = await client.capacity.nodes(name);
        if (opts.json) printJson(nodes);
        else console.log(nodes.length > 0 ? nodeTable(nodes) : 'no nodes');
        return 0;
      } finally {
        client.close();
      }
    }),
  );
}
