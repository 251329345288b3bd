import type { Command } from '@commander-js/extra-typings';
import {
  BurstServiceError,
  parseImageReference,
  type CapacityImage,
  type LicenseServerInput,
} from '../../client';
import {
  decimal,
  exits,
  oneOf,
  printJson,
  repeatable,
  typedOption,
  UsageError,
  wholeNumber,
  withConnection,
  type ValueParser,
} from '../command';
import { mountFlagOf, parseMountFlag, type MountSpec } from '../../storage/mounts';
import { connect } from '../connect';
import { groupTable, nodeTable } from '../format';

/** The `pools create` flag that sets each spec field the service may refuse (most specific first). */
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
  ['spec.license_servers', '--license-server'],
  ['spec.gpu', '--gpus / --gpu-device'],
];

/** The service's refusal of a spec, saying which flag sets the field it names. */
function withFlag(err: unknown): unknown {
  if (!(err instanceof BurstServiceError) || !err.field) return err;
  const field = err.field;
  const flag =
    mountFlagOf(field) ??
    FLAG_OF_FIELD.find(([f]) => field === f || field.startsWith(`${f}.`) || field.startsWith(`${f}[`))?.[1];
  return flag
    ? new BurstServiceError(`${err.message} [set with ${flag}]`, err.code, err.status, field, err)
    : err;
}

/** `--image`: a URN publisher:offer:sku[:version], or an image resource id. */
const imageReference = (value: string): CapacityImage => parseImageReference(value, '--image');

/** `--license-server HOST:PORT[=VAR,VAR]`, repeatable: a licence server and the variables set to it. */
const licenseServer: ValueParser<LicenseServerInput[] | undefined> = (value, previous) => {
  const eq = value.indexOf('=');
  const address = eq < 0 ? value : value.slice(0, eq);
  if (!/^.+:\d+$/.test(address))
    throw new Error('expected HOST:PORT[=VAR,VAR], e.g. lic.studio.internal:5053=solidangle_LICENSE');
  const environmentVariables = eq < 0 ? [] : names([value.slice(eq + 1)]);
  return [...(previous ?? []), { address, environmentVariables }];
};

/** `--mount NAME=KIND:SOURCE[;KEY=VALUE...]`, repeatable: a file system every node mounts. */
const mount: ValueParser<MountSpec[] | undefined> = (value, previous) => [
  ...(previous ?? []),
  parseMountFlag(value),
];

