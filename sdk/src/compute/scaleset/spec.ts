/**
 * The capacity-group spec of a VM Scale Set, its validation, and the ARM model built
 * from it. Pure functions: nothing here touches the network.
 */
import { GROUP_NAME } from '../../model/validate';
import type { VirtualMachineScaleSet } from '@azure/arm-compute';
import { ValidationError } from '../../errors';
import type { GroupSpec, ResizeTarget } from '../backend';
import { renderMountCommands } from '../../storage/mounts';
import {
  encodeCustomData,
  looksLikeSecret,
  renderWorkerStartup,
  validateWorkerStartup,
  type WorkerStartup,
} from './startup';

/** What happens to an evicted Spot instance. */
export type EvictionPolicy = 'Delete' | 'Deallocate';

/** A scale set's pricing class: every instance of one scale set has the same. */
export type ScaleSetPriority = 'Spot' | 'Regular';

/** A worker-burst capacity group: `GroupSpec` plus proto `spillway.v1.ScaleSetOptions`. */
export interface ScaleSetGroupSpec extends GroupSpec {
  /** Azure resource group holding the scale set. */
  readonly resourceGroup: string;
  /** Azure region, e.g. `westeurope`. */
  readonly location: string;
  /** Subnet resource id the instances join (must reach the farm). @default none (the emulator needs none) */
  readonly subnetId?: string;
  /** @default 'Spot' when maxSpotNodes > 0, else 'Regular' */
  readonly priority?: ScaleSetPriority;
  /** What happens to an evicted Spot instance. @default 'Delete' */
  readonly evictionPolicy?: EvictionPolicy;
  /** Maximum Spot price per hour; -1 pays up to the on-demand price. @default -1 */
  readonly maxPrice?: number;
  /** How instances join the farm: rendered into the custom data. */
  readonly workerStartup: WorkerStartup;
  /** Instances to start with. @default 0 */
  readonly capacity?: number;
  /** Admin user of the instances. @default 'spillway' */
  readonly adminUsername?: string;
  /** SSH public key for the admin user (Linux images). @default none (password login stays disabled) */
  readonly sshPublicKey?: string;
}

const NAME = GROUP_NAME;
const EVICTION_POLICIES: readonly string[] = ['Delete', 'Deallocate'];
const PRIORITIES: readonly string[] = ['Spot', 'Regular'];

/** The priority a spec resolves to. */
export function priorityOf(spec: Pick<ScaleSetGroupSpec, 'priority' | 'maxSpotNodes'>): ScaleSetPriority {
  return spec.priority ?? (spec.maxSpotNodes > 0 ? 'Spot' : 'Regular');
}

/** The instance count a spec allows: its priority's maximum. */
export function maxCapacityOf(
  spec: Pick<ScaleSetGroupSpec, 'priority' | 'maxSpotNodes' | 'maxDedicatedNodes'>,
): number {
  return priorityOf(spec) === 'Spot' ? spec.maxSpotNodes : spec.maxDedicatedNodes;
}

function nonNegativeInteger(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new ValidationError(field, value, 'must be a whole number, 0 or more');
  }
}

/**
 * Validates a spec: every field the scale set needs, the capacity against the group
 * maximum, the eviction policy, and the custom data (size and secrets). Returns the
 * base64 custom data so it is rendered once.
 */
