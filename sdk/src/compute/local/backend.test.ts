import { FailedPreconditionError } from '../../errors';
import type { CapacityEvent, TaskEvent } from '../backend';
import { LocalComputeBackend } from './backend';

describe('LocalComputeBackend', () => {
  let backend: LocalComputeBackend;
  afterEach(async () => backend.close());

  it('GIVEN a group and a job WHEN tasks are added twice THEN the second call finds them identical, and events report the run', async () => {
    backend = new LocalComputeBackend({ bootDelayMs: 10 });
    const tasks: TaskEvent[] = [];
    const capacity: CapacityEvent[] = [];
    backend.onTaskEvent((e) => tasks.push(e));
    backend.onCapacityEvent((e) => capacity.push(e));
    await backend.ensureGroup({
      name: 'g',
      vmSize: 'local',
      maxDedicatedNodes: 2,
      maxSpotNodes: 0,
      taskSlotsPerNode: 2,
    });
    await backend.resizeGroup('g', { dedicated: 2, spot: 0 });
    await backend.createJob({ id: 'j', group: 'g' });
    const specs = [1, 2, 3].map((i) => ({
      id: `t${i}`,
      commandLine: `mkdir -p out && echo task ${i} > out/note.txt; exit ${i === 3 ? 1 : 0}`,
    }));
    expect(await backend.addTasks('j', specs)).toEqual({ added: ['t1', 't2', 't3'], alreadyExisted: [] });
    expect(await backend.addTasks('j', specs)).toEqual({ added: [], alreadyExisted: ['t1', 't2', 't3'] });
    await expect(backend.addTasks('j', [{ id: 'T1', commandLine: 'exit 9' }])).rejects.toBeInstanceOf(
      FailedPreconditionError,
    );
    for (let i = 0; i < 200 && (await backend.getTaskCounts('j')).completed < 3; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await backend.getTaskCounts('j')).toEqual({
      active: 0,
      running: 0,
      completed: 3,
      succeeded: 2,
      failed: 1,
    });
    expect(
      tasks
        .filter((e) => e.type === 'completed')
        .map((e) => [e.task.taskId, e.task.result])
        .sort(),
    ).toEqual([
      ['t1', 'success'],
      ['t2', 'success'],
      ['t3', 'failure'],
    ]);
    expect(capacity.filter((e) => e.type === 'nodeReady')).toHaveLength(2);
    const failed = [];
    for await (const t of backend.listTasks('j', { state: 'completed' }))
      if (t.result === 'failure') failed.push(t.taskId);
    expect(failed).toEqual(['t3']);
    expect(await backend.getTask('j', 'nope')).toBeUndefined();
    // Files of a task's directory on its node, as Batch's Get File From Task serves them.
    expect((await backend.readTaskFile('j', 't2', 'wd/out/note.txt'))?.toString()).toBe('task 2\n');
    expect(await backend.readTaskFile('j', 't2', 'wd/out/missing.txt')).toBeUndefined();
    expect(await backend.readTaskFile('j', 't2', '../t1/wd/out/note.txt')).toBeUndefined();
    expect(await backend.readTaskFile('j', 't2', '/etc/hostname')).toBeUndefined();
    expect(await backend.readTaskFile('j', 'nope', 'wd/out/note.txt')).toBeUndefined();
    await backend.terminateTask('j', 't1');
    await backend.deleteJob('j');
    await backend.deleteJob('j');
    await backend.deleteGroup('g');
    // As in Batch, deletion takes a moment: the group is `deleting`, then gone.
    expect((await backend.getGroup('g'))?.state).toBe('deleting');
    await new Promise((r) => setTimeout(r, 20));
    expect(await backend.getGroup('g')).toBeUndefined();
  });

  it('GIVEN a group resizing with a slow boot WHEN resized again THEN it waits instead of failing', async () => {
    backend = new LocalComputeBackend({ bootDelayMs: 200 });
    await backend.ensureGroup({ name: 'g', vmSize: 'local', maxDedicatedNodes: 3, maxSpotNodes: 3 });
    await backend.resizeGroup('g', { dedicated: 1, spot: 0 });
    const status = await backend.resizeGroup('g', { dedicated: 2, spot: 2 });
    expect(status).toMatchObject({ targetDedicatedNodes: 2, targetSpotNodes: 2, state: 'resizing' });
    await expect(backend.resizeGroup('g', { dedicated: 4, spot: 0 })).rejects.toMatchObject({
      field: 'target.dedicated',
      value: 4,
    });
  });
});
