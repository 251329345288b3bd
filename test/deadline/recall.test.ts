import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeadlineBridge, resolveConfig } from '@spillway/bridge-deadline';
import { FakeDeadline } from '@spillway/bridge-deadline/testing';
import { createLogger, type Frame } from '@spillway/sdk';
import { startTestService, type TestService } from '../support/service';

// GIVEN a fake Deadline farm of 2 workers, a real service whose cloud nodes take ten
// minutes to boot (so offloaded frames wait in the cloud queue), and the bridge
// WHEN an 8-task job overflows the farm, the bridge offloads, and the local workers then
// run out of work
// THEN the plan recalls the frames still queued in the cloud, the bridge resumes exactly
// those tasks, the farm renders them, and every task ends Completed, rendered once,
// locally; every cloud frame ended `recalled`, none ran.

describe('Deadline bridge recall', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-deadline-recall-'));
  let svc: TestService;
  let deadline: FakeDeadline;
  let logs = '';

  beforeAll(async () => {
    svc = await startTestService({ nodes: 2, bootDelayMs: 600_000 });
    deadline = await FakeDeadline.start({
      workers: [{ name: 'ws-1' }, { name: 'ws-2' }],
    });
  });
  afterAll(async () => {
    await deadline.close();
    await svc.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('recalls cloud frames that have not started when local workers are idle', async () => {
    const jobId = deadline.submitJob(
      { Plugin: 'CommandLine', Name: 'recall', Frames: '1-8', OutputDirectory0: path.join(work, 'out') },
      { Executable: '/bin/sleep', Arguments: '1' },
    );
    const controller = new AbortController();
    const bridge = await DeadlineBridge.start(
      resolveConfig({
        webservice: deadline.url,
        service: svc.address,
        name: 'recall',
        stateDir: work,
        pollIntervalMs: 300,
      }),
      {
        abortSignal: controller.signal,
        logger: createLogger({ name: 'bridge', write: (line) => (logs += line + '\n') }),
      },
    );
    try {
      const end = Date.now() + 60_000;
      while (!deadline.tasks(jobId).every((t) => t.state === 'completed')) {
        if (Date.now() > end)
          throw new Error(`tasks not completed: ${JSON.stringify(deadline.tasks(jobId))}\n${logs}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      controller.abort();
      await bridge.close();
    }

    const svcJob = await svc.client.getJob({ source: 'deadline:recall', sourceJobId: jobId });
    const frames: Frame[] = [];
    for await (const f of svc.client.listFrames(svcJob.jobId)) frames.push(f);
    // Frames went to the cloud, and every one came back unstarted.
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.map((f) => f.state)).toEqual(frames.map(() => 'recalled'));
    expect(frames.every((f) => f.attempts === 0)).toBe(true);
    expect(bridge.counters.recalled).toBe(frames.length);
    expect(logs).toMatch(/INFO .*recalled/);
    // Every task rendered exactly once, on the farm.
    for (let task = 0; task < 8; task++) {
      const runs = deadline.renders.filter((r) => r.jobId === jobId && r.taskId === task && r.exitCode === 0);
      expect({ task, runs: runs.length }).toEqual({ task, runs: 1 });
    }
    // The recalled tasks were resumed, each by name (never an empty task list).
    const resumed = deadline.taskCommands
      .filter((c) => c.command === 'resume')
      .flatMap((c) => c.taskList as number[]);
    expect(resumed.sort()).toEqual(frames.map((f) => Number(f.key.sourceTaskId)).sort());
  }, 90_000);
});
