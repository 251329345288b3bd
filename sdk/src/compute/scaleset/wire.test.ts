import { ValidationError } from '../../errors';
import { BurstMode } from '../../gen/spillway/v1/common';
import { CapacityGroupSpec } from '../../gen/spillway/v1/capacity';
import { validateScaleSetSpec } from './spec';
import { scaleSetSpecFromWire } from './wire';

const wire = (json: Record<string, unknown>): CapacityGroupSpec =>
  CapacityGroupSpec.fromJSON({
    name: 'burst',
    mode: BurstMode.BURST_MODE_WORKER_BURST,
    vmSize: 'Standard_D16as_v5',
    maxSpotNodes: 8,
    image: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server' },
    scaleSet: {
      resourceGroup: 'render-rg',
      location: 'westeurope',
      evictionPolicy: 'EVICTION_POLICY_DEALLOCATE',
      workerStartup: {
        renderManager: 'RENDER_MANAGER_OPENCUE',
        farmAddress: 'cuebot:8443',
        groups: ['cloud'],
        facility: 'azure',
      },
    },
    ...json,
  });

describe('scaleSetSpecFromWire', () => {
  it('maps a worker-burst wire spec, proto defaults becoming "not set"', () => {
    // GIVEN a wire spec WHEN mapped THEN the backend spec, which validates
    const spec = scaleSetSpecFromWire(wire({}));
    expect(spec).toMatchObject({
      name: 'burst',
      priority: 'Spot',
      evictionPolicy: 'Deallocate',
      maxPrice: -1,
      resourceGroup: 'render-rg',
      location: 'westeurope',
      image: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server' },
      workerStartup: {
        renderManager: 'opencue',
        farmAddress: 'cuebot:8443',
        groups: ['cloud'],
        facility: 'azure',
      },
    });
    expect(spec.subnetId).toBeUndefined();
    expect(spec.workerStartup.command).toBeUndefined();
    expect(() => validateScaleSetSpec(spec)).not.toThrow();
  });

  it('makes a Regular set when there are no spot nodes', () => {
    const spec = scaleSetSpecFromWire(wire({ maxSpotNodes: 0, maxDedicatedNodes: 3 }));
    expect(spec.priority).toBe('Regular');
    expect(spec.evictionPolicy).toBeUndefined();
    expect(() => validateScaleSetSpec(spec)).not.toThrow();
  });

  // GIVEN a wire spec missing scale-set settings WHEN mapped and validated THEN the field is named
  it.each<[string, Record<string, unknown>, string]>([
    ['no scale set options', { scaleSet: undefined }, 'spec.resourceGroup'],
    [
      'no render manager',
      { scaleSet: { resourceGroup: 'rg', location: 'westeurope', workerStartup: { farmAddress: 'x' } } },
      'spec.workerStartup.renderManager',
    ],
  ])('%s', (_what, json, field) => {
    const err = (() => {
      try {
        validateScaleSetSpec(scaleSetSpecFromWire(wire(json)));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(field);
  });
});
