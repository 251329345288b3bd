import { parseArgs } from 'node:util';
import type { CapacityGroupInfo, CapacityNodeInfo } from '../../client';
import type { Command } from '../command';
import { UsageError, wholeNumberFlag } from '../command';
import { connect, connectHelp, connectOptions } from './connect';

function price(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new UsageError(`${flag} ${JSON.stringify(value)}: expected a price >= 0`);
  return n;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function groupRows(groups: readonly CapacityGroupInfo[]): string {
  return table([
    [
      'NAME',
      'MODE',
      'BACKEND',
      'VM SIZE',
      'STATE',
      'NODES (DED/SPOT)',
      'TARGET (DED/SPOT)',
      'SLOTS',
      'COST/H',
    ],
    ...groups.map((g) => [
      g.name,
      g.mode ?? '?',
      g.backend ?? 'default', // the service's configured backend for the mode
      g.vmSize || '-',
      g.state ?? '?',
      `${g.current.dedicated}/${g.current.spot}`,
      `${g.target.dedicated}/${g.target.spot}`,
      String(g.taskSlotsPerNode),
      g.costPerHour.toFixed(2),
    ]),
  ]);
}

function nodeRows(nodes: readonly CapacityNodeInfo[]): string {
  return table([
    ['NODE', 'GROUP', 'STATE', 'PRIORITY', 'TASKS', 'CREATED'],
    ...nodes.map((n) => [
      n.nodeId,
      n.group,
      n.state ?? '?',
      n.priority,
      String(n.runningTasks),
      n.createdAt?.toISOString() ?? '-',
    ]),
  ]);
}

export const poolsCommand: Command = {
  name: 'pools',
  summary: 'list, create, resize and delete capacity groups (Batch pools, scale sets)',
  help: `Usage: spillway pools list|create|resize|delete|nodes [NAME] [options]

Capacity groups are where burst work runs: an Azure Batch pool (frame offload), a VM Scale
Set (worker burst), or a pool of the embedded local engine.

  spillway pools list
  spillway pools create NAME --vm-size SIZE [--mode frame-offload|worker-burst]
        [--backend local|batch|scale-set] [--slots N] [--max-dedicated N] [--max-spot N]
        [--dedicated-price P --spot-price P]      (idempotent: reconciles an existing group)
  spillway pools resize NAME --dedicated N --spot N [--requeue]
  spillway pools delete NAME
  spillway pools nodes NAME

  --requeue             removed nodes give their running tasks back to the queue
                        (default: nodes leave when their tasks finish)
${connectHelp}

Example:
  spillway pools create nightly --vm-size Standard_D16as_v5 --backend batch \\
      --slots 1 --max-spot 50 --dedicated-price 0.77 --spot-price 0.15
  spillway pools resize nightly --dedicated 0 --spot 20`,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        ...connectOptions,
        mode: { type: 'string' },
        backend: { type: 'string' },
        'vm-size': { type: 'string' },
        slots: { type: 'string' },
        'max-dedicated': { type: 'string' },
        'max-spot': { type: 'string' },
        'dedicated-price': { type: 'string' },
        'spot-price': { type: 'string' },
        dedicated: { type: 'string' },
        spot: { type: 'string' },
        requeue: { type: 'boolean', default: false },
      },
    });
    const [action, name] = positionals;
    const actions = ['list', 'create', 'resize', 'delete', 'nodes'];
    if (!action || !actions.includes(action))
      throw new UsageError(`expected one of ${actions.join(', ')}, got ${JSON.stringify(action ?? '')}`);
    if (action !== 'list' && !name) throw new UsageError(`NAME is required for "pools ${action}"`);
    const client = connect(values);
    try {
      switch (action) {
        case 'list': {
          const groups = await client.capacity.list();
          console.log(
            values.json
              ? JSON.stringify(groups)
              : groups.length > 0
                ? groupRows(groups)
                : 'no capacity groups',
          );
          return 0;
        }
        case 'create': {
          const mode = values.mode ?? 'frame-offload';
          if (mode !== 'frame-offload' && mode !== 'worker-burst')
            throw new UsageError(`--mode ${JSON.stringify(mode)}: expected frame-offload or worker-burst`);
          const backend = values.backend;
          if (backend !== undefined && backend !== 'local' && backend !== 'batch' && backend !== 'scale-set')
            throw new UsageError(`--backend ${JSON.stringify(backend)}: expected local, batch or scale-set`);
          if (!values['vm-size']) throw new UsageError('--vm-size is required');
          const dedicatedPrice = price('--dedicated-price', values['dedicated-price']);
          const spotPrice = price('--spot-price', values['spot-price']);
          if ((dedicatedPrice === undefined) !== (spotPrice === undefined))
            throw new UsageError('--dedicated-price and --spot-price go together');
          const { group, created } = await client.capacity.ensure({
            name: name!,
            mode,
            ...(backend ? { backend } : {}),
            vmSize: values['vm-size'],
            taskSlotsPerNode: wholeNumberFlag('--slots', values.slots, { fallback: 1 }),
            maxDedicatedNodes: wholeNumberFlag('--max-dedicated', values['max-dedicated'], { fallback: 0 }),
            maxSpotNodes: wholeNumberFlag('--max-spot', values['max-spot'], { fallback: 0 }),
            ...(dedicatedPrice !== undefined
              ? { cost: { dedicated: dedicatedPrice, spot: spotPrice! } }
              : {}),
          });
          console.log(
            values.json
              ? JSON.stringify({ created, group })
              : `${created ? 'created' : 'reconciled'} ${group.name} (${group.mode}, ${group.backend}, ${group.vmSize})`,
          );
          return 0;
        }
        case 'resize': {
          const target = {
            dedicated: wholeNumberFlag('--dedicated', values.dedicated),
            spot: wholeNumberFlag('--spot', values.spot),
          };
          const group = await client.capacity.resize(name!, target, {
            deallocation: values.requeue ? 'requeue' : 'taskCompletion',
          });
          console.log(
            values.json
              ? JSON.stringify(group)
              : `${group.name}: target ${group.target.dedicated} dedicated, ${group.target.spot} spot (${group.state ?? '?'}; now ${group.current.dedicated}/${group.current.spot})`,
          );
          return 0;
        }
        case 'delete': {
          await client.capacity.delete(name!);
          console.log(values.json ? JSON.stringify({ deleted: name }) : `deleted ${name}`);
          return 0;
        }
        default: {
          const nodes = await client.capacity.nodes(name!);
          console.log(values.json ? JSON.stringify(nodes) : nodes.length > 0 ? nodeRows(nodes) : 'no nodes');
          return 0;
        }
      }
    } finally {
      client.close();
    }
  },
};

