import { parseArgs } from 'node:util';
import { BurstServiceError, parseImageReference } from '../../client';
import type { BudgetInfo, CapacityGroupInfo, CapacityGroupInput, CapacityNodeInfo } from '../../client';
import { ValidationError } from '../../errors';
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

/** The `pools create` flag that sets each spec field the service may refuse. */
const FLAG_OF_FIELD: readonly (readonly [string, string])[] = [
  ['spec.image.node_agent_sku_id', '--node-agent-sku'],
  ['spec.image', '--image (or --image-id)'],
  ['spec.batch_pool.subnet_id', '--subnet'],
  ['spec.scale_set.subnet_id', '--subnet'],
  ['spec.scale_set.resource_group', '--resource-group'],
  ['spec.scale_set.location', '--location'],
  ['spec.scale_set.worker_startup.render_manager', '--render-manager'],
  ['spec.scale_set.worker_startup.farm_address', '--farm-address'],
  ['spec.scale_set.worker_startup', '--render-manager, --farm-address'],
  ['spec.vm_size', '--vm-size'],
  ['spec.task_slots_per_node', '--slots'],
  ['spec.max_dedicated_nodes', '--max-dedicated / --max-spot'],
  ['spec.cost', '--dedicated-price / --spot-price'],
  ['spec.backend', '--backend'],
  ['spec.mode', '--mode'],
];

/** The service's refusal of a spec, with the flag that sets the field it names. */
function withFlag(err: unknown): unknown {
  if (!(err instanceof BurstServiceError) || !err.field) return err;
  const flag = FLAG_OF_FIELD.find(([field]) => err.field === field || err.field!.startsWith(`${field}.`));
  return flag ? new Error(`${err.message} [set with ${flag[1]}]`, { cause: err }) : err;
}

function list(values: readonly string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

function budgetLine(b: BudgetInfo): string {
  const cap = b.maxSpendPerHour > 0 ? `${b.maxSpendPerHour.toFixed(2)} ${b.currency}/h` : 'uncapped';
  const since = b.spentSince ? ` since ${b.spentSince.toISOString()}` : '';
  return `budget: ${cap}; now ${b.costPerHour.toFixed(2)} ${b.currency}/h, ${b.projectedCostPerHour.toFixed(2)} ${b.currency}/h at targets; spent ${b.spentTotal.toFixed(2)} ${b.currency}${since}`;
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
        [--image PUBLISHER:OFFER:SKU[:VERSION] | --image-id ID] [--node-agent-sku SKU]
        [--subnet ID] [--resource-group RG] [--location REGION]
        [--render-manager deadline|opencue --farm-address ADDR [--farm-group G]...
         [--farm-pool P]... [--facility F] [--secret-ref REF] [--startup-command CMD]]
  spillway pools resize NAME --dedicated N --spot N [--requeue]
  spillway pools delete NAME
  spillway pools nodes NAME

  --backend             default: the service's backend for the mode (compute.backend for
                        frame offload, scale-set for worker burst)
  --image               the nodes' OS image, as az writes it (Batch and scale sets)
  --image-id ID         a custom image (Azure Compute Gallery image version resource id)
  --node-agent-sku SKU  Batch node agent matching the image, e.g. "batch.node.ubuntu 22.04"
  --subnet ID           subnet resource id the nodes join (Batch pool or scale set)
  --resource-group RG   scale set's resource group (default: the service's workerBurst.resourceGroup)
  --location REGION     scale set's region, e.g. westeurope (default: workerBurst.location)
  --render-manager RM   worker burst: the farm instances join (deadline or opencue)
  --farm-address ADDR   Deadline repository/RCS address, or Cuebot host:port
  --farm-group G        Deadline group / OpenCue tag the workers advertise (repeatable; the
                        plan only shrinks the group for reports of these farm groups)
  --farm-pool P         Deadline pool the workers serve (repeatable)
  --secret-ref REF      secret-store reference for farm credentials (never the secret)
  --startup-command CMD replaces the render manager's default start-up command
  --requeue             removed nodes give their running tasks back to the queue
                        (default: nodes leave when their tasks finish)

A resize pins the group: the burst plan never sizes it below what you set (resize to 0 and 0
to hand it back to the plan). A resize or create that would take the studio over
budget.maxSpendPerHour is refused, naming the cap and the cost.
${connectHelp}