export function validateScaleSetSpec(spec: ScaleSetGroupSpec): { customData: string } {
  if (typeof spec.name !== 'string' || !NAME.test(spec.name)) {
    throw new ValidationError(
      'spec.name',
      spec.name,
      'must be 1-64 characters of a-z 0-9 -, starting with a letter',
    );
  }
  if (typeof spec.vmSize !== 'string' || spec.vmSize.trim() === '') {
    throw new ValidationError('spec.vmSize', spec.vmSize, 'must name a VM size, e.g. Standard_D16as_v5');
  }
  if (typeof spec.resourceGroup !== 'string' || !/^[-\w._()]{1,90}$/.test(spec.resourceGroup)) {
    throw new ValidationError(
      'spec.resourceGroup',
      spec.resourceGroup,
      'must be 1-90 characters of letters, digits, - _ . ( )',
    );
  }
  if (typeof spec.location !== 'string' || !/^[a-z0-9]+$/.test(spec.location)) {
    throw new ValidationError(
      'spec.location',
      spec.location,
      'must be an Azure region name such as "westeurope"',
    );
  }
  nonNegativeInteger('spec.maxDedicatedNodes', spec.maxDedicatedNodes);
  nonNegativeInteger('spec.maxSpotNodes', spec.maxSpotNodes);
  if (spec.priority !== undefined && !PRIORITIES.includes(spec.priority)) {
    throw new ValidationError('spec.priority', spec.priority, 'must be "Spot" or "Regular"');
  }
  if (spec.evictionPolicy !== undefined && !EVICTION_POLICIES.includes(spec.evictionPolicy)) {
    throw new ValidationError('spec.evictionPolicy', spec.evictionPolicy, 'must be "Delete" or "Deallocate"');
  }
  if (spec.evictionPolicy !== undefined && priorityOf(spec) !== 'Spot') {
    throw new ValidationError('spec.evictionPolicy', spec.evictionPolicy, 'applies to Spot scale sets only');
  }
  if (spec.maxPrice !== undefined) {
    const ok =
      typeof spec.maxPrice === 'number' &&
      (spec.maxPrice === -1 || (Number.isFinite(spec.maxPrice) && spec.maxPrice > 0));
    if (!ok)
      throw new ValidationError(
        'spec.maxPrice',
        spec.maxPrice,
        'must be -1 (up to the on-demand price) or a price above 0',
      );
    if (priorityOf(spec) !== 'Spot')
      throw new ValidationError('spec.maxPrice', spec.maxPrice, 'applies to Spot scale sets only');
  }
  const max = maxCapacityOf(spec);
  if (max === 0) {
    const field = priorityOf(spec) === 'Spot' ? 'spec.maxSpotNodes' : 'spec.maxDedicatedNodes';
    throw new ValidationError(field, 0, `must be above 0 for a ${priorityOf(spec)} scale set`);
  }
  if (spec.capacity !== undefined) {
    nonNegativeInteger('spec.capacity', spec.capacity);
    if (spec.capacity > max) {
      throw new ValidationError('spec.capacity', spec.capacity, `is above the group maximum of ${max}`);
    }
  }
  if (
    spec.resizeTimeoutMs !== undefined &&
    (!Number.isInteger(spec.resizeTimeoutMs) || spec.resizeTimeoutMs <= 0)
  ) {
    throw new ValidationError(
      'spec.resizeTimeoutMs',
      spec.resizeTimeoutMs,
      'must be a whole number of milliseconds above 0',
    );
  }
  if (
    spec.subnetId !== undefined &&
    !/^\/subscriptions\/[^/]+\/resourceGroups\/.+\/subnets\/[^/]+$/i.test(spec.subnetId)
  ) {
    throw new ValidationError(
      'spec.subnetId',
      spec.subnetId,
      'must be a subnet resource id (/subscriptions/.../subnets/<name>)',
    );
  }
  if (
    spec.image === undefined ||
    (spec.image.virtualMachineImageId === undefined &&
      (spec.image.publisher === undefined || spec.image.offer === undefined || spec.image.sku === undefined))
  ) {
    throw new ValidationError(
      'spec.image',
      spec.image,
      'needs publisher, offer and sku, or virtualMachineImageId',
    );
  }
  if (spec.sshPublicKey !== undefined && !/^(ssh-(rsa|ed25519)|ecdsa-sha2-\S+) /.test(spec.sshPublicKey)) {
    throw new ValidationError('spec.sshPublicKey', spec.sshPublicKey, 'must be an OpenSSH public key line');
  }
  if (spec.startTaskCommand !== undefined && looksLikeSecret(spec.startTaskCommand)) {
    throw new ValidationError(
      'spec.startTaskCommand',
      '<redacted>',
      'looks like a credential; name a secret-store reference instead',
    );
  }
  if (spec.workerStartup === undefined || spec.workerStartup === null) {
    throw new ValidationError(
      'spec.workerStartup',
      spec.workerStartup,
      'is required: it says how instances join the farm',
    );
  }
  validateWorkerStartup(spec.workerStartup, 'spec.workerStartup');
  // The group's mounts are mounted before the worker starts, and named in its environment.
  const before = renderMountCommands(spec.mounts ?? []);
  const script = renderWorkerStartup(spec.workerStartup, {
    before,
    evictionNotice: priorityOf(spec) === 'Spot',
  });
  return { customData: encodeCustomData(script, 'spec.workerStartup') };
}