/** Comma-separated and repeatable values, e.g. `--farm-group cloud,gpu --farm-group fx`. */
const names = (values: readonly string[] | undefined): string[] =>
  (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');

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
      .addOption(
        typedOption(
          '--image <PUBLISHER:OFFER:SKU[:VERSION]>',
          "the nodes' OS image as az writes it (Batch and scale sets), or an image resource id",
          imageReference,
        ),
      )
      .addOption(
        typedOption(
          '--image-id <ID>',
          'a custom image: an Azure Compute Gallery image version resource id',
          (v) => v,
        ).conflicts('image'),
      )
      .addOption(
        typedOption(
          '--node-agent-sku <SKU>',
          'Batch: the node agent matching the image, e.g. "batch.node.ubuntu 22.04"',
          (v) => v,
        ),
      )
      .addOption(
        typedOption('--subnet <ID>', 'subnet resource id the nodes join (Batch pool or scale set)', (v) => v),
      )
      .addOption(
        typedOption(
          '--resource-group <RG>',
          "scale set's resource group (default: the service's workerBurst.resourceGroup)",
          (v) => v,
        ),
      )
      .addOption(
        typedOption(
          '--location <REGION>',
          "scale set's region, e.g. westeurope (default: the service's workerBurst.location)",
          (v) => v,
        ),
      )
      .addOption(
        typedOption(
          '--render-manager <RM>',
          'worker burst: the farm instances join, deadline or opencue',
          oneOf(['deadline', 'opencue'] as const),
        ),
      )
      .addOption(
        typedOption(
          '--farm-address <ADDR>',
          'worker burst: Deadline repository or RCS address, or Cuebot host:port',
          (v) => v,
        ),
      )
      .addOption(
        typedOption(
          '--farm-group <G>',
          'worker burst: a Deadline group / OpenCue tag the workers advertise (repeatable); the plan shrinks the group only for reports of these',
          repeatable,
        ),
      )
      .addOption(
        typedOption(
          '--farm-pool <P>',
          'worker burst: a Deadline pool the workers serve (repeatable)',
          repeatable,
        ),
      )
      .addOption(
        typedOption(
          '--license-server <HOST:PORT=VAR,...>',
          "a licence server the renderers need, and the variables set to port@host on every task (e.g. lic:5053=solidangle_LICENSE); checked from a node before the group's first frame; repeatable",
          licenseServer,
        ),
      )
      .addOption(
        typedOption(
          '--mount <NAME=KIND:SOURCE;...>',
          'a file system every node mounts, found by tasks in SPILLWAY_MOUNT_<NAME>: KIND azure-blob, azure-files, azure-files-nfs, nfs or cifs; keys path=REL, options=OPTS, cred=REF (a file:, Key Vault or identity: reference, never a secret), user=U, writable, cache-timeout=S, cache-max-mb=M; e.g. projects=nfs:nas:/export/projects;writable (repeatable; checked from a node before the first frame)',
          mount,
        ),
      )
      .addOption(
        typedOption(
          '--gpus <N>',
          'GPUs per node (default: from an N-series VM size, else none)',
          wholeNumber({ max: 16 }),
        ),
      )
      .addOption(
        typedOption(
          '--gpu-device <API>',
          'device API of GPU renderers (default CUDA)',
          oneOf(['CUDA', 'OPTIX', 'HIP'] as const),
        ),
      )
      .addOption(typedOption('--facility <F>', 'worker burst: OpenCue facility', (v) => v))
      .addOption(
        typedOption(
          '--secret-ref <REF>',
          'worker burst: secret-store reference for farm credentials (never the secret itself)',
          (v) => v,
        ),
      )
      .addOption(
        typedOption(
          '--startup-command <CMD>',
          "worker burst: replaces the render manager's default start-up command",
          (v) => v,
        ),
      )
      .addHelpText(
        'after',
        `
A field the service refuses is named with the flag that sets it; a create that would take the
studio over budget.maxSpendPerHour is refused, naming the cap and the cost.

Examples:
  spillway pools create nightly --vm-size Standard_D16as_v5 --backend batch \\
      --image canonical:0001-com-ubuntu-server-jammy:22_04-lts --node-agent-sku "batch.node.ubuntu 22.04" \\
      --slots 1 --max-spot 50 --dedicated-price 0.77 --spot-price 0.15
  spillway pools create cloud-workers --mode worker-burst --vm-size Standard_D16as_v5 \\
      --image canonical:ubuntu-24_04-lts:server --location westeurope --max-spot 20 \\
      --render-manager deadline --farm-address rcs.studio.internal:4433 --farm-group cloud`,
      ),
  ).action(
    exits(async (name, opts) => {
      if ((opts.dedicatedPrice === undefined) !== (opts.spotPrice === undefined)) {
        const missing = opts.dedicatedPrice === undefined ? '--dedicated-price' : '--spot-price';
        throw new UsageError('--dedicated-price and --spot-price go together', missing);
      }
      const startup = [
        opts.farmAddress,
        opts.farmGroup,
        opts.farmPool,
        opts.facility,
        opts.secretRef,
        opts.startupCommand,
      ];
      if (opts.renderManager === undefined && startup.some((v) => v !== undefined))
        throw new UsageError(
          '--render-manager is required with the worker start-up flags',
          '--render-manager',
        );
      if (opts.mode !== 'worker-burst' && opts.renderManager !== undefined)
        throw new UsageError(
          '--render-manager and the worker start-up flags are for --mode worker-burst',
          '--mode',
        );
      let image: CapacityImage | undefined =
        opts.image ?? (opts.imageId !== undefined ? { virtualMachineImageId: opts.imageId } : undefined);
      if (opts.nodeAgentSku !== undefined) image = { ...image, nodeAgentSkuId: opts.nodeAgentSku };
      const client = connect(opts);
      try {
        const { group, created } = await client.capacity
          .ensure({
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
            ...(image ? { image } : {}),
            ...(opts.licenseServer ? { licenseServers: opts.licenseServer } : {}),
            ...(opts.mount ? { mounts: opts.mount } : {}),
            ...(opts.gpus !== undefined || opts.gpuDevice !== undefined
              ? {
                  gpu: {
                    ...(opts.gpus !== undefined ? { count: opts.gpus } : {}),
                    ...(opts.gpuDevice ? { device: opts.gpuDevice } : {}),
                  },
                }
              : {}),
            ...(opts.subnet ? { subnetId: opts.subnet } : {}),
            ...(opts.resourceGroup ? { resourceGroup: opts.resourceGroup } : {}),
            ...(opts.location ? { location: opts.location } : {}),
            ...(opts.renderManager
              ? {
                  workerStartup: {
                    renderManager: opts.renderManager,
                    farmAddress: opts.farmAddress ?? '',
                    groups: names(opts.farmGroup),
                    pools: names(opts.farmPool),
                    ...(opts.facility ? { facility: opts.facility } : {}),
                    ...(opts.secretRef ? { secretReference: opts.secretRef } : {}),
                    ...(opts.startupCommand ? { command: opts.startupCommand } : {}),
                  },
                }
              : {}),
          })
          .catch((err: unknown) => {
            throw withFlag(err);
          });
        if (opts.json) printJson({ created, group });
        else
          console.log(
            `${created ? 'created' : 'reconciled'} ${group.name} (${group.mode ?? '?'}, ${group.backend ?? '?'}, ${group.vmSize})`,
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
      .description(
        "set a group's target node counts by hand: they become its pinned floors, the burst plan never sizes the group below them (resize to 0 and 0 to hand it back to the plan); a resize that would take the studio over budget.maxSpendPerHour is refused",
      )
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
