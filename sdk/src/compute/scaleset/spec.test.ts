import { ValidationError } from '../../errors';
import {
  capacityForTarget,
  GROUP_TAG,
  toScaleSetModel,
  validateScaleSetSpec,
  type ScaleSetGroupSpec,
} from './spec';

const spec: ScaleSetGroupSpec = {
  name: 'burst',
  vmSize: 'Standard_D16as_v5',
  maxDedicatedNodes: 0,
  maxSpotNodes: 10,
  image: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server' },
  resourceGroup: 'render-rg',
  location: 'westeurope',
  workerStartup: { renderManager: 'deadline', farmAddress: '/mnt/repo' },
};

function errorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return e;
    throw e;
  }
  throw new Error('expected a ValidationError');
}

describe('validateScaleSetSpec', () => {
  it('accepts a minimal Spot spec and renders its custom data', () => {
    const { customData } = validateScaleSetSpec(spec);
    expect(Buffer.from(customData, 'base64').toString('utf8')).toContain(
      '-ChangeRepository Direct /mnt/repo',
    );
  });

  // GIVEN one bad field WHEN validated THEN the error names it and quotes the value
  it.each<[string, Partial<ScaleSetGroupSpec>, string, string]>([
    ['name', { name: 'Burst_1' }, 'spec.name', '"Burst_1"'],
    ['vm size', { vmSize: '' }, 'spec.vmSize', '""'],
    ['resource group', { resourceGroup: 'a/b' }, 'spec.resourceGroup', '"a/b"'],
    ['location', { location: 'West Europe' }, 'spec.location', '"West Europe"'],
    ['eviction policy', { evictionPolicy: 'Stop' as 'Delete' }, 'spec.evictionPolicy', '"Stop"'],
    [
      'eviction policy on Regular',
      { priority: 'Regular', maxDedicatedNodes: 2, evictionPolicy: 'Delete' },
      'spec.evictionPolicy',
      '"Delete"',
    ],
    ['priority', { priority: 'Low' as 'Spot' }, 'spec.priority', '"Low"'],
    ['max price', { maxPrice: 0 }, 'spec.maxPrice', '0'],
    ['capacity above max', { capacity: 11 }, 'spec.capacity', '11'],
    ['fractional capacity', { capacity: 1.5 }, 'spec.capacity', '1.5'],
    ['no spot nodes for a Spot set', { priority: 'Spot', maxSpotNodes: 0 }, 'spec.maxSpotNodes', '0'],
    ['subnet', { subnetId: 'my-subnet' }, 'spec.subnetId', '"my-subnet"'],
    ['image', { image: { publisher: 'Canonical' } }, 'spec.image', '{"publisher":"Canonical"}'],
    ['resize timeout', { resizeTimeoutMs: 0 }, 'spec.resizeTimeoutMs', '0'],
    ['ssh key', { sshPublicKey: 'hello' }, 'spec.sshPublicKey', '"hello"'],
    [
      'farm address',
      { workerStartup: { renderManager: 'opencue', farmAddress: '' } },
      'spec.workerStartup.farmAddress',
      '""',
    ],
    [
      'secret in command',
      {
        workerStartup: {
          renderManager: 'opencue',
          farmAddress: 'cue:8443',
          command: 'run --password=hunter2',
        },
      },
      'spec.workerStartup.command',
      '"<redacted>"',
    ],
  ])('refuses a bad %s', (_what, change, field, quoted) => {
    const err = errorOf(() => validateScaleSetSpec({ ...spec, ...change }));
    expect(err.field).toBe(field);
    expect(err.message.startsWith(`${field}: `)).toBe(true);
    expect(err.message).toContain(`(got ${quoted}`);
    expect(err.message).not.toContain('hunter2');
  });
});

describe('capacityForTarget', () => {
  const spot = { priority: 'Spot' as const, maxSpotNodes: 5, maxDedicatedNodes: 0 };
  const regular = { priority: 'Regular' as const, maxSpotNodes: 0, maxDedicatedNodes: 3 };
  // GIVEN a target WHEN checked against the group THEN the capacity, or the field at fault
  it.each<[string, typeof spot | typeof regular, { dedicated: number; spot: number }, number | string]>([
    ['spot in range', spot, { dedicated: 0, spot: 5 }, 5],
    ['spot zero', spot, { dedicated: 0, spot: 0 }, 0],
    [
      'spot above max',
      spot,
      { dedicated: 0, spot: 6 },
      'target.spot: is above the group maximum of 5 (got 6)',
    ],
    [
      'dedicated on a spot set',
      spot,
      { dedicated: 1, spot: 1 },
      'target.dedicated: must be 0: this scale set is Spot priority (got 1)',
    ],
    ['regular in range', regular, { dedicated: 3, spot: 0 }, 3],
    [
      'regular above max',
      regular,
      { dedicated: 4, spot: 0 },
      'target.dedicated: is above the group maximum of 3 (got 4)',
    ],
    [
      'negative',
      regular,
      { dedicated: -1, spot: 0 },
      'target.dedicated: must be a whole number, 0 or more (got -1)',
    ],
  ])('%s', (_what, group, target, expected) => {
    if (typeof expected === 'number') expect(capacityForTarget(group, target)).toBe(expected);
    else expect(errorOf(() => capacityForTarget(group, target)).message).toBe(expected);
  });
});

describe('toScaleSetModel', () => {
  it('builds a Spot scale set with eviction policy, max price, custom data, subnet and the group tag', () => {
    const model = toScaleSetModel(
      {
        ...spec,
        evictionPolicy: 'Deallocate',
        subnetId:
          '/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/render',
      },
      'ZWNobw==',
      3,
    );
    expect(model.sku).toEqual({ name: 'Standard_D16as_v5', tier: 'Standard', capacity: 3 });
    expect(model.tags).toEqual({ [GROUP_TAG]: 'burst' });
    expect(model.virtualMachineProfile).toMatchObject({
      priority: 'Spot',
      evictionPolicy: 'Deallocate',
      billingProfile: { maxPrice: -1 },
      osProfile: {
        customData: 'ZWNobw==',
        adminUsername: 'spillway',
        linuxConfiguration: { disablePasswordAuthentication: true },
      },
      storageProfile: {
        imageReference: {
          publisher: 'Canonical',
          offer: 'ubuntu-24_04-lts',
          sku: 'server',
          version: 'latest',
        },
      },
    });
    expect(
      model.virtualMachineProfile?.networkProfile?.networkInterfaceConfigurations?.[0]?.ipConfigurations?.[0]
        ?.subnet?.id,
    ).toContain('/subnets/render');
  });

  it('builds a Regular scale set without Spot settings', () => {
    const model = toScaleSetModel(
      {
        ...spec,
        priority: 'Regular',
        maxDedicatedNodes: 2,
        image: { virtualMachineImageId: '/subscriptions/s/images/worker' },
      },
      'eA==',
      0,
    );
    expect(model.virtualMachineProfile?.priority).toBe('Regular');
    expect(model.virtualMachineProfile?.evictionPolicy).toBeUndefined();
    expect(model.virtualMachineProfile?.billingProfile).toBeUndefined();
    expect(model.virtualMachineProfile?.storageProfile?.imageReference).toEqual({
      id: '/subscriptions/s/images/worker',
    });
  });
});