/** Checks a resize target against the spec and returns the scale set capacity. */
export function capacityForTarget(
  spec: Pick<ScaleSetGroupSpec, 'priority' | 'maxSpotNodes' | 'maxDedicatedNodes'>,
  target: ResizeTarget,
): number {
  nonNegativeInteger('target.dedicated', target.dedicated);
  nonNegativeInteger('target.spot', target.spot);
  const spot = priorityOf(spec) === 'Spot';
  const [wanted, other, otherField] = spot
    ? [target.spot, target.dedicated, 'target.dedicated']
    : [target.dedicated, target.spot, 'target.spot'];
  if (other !== 0) {
    throw new ValidationError(
      otherField,
      other,
      `must be 0: this scale set is ${spot ? 'Spot' : 'Regular'} priority`,
    );
  }
  const max = maxCapacityOf(spec);
  if (wanted > max) {
    throw new ValidationError(
      spot ? 'target.spot' : 'target.dedicated',
      wanted,
      `is above the group maximum of ${max}`,
    );
  }
  return wanted;
}

/** The tag that marks a scale set as a Spillway capacity group. */
export const GROUP_TAG = 'spillway-group';

/** The ARM model of a validated spec. */
export function toScaleSetModel(
  spec: ScaleSetGroupSpec,
  customData: string,
  capacity: number,
): VirtualMachineScaleSet {
  const priority = priorityOf(spec);
  const image = spec.image!;
  return {
    location: spec.location,
    tags: { [GROUP_TAG]: spec.name },
    sku: { name: spec.vmSize, tier: 'Standard', capacity },
    orchestrationMode: 'Uniform',
    overprovision: false,
    upgradePolicy: { mode: 'Manual' },
    virtualMachineProfile: {
      priority,
      ...(priority === 'Spot'
        ? {
            evictionPolicy: spec.evictionPolicy ?? 'Delete',
            billingProfile: { maxPrice: spec.maxPrice ?? -1 },
          }
        : {}),
      osProfile: {
        computerNamePrefix: spec.name.slice(0, 9),
        adminUsername: spec.adminUsername ?? 'spillway',
        customData,
        linuxConfiguration: {
          disablePasswordAuthentication: true,
          ...(spec.sshPublicKey !== undefined
            ? {
                ssh: {
                  publicKeys: [
                    {
                      path: `/home/${spec.adminUsername ?? 'spillway'}/.ssh/authorized_keys`,
                      keyData: spec.sshPublicKey,
                    },
                  ],
                },
              }
            : {}),
        },
      },
      storageProfile: {
        imageReference:
          image.virtualMachineImageId !== undefined
            ? { id: image.virtualMachineImageId }
            : {
                publisher: image.publisher,
                offer: image.offer,
                sku: image.sku,
                version: image.version ?? 'latest',
              },
        osDisk: {
          createOption: 'FromImage',
          caching: 'ReadOnly',
          managedDisk: { storageAccountType: 'Standard_LRS' },
        },
      },
      ...(spec.subnetId !== undefined
        ? {
            networkProfile: {
              networkInterfaceConfigurations: [
                {
                  name: `${spec.name}-nic`,
                  primary: true,
                  ipConfigurations: [{ name: `${spec.name}-ip`, subnet: { id: spec.subnetId } }],
                },
              ],
            },
          }
        : {}),
    },
  };
}
