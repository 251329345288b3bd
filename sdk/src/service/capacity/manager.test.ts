import { toWirePool } from '../../compute/batch/wire';
import { CapacityGroupSpec, RenderManager } from '../../gen/spillway/v1/capacity';
import { BurstMode } from '../../gen/spillway/v1/common';
import { involves, toBackendSpec, type PlanContext } from './manager';

const SUBNET =
  '/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/studio/subnets/render';

describe('toBackendSpec', () => {
  it('takes a Batch group’s subnet into the pool’s network configuration', () => {
    const spec = CapacityGroupSpec.fromPartial({
      name: 'nightly',
      mode: BurstMode.BURST_MODE_FRAME_OFFLOAD,
      vmSize: 'Standard_D4as_v5',
      maxSpotNodes: 4,
      image: { publisher: 'canonical', offer: 'o', sku: 's', nodeAgentSkuId: 'batch.node.ubuntu 22.04' },
      batchPool: { subnetId: SUBNET },
    });
    expect(toBackendSpec(spec).subnetId).toBe(SUBNET);
    expect(toWirePool(toBackendSpec(spec)).networkConfiguration).toEqual({ subnetId: SUBNET });
  });
});

describe('involves', () => {
  const spec = CapacityGroupSpec.fromPartial({
    name: 'cloud-workers',
    mode: BurstMode.BURST_MODE_WORKER_BURST,
    scaleSet: {
      workerStartup: {
        renderManager: RenderManager.RENDER_MANAGER_DEADLINE,
        groups: ['cloud', ''],
        pools: ['burst'],
      },
    },
  });
  // GIVEN a worker-burst group serving Deadline group "cloud" and pool "burst" WHEN a
  // report names these farm or capacity groups THEN it involves the group
  it.each<[string, Partial<PlanContext>, boolean]>([
    ['a job in its Deadline group', { farmGroups: ['cloud'] }, true],
    ['a job in its pool', { farmGroups: ['burst'] }, true],
    ['a job naming it as capacity group', { capacityGroups: ['cloud-workers'] }, true],
    ['another farm group only', { farmGroups: ['lighting'], capacityGroups: ['default'] }, false],
    ['the whole farm, unnamed', { farmGroups: [] }, false],
  ])('%s', (_what, context, expected) => {
    expect(involves(spec, { source: 's', capacityGroups: [], farmGroups: [], ...context })).toBe(expected);
  });
});
