import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BridgeStateStore, DeadlineBridge, resolveConfig } from '@spillway/bridge-deadline';
import { FakeDeadline } from '@spillway/bridge-deadline/testing';
import { startTestService, type TestService } from '../support/service';

// GIVEN a fake Deadline whose workers are stopped (nothing renders), a real service, and a
// bridge state file as a crash could have left it
// WHEN the bridge starts (reconcile) and is closed again
// THEN a task it was suspending but never submitted is resumed, a task it had sent back to
// the farm is resumed, a task a user suspended is left alone, and nothing is submitted.

describe('Deadline bridge reconcile on start', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-deadline-rec-'));
  let svc: TestService;
  let deadline: FakeDeadline;

  beforeAll(async () => {
    svc = await startTestService({ nodes: 1 });
    deadline = await FakeDeadline.start({ startWorkers: false });
  });
  afterAll(async () => {
    await deadline.close();
    await svc.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('resumes only the tasks the bridge suspended and submits nothing', async () => {
    const jobId = deadline.submitJob(
      { Plugin: 'CommandLine', Frames: '1-4', OutputDirectory0: path.join(work, 'out') },
      { Executable: '/bin/true' },
    );
    const put = (command: string, ids: number[]): Promise<Response> =>
      fetch(`${deadline.url}/api/tasks`, {
        method: 'PUT',
        body: JSON.stringify({ Command: command, JobID: jobId, TaskList: ids }),
      });
    await put('suspend', [0, 1, 2]);
    const config = resolveConfig({
      webservice: deadline.url,
      service: svc.address,
      name: 'rec',
      stateDir: work,
    });
    const store = new BridgeStateStore(path.join(work, 'deadline-rec.json'));
    store.update((s) => {
      s.tasks[`${jobId}:0`] = { jobId, taskId: 0, phase: 'suspending' };
      s.tasks[`${jobId}:1`] = { jobId, taskId: 1, phase: 'local', reason: 'cloud frame failed' };
    });
    const commandsBefore = deadline.taskCommands.length;

    const bridge = await DeadlineBridge.start(config, { loop: false });
    await bridge.close();

    expect(deadline.tasks(jobId).map((t) => t.state)).toEqual(['queued', 'queued', 'suspended', 'queued']);
    const sent = deadline.taskCommands.slice(commandsBefore);
    expect(sent.map((c) => [c.command, c.taskList])).toEqual([
      ['resume', [0]],
      ['resume', [1]],
    ]);
    await expect(svc.client.getJob({ source: 'deadline:rec', sourceJobId: jobId })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    const after = new BridgeStateStore(path.join(work, 'deadline-rec.json')).current.tasks;
    expect(Object.keys(after)).toEqual([`${jobId}:1`]);
  });
});
