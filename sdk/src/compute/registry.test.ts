import { FailedPreconditionError, NotFoundError, ValidationError } from '../errors';
import { BackendKind, CapacityGroupSpec } from '../gen/spillway/v1/capacity';
import { BurstMode } from '../gen/spillway/v1/common';
import type { CapacityBackend, TaskEvent } from './backend';
import { LocalComputeBackend } from './local';
import { backendQueryOf, BackendRegistry, RoutedComputeBackend, type BackendQuery } from './registry';

/** A worker-burst backend of another kind: only its kind and name matter to the registry. */
const workers = { kind: 'scaleset', close: async () => undefined } as unknown as CapacityBackend;

describe('BackendRegistry', () => {
  const a = new LocalComputeBackend();
  const b = new LocalComputeBackend();
  const registry = new BackendRegistry([
    { name: 'local-a', mode: 'frame-offload', backend: a },
    { name: 'local-b', mode: 'frame-offload', backend: b },
    { name: 'workers', mode: 'worker-burst', backend: workers },
  ]);
  afterAll(async () => registry.close());

  it.each<[string, BackendQuery, string]>([
    ['the first of the mode', { mode: 'frame-offload' }, 'local-a'],
    ['the first of the mode and kind', { mode: 'frame-offload', kind: 'local' }, 'local-a'],
    ['a second backend of the same kind, by name', { mode: 'frame-offload', name: 'local-b' }, 'local-b'],
    ['worker burst', { mode: 'worker-burst' }, 'workers'],
    ['worker burst by kind', { mode: 'worker-burst', kind: 'scaleset' }, 'workers'],
  ])('GIVEN %s WHEN resolved THEN %s', (_what, query, name) => {
    expect(registry.resolve(query).name).toBe(name);
  });

  it.each<[string, BackendQuery, new (...args: never[]) => Error, RegExp]>([
    [
      'a kind nobody registered',
      { mode: 'frame-offload', kind: 'batch', group: 'g' },
      FailedPreconditionError,
      /capacity group "g" is frame-offload, but no batch backend for frame-offload is configured/,
    ],
    [
      'an unknown name',
      { mode: 'frame-offload', name: 'nope' },
      NotFoundError,
      /no backend named "nope"; configured: local-a, local-b, workers/,
    ],
    [
      'a name of the other mode',
      { mode: 'frame-offload', name: 'workers', group: 'g' },
      FailedPreconditionError,
      /capacity group "g" asks for backend "workers", which is scaleset for worker-burst/,
    ],
  ])('GIVEN %s WHEN resolved THEN a typed error says so', (_what, query, type, message) => {
    expect(() => registry.resolve(query)).toThrow(type);
    expect(() => registry.resolve(query)).toThrow(message);
  });

  it.each([
    ['a name taken twice', 'local-a', /is registered already/],
    ['a name with capitals', 'Local', /must be 1-64 characters/],
  ])('GIVEN %s WHEN added THEN a ValidationError names backend.name', (_what, name, message) => {
    const add = (): unknown => registry.add({ name, mode: 'frame-offload', backend: a });
    expect(add).toThrow(ValidationError);
    expect(add).toThrow(message);
  });

  it.each<[string, Partial<CapacityGroupSpec>, BackendQuery]>([
    [
      'frame offload, no kind',
      { mode: BurstMode.BURST_MODE_FRAME_OFFLOAD },
      { mode: 'frame-offload', group: 'g' },
    ],
    [
      'frame offload on Batch',
      { mode: BurstMode.BURST_MODE_FRAME_OFFLOAD, backend: BackendKind.BACKEND_KIND_BATCH },
      { mode: 'frame-offload', kind: 'batch', group: 'g' },
    ],
    [
      'worker burst on scale sets',
      { mode: BurstMode.BURST_MODE_WORKER_BURST, backend: BackendKind.BACKEND_KIND_SCALE_SET },
      { mode: 'worker-burst', kind: 'scaleset', group: 'g' },
    ],
  ])('GIVEN a spec with %s THEN its registry query', (_what, spec, query) => {
    expect(backendQueryOf(CapacityGroupSpec.fromPartial({ name: 'g', ...spec }))).toEqual(query);
  });
});

describe('RoutedComputeBackend', () => {
  it('GIVEN two backends of the same kind WHEN jobs of two groups run THEN each runs on its group backend, and events of both arrive', async () => {
    const a = new LocalComputeBackend();
    const b = new LocalComputeBackend();
    const registry = new BackendRegistry([
      { name: 'site-a', mode: 'frame-offload', backend: a },
      { name: 'site-b', mode: 'frame-offload', backend: b },
    ]);
    const groupBackend: Record<string, string> = { ga: 'site-a', gb: 'site-b' };
    const jobGroup: Record<string, string> = {};
    const routed = new RoutedComputeBackend(
      registry,
      (group) => ({ name: groupBackend[group]! }),
      (jobId) => jobGroup[jobId],
    );
    try {
      const done: TaskEvent[] = [];
      routed.onTaskEvent((e) => e.type === 'completed' && done.push(e));
      for (const g of ['ga', 'gb']) {
        await routed.ensureGroup({ name: g, vmSize: 'local', maxDedicatedNodes: 1, maxSpotNodes: 0 });
        await routed.resizeGroup(g, { dedicated: 1, spot: 0 });
        await routed.createJob({ id: `job-${g}`, group: g });
        jobGroup[`job-${g}`] = g;
        await routed.addTasks(`job-${g}`, [{ id: 't', commandLine: `echo ${g}` }]);
      }
      for (let i = 0; i < 250 && done.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      expect(done.map((e) => e.task.jobId).sort()).toEqual(['job-ga', 'job-gb']);
      // Each engine holds only its own group and job.
      expect((await a.listGroups()).map((g) => g.name)).toEqual(['ga']);
      expect((await b.listGroups()).map((g) => g.name)).toEqual(['gb']);
      expect(await a.getTask('job-gb', 't')).toBeUndefined();
      expect((await b.getTask('job-gb', 't'))?.result).toBe('success');
      // A router that has not seen the job (a restarted service) finds it through its group.
      const fresh = new RoutedComputeBackend(
        registry,
        (group) => ({ name: groupBackend[group]! }),
        (j) => jobGroup[j],
      );
      expect((await fresh.getTask('job-gb', 't'))?.result).toBe('success');
      expect((await routed.listGroups()).map((g) => g.name).sort()).toEqual(['ga', 'gb']);
      await expect(fresh.getTask('unknown-job', 't')).rejects.toBeInstanceOf(NotFoundError);
    } finally {
      await registry.close();
    }
  });
});
