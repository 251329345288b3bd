/**
 * The wire spec (`spillway.v1.CapacityGroupSpec` with `ScaleSetOptions`) as the scale-set
 * backend's spec. Pure: proto3 defaults (empty strings, 0) become "not set", unknown enum
 * values are kept so validation names them.
 */
import {
  EvictionPolicy as WireEvictionPolicy,
  RenderManager as WireRenderManager,
  type CapacityGroupSpec,
} from '../../gen/spillway/v1/capacity';
import type { EvictionPolicy, ScaleSetGroupSpec } from './spec';
import type { RenderManager } from './startup';
import { durationFromWire } from '../../model/wire-mapping';
import type { GroupSpec } from '../backend';

const set = (s: string | undefined): string | undefined => (s === undefined || s === '' ? undefined : s);

function evictionPolicyOf(value: WireEvictionPolicy): EvictionPolicy | undefined {
  switch (value) {
    case WireEvictionPolicy.EVICTION_POLICY_UNSPECIFIED:
      return undefined;
    case WireEvictionPolicy.EVICTION_POLICY_DELETE:
      return 'Delete';
    case WireEvictionPolicy.EVICTION_POLICY_DEALLOCATE:
      return 'Deallocate';
    default:
      return String(value) as EvictionPolicy; // refused by validation, naming the field
  }
}

function renderManagerOf(value: WireRenderManager): RenderManager {
  switch (value) {
    case WireRenderManager.RENDER_MANAGER_DEADLINE:
      return 'deadline';
    case WireRenderManager.RENDER_MANAGER_OPENCUE:
      return 'opencue';
    default:
      return String(WireRenderManager[value] ?? value) as RenderManager; // refused by validation
  }
}

/** What every backend's group spec takes from a wire spec: name, size, slots, maxima, resize timeout. */
export function groupBasicsFromWire(
  spec: CapacityGroupSpec,
): Pick<
  GroupSpec,
  'name' | 'vmSize' | 'taskSlotsPerNode' | 'maxDedicatedNodes' | 'maxSpotNodes' | 'resizeTimeoutMs'
> {
  const resizeTimeoutMs = durationFromWire(spec.resizeTimeout);
  return {
    name: spec.name,
    vmSize: spec.vmSize,
    taskSlotsPerNode: spec.taskSlotsPerNode || 1,
    maxDedicatedNodes: spec.maxDedicatedNodes,
    maxSpotNodes: spec.maxSpotNodes,
    ...(resizeTimeoutMs ? { resizeTimeoutMs } : {}),
  };
}

/** The scale-set backend's spec for a worker-burst wire spec. Validate it with `validateScaleSetSpec`. */
export function scaleSetSpecFromWire(spec: CapacityGroupSpec): ScaleSetGroupSpec {
  const options = spec.scaleSet;
  const startup = options?.workerStartup;
  const image = spec.image;
  const evictionPolicy = options ? evictionPolicyOf(options.evictionPolicy) : undefined;
  const subnetId = set(options?.subnetId);
  const spot = spec.maxSpotNodes > 0;
  return {
    ...groupBasicsFromWire(spec),
    ...(image
      ? {
          image: Object.fromEntries(
            Object.entries(image).filter(([, v]) => typeof v === 'string' && v !== ''),
          ) as ScaleSetGroupSpec['image'],
        }
      : {}),
    resourceGroup: options?.resourceGroup ?? '',
    location: options?.location ?? '',
    ...(subnetId !== undefined ? { subnetId } : {}),
    priority: spot ? 'Spot' : 'Regular',
    ...(spot && evictionPolicy !== undefined ? { evictionPolicy } : {}),
    ...(spot ? { maxPrice: options?.maxPrice ? options.maxPrice : -1 } : {}),
    workerStartup: {
      renderManager: startup ? renderManagerOf(startup.renderManager) : ('' as RenderManager),
      farmAddress: startup?.farmAddress ?? '',
      groups: startup?.groups ?? [],
      pools: startup?.pools ?? [],
      ...(set(startup?.facility) !== undefined ? { facility: startup!.facility } : {}),
      ...(set(startup?.secretReference) !== undefined ? { secretReference: startup!.secretReference } : {}),
      ...(set(startup?.command) !== undefined ? { command: startup!.command } : {}),
    },
  };
}
