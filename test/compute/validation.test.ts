import { parseFrameRange, ValidationError } from '@spillway/sdk';
import {
  BatchComputeBackend,
  type ComputeBackend,
  type GroupSpec,
  LocalComputeBackend,
} from '@spillway/sdk/compute';
import { startBatchEmulator, type BatchEmulator } from '@spillway/sdk/emulate';

const IMAGE = {
  publisher: 'canonical',
  offer: 'ubuntu',
  sku: '22_04',
  nodeAgentSkuId: 'batch.node.ubuntu 22.04',
};
const GOOD: GroupSpec = {
  name: 'render',
  vmSize: 'Standard_D2as_v5',
  maxDedicatedNodes: 2,
  maxSpotNodes: 2,
  image: IMAGE,
};

/** Bad inputs: each must fail with a ValidationError naming the field and carrying the value. */
const CASES: [string, (b: ComputeBackend) => Promise<unknown>, string, unknown][] = [
  ['an empty frame range', async () => parseFrameRange(''), 'frames', ''],
  ['a reversed frame range', async () => parseFrameRange('1-100,90-10'), 'frames', '1-100,90-10'],
  [
    'a task id with a space',
    (b) => b.addTasks('shot', [{ id: 'frame 1', commandLine: 'true' }]),
    'tasks[0].id',
    'frame 1',
  ],
  [
    'a task id of 65 characters',
    (b) => b.addTasks('shot', [{ id: 'f'.repeat(65), commandLine: 'true' }]),
    'tasks[0].id',
    'f'.repeat(65),
  ],
  [
    'task ids equal but for case',
    (b) =>
      b.addTasks('shot', [
        { id: 'Frame-1', commandLine: 'true' },
        { id: 'frame-1', commandLine: 'true' },
      ]),
    'tasks[1].id',
    'frame-1',
  ],
  [
    'a command over the size limit',
    (b) => b.addTasks('shot', [{ id: 'f1', commandLine: 'x'.repeat(8192) }]),
    'tasks[0].commandLine',
    'x'.repeat(8192),
  ],
  [
    'an empty command',
    (b) => b.addTasks('shot', [{ id: 'f1', commandLine: ' ' }]),
    'tasks[0].commandLine',
    ' ',
  ],
  ['a job id with a slash', (b) => b.createJob({ id: 'shot/010', group: 'render' }), 'job.id', 'shot/010'],
  [
    'a pool spec with a negative count',
    (b) => b.ensureGroup({ ...GOOD, maxDedicatedNodes: -1 }),
    'group.maxDedicatedNodes',
    -1,
  ],
  [
    'a pool spec with zero task slots',
    (b) => b.ensureGroup({ ...GOOD, taskSlotsPerNode: 0 }),
    'group.taskSlotsPerNode',
    0,
  ],
  ['a pool name with capitals', (b) => b.ensureGroup({ ...GOOD, name: 'Render' }), 'group.name', 'Render'],
  [
    'a negative resize target',
    (b) => b.resizeGroup('render', { dedicated: -2, spot: 0 }),
    'target.dedicated',
    -2,
  ],
  [
    'a fractional resize target',
    (b) => b.resizeGroup('render', { dedicated: 0, spot: 1.5 }),
    'target.spot',
    1.5,
  ],
];

describe.each(['batch', 'local'] as const)('bad input to the %s backend', (kind) => {
  let emu: BatchEmulator;
  let backend: ComputeBackend;
  beforeAll(async () => {
    emu = await startBatchEmulator();
    backend =
      kind === 'batch'
        ? new BatchComputeBackend({
            accountUrl: emu.url,
            credential: { accountName: emu.accountName, accountKey: emu.accountKey },
          })
        : new LocalComputeBackend();
  });
  afterAll(async () => {
    await backend.close();
    await emu.close();
  });

  it.each(CASES)(
    'GIVEN %s WHEN it is used THEN a ValidationError names the field and value, before any request',
    async (_what, act, field, value) => {
      const before = emu.records.requests;
      const err = await act(backend).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ValidationError);
      expect(err).toMatchObject({ field, value, code: 'INVALID_ARGUMENT' });
      expect((err as Error).message.startsWith(`${field}:`)).toBe(true);
      expect(emu.records.requests).toBe(before);
    },
  );

  if (kind === 'batch') {
    it('GIVEN a pool spec without an image WHEN ensured on Batch THEN the image is named as missing, before any request', async () => {
      const err = await backend.ensureGroup({ ...GOOD, image: undefined }).catch((e: unknown) => e);
      expect(err).toMatchObject({ field: 'group.image' });
      expect(emu.records.requests).toBe(0);
    });
  }
});