Example:
  spillway pools create nightly --vm-size Standard_D16as_v5 --backend batch \\
      --image canonical:0001-com-ubuntu-server-jammy:22_04-lts --node-agent-sku "batch.node.ubuntu 22.04" \\
      --slots 1 --max-spot 50 --dedicated-price 0.77 --spot-price 0.15
  spillway pools create cloud-workers --mode worker-burst --vm-size Standard_D16as_v5 \\
      --image canonical:ubuntu-24_04-lts:server --location westeurope --max-spot 20 \\
      --render-manager deadline --farm-address rcs.studio.internal:4433 --farm-group cloud
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
        image: { type: 'string' },
        'image-id': { type: 'string' },
        'node-agent-sku': { type: 'string' },
        subnet: { type: 'string' },
        'resource-group': { type: 'string' },
        location: { type: 'string' },
        'render-manager': { type: 'string' },
        'farm-address': { type: 'string' },
        'farm-group': { type: 'string', multiple: true },
        'farm-pool': { type: 'string', multiple: true },
        facility: { type: 'string' },
        'secret-ref': { type: 'string' },
        'startup-command': { type: 'string' },
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
          if (values.image !== undefined && values['image-id'] !== undefined)
            throw new UsageError('--image and --image-id are alternatives: give one');
          let image: CapacityGroupInput['image'];
          try {
            image =
              values.image !== undefined
                ? parseImageReference(values.image, '--image')
                : values['image-id'] !== undefined
                  ? parseImageReference(values['image-id'], '--image-id')
                  : undefined;
          } catch (err) {
            if (err instanceof ValidationError) throw new UsageError(err.message);
            throw err;
          }
          if (values['node-agent-sku'] !== undefined)
            image = { ...image, nodeAgentSkuId: values['node-agent-sku'] };
          const renderManager = values['render-manager'];
          if (renderManager !== undefined && renderManager !== 'deadline' && renderManager !== 'opencue')
            throw new UsageError(
              `--render-manager ${JSON.stringify(renderManager)}: expected deadline or opencue`,
            );
          const startupFlags = [
            'farm-address',
            'farm-group',
            'farm-pool',
            'facility',
            'secret-ref',
            'startup-command',
          ] as const;
          if (renderManager === undefined && startupFlags.some((f) => values[f] !== undefined))
            throw new UsageError('--render-manager is required with the worker start-up flags');
          if (mode !== 'worker-burst' && renderManager !== undefined)
            throw new UsageError(
              '--render-manager and the worker start-up flags are for --mode worker-burst',
            );
          let result: Awaited<ReturnType<typeof client.capacity.ensure>>;
          try {
            result = await client.capacity.ensure({
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
              ...(image ? { image } : {}),
              ...(values.subnet ? { subnetId: values.subnet } : {}),
              ...(values['resource-group'] ? { resourceGroup: values['resource-group'] } : {}),
              ...(values.location ? { location: values.location } : {}),
              ...(renderManager
                ? {
                    workerStartup: {
                      renderManager,
                      farmAddress: values['farm-address'] ?? '',
                      groups: list(values['farm-group']),
                      pools: list(values['farm-pool']),
                      ...(values.facility ? { facility: values.facility } : {}),
                      ...(values['secret-ref'] ? { secretReference: values['secret-ref'] } : {}),
                      ...(values['startup-command'] ? { command: values['startup-command'] } : {}),
                    },
                  }
                : {}),
            });
          } catch (err) {
            throw withFlag(err);
          }
          const { group, created } = result;
          console.log(
            values.json
              ? JSON.stringify({ created, group })
              : `${created ? 'created' : 'reconciled'} ${group.name} (${group.mode ?? '?'}, ${group.backend ?? '?'}, ${group.vmSize})`,
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
              : `${group.name}: target ${group.target.dedicated} dedicated, ${group.target.spot} spot (${group.state ?? '?'}; now ${group.current.dedicated}/${group.current.spot}); pinned: the plan keeps at least this`,
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
target, dedicated and spot), node states, who set its targets and its pinned floors, errors,
the total cost per hour, and the budget: the cap (budget.maxSpendPerHour), the cost per hour
now and at the targets, and what has been spent so far.

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
      const budget = await client.capacity.budget();
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
        console.log(JSON.stringify({ total, budget, groups, ...(values.nodes ? { nodes } : {}) }));
        return 0;
      }
      if (groups.length === 0) {
        console.log(`no capacity groups\n${budgetLine(budget)}`);
        return 0;
      }
      console.log(groupRows(groups));
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
      if (values.nodes) console.log(`\n${nodes.length > 0 ? nodeRows(nodes) : 'no nodes'}`);
      return 0;
    } finally {
      client.close();
    }
  },
};