export const capacityCommand: Command = {
  name: 'capacity',
  summary: 'what burst capacity the service holds: groups, nodes by state, cost per hour',
  help: `Usage: spillway capacity [--nodes] [options]

One screen of the studio's burst capacity: every capacity group with its nodes (current and
target, dedicated and spot), node states, errors, and the total cost per hour.

  --nodes               also list every node
${connectHelp}`,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: { ...connectOptions, nodes: { type: 'boolean', default: false } },
    });
    const client = connect(values);
    try {
      const groups = await client.capacity.list();
      const nodes = values.nodes
        ? (await Promise.all(groups.map((g) => client.capacity.nodes(g.name)))).flat()
        : [];
      const total = {
        groups: groups.length,
        dedicated: groups.reduce((n, g) => n + g.current.dedicated, 0),
        spot: groups.reduce((n, g) => n + g.current.spot, 0),
        costPerHour: groups.reduce((n, g) => n + g.costPerHour, 0),
      };
      if (values.json) {
        console.log(JSON.stringify({ total, groups, ...(values.nodes ? { nodes } : {}) }));
        return 0;
      }
      if (groups.length === 0) {
        console.log('no capacity groups');
        return 0;
      }
      console.log(groupRows(groups));
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
      if (values.nodes) console.log(`\n${nodes.length > 0 ? nodeRows(nodes) : 'no nodes'}`);
      return 0;
    } finally {
      client.close();
    }
  },
};
