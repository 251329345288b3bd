import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveConfig, VirtualHost } from '@spillway/bridge-opencue';
import { EXIT_STATUS_SKIP_RETRY, FakeCuebot, SimulatedRqdHost } from '@spillway/bridge-opencue/testing';
import { createLogger } from '@spillway/sdk';
import { startTestService, type TestService } from '../support/service';
import { freePort } from '../opencue/ports';
import { eventually } from './farm';

// OpenCue recall end to end (#15). GIVEN a real service whose cloud nodes are still booting
// (ten minutes: offloaded frames wait in the cloud queue), a testing Cuebot with 2 local hosts
// busy on a long job, and the virtual host (the OpenCue bridge) in the burst allocation
// WHEN a second job's frames overflow onto the virtual host and go to the cloud (no more of
// them at once than the plan offloads, though Cuebot books the host's every core), and then
// the local hosts free up
// THEN the plan recalls the frames that have not started in the cloud, the virtual host gives
// each back to Cuebot with SKIP_RETRY (286), Cuebot requeues them without counting a retry,
// and the local hosts render them: every frame SUCCEEDED once, none retry-counted, none
// DEAD, none lost; every cloud frame ended recalled, none ran.

const HOST = 'azure-burst';

describe('OpenCue recall', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-opencue-recall-'));
  let svc: TestService;
  let cuebot: FakeCuebot;
  const locals: SimulatedRqdHost[] = [];
  let host: VirtualHost | undefined;
  let logs = '';

  beforeAll(async () => {
    svc = await startTestService({ nodes: 1, bootDelayMs: 600_000 });
    cuebot = await FakeCuebot.start({ dispatchIntervalMs: 100, maxRetries: 1 });
    cuebot.subscribe('pipe', 'local.general', 2, 2);
    for (const name of ['local-1', 'local-2']) {
      locals.push(await SimulatedRqdHost.start({ name, cuebot: cuebot.address, reportIntervalMs: 300 }));
    }
  }, 60_000);

  afterAll(async () => {
    await host?.close();
    for (const h of locals) await h.close();
    await cuebot?.close();
    await svc?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('gives unstarted cloud frames back to the idle local hosts, without a retry', async () => {
    // The local hosts are busy for a while.
    const hog = cuebot.launchJob({
      name: 'hog',
      show: 'pipe',
      priority: 90,
      layers: [{ name: 'long', range: '1-2', command: 'sleep 6', tags: ['general'] }],
    });
    await eventually(
      'the local hosts busy',
      () => cuebot.getFrames(hog.id).every((f) => f.state === 'RUNNING'),
      20_000,
    );
    host = await VirtualHost.start(
      resolveConfig(
        {},
        {
          cuebot: cuebot.address,
          service: svc.address,
          hostName: HOST,
          rqdPort: await freePort(),
          rqdListenHost: '127.0.0.1',
          cores: 4,
          reportIntervalMs: 300,
          turnaroundSeconds: 60,
          stateDir: work,
          subscribeShows: ['pipe'],
        },
      ),
      { logger: createLogger({ name: 'vh', write: (line) => (logs += `${line}\n`) }) },
    );
    cuebot.mapHost(HOST, `127.0.0.1:${host.rqdPort}`);
    const shot = cuebot.launchJob({
      name: 'shot',
      show: 'pipe',
      layers: [{ name: 'sleep', range: '1-4', command: 'sleep 1', tags: ['general', 'burst'] }],
    });

    // The frames in the cloud at once, sampled all along: the host takes no more than the plan
    // offloads (2: the group's maximum, as the plan's reasons say), however many Cuebot books.
    let mostInCloud = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        let n = 0;
        for await (const job of svc.client.listJobs({ source: `opencue:${HOST}` }))
          for await (const frame of svc.client.listFrames(job.jobId))
            if (frame.state === 'queued' || frame.state === 'running') n += 1;
        mostInCloud = Math.max(mostInCloud, n);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();

    try {
      // WHEN the overflow goes to the virtual host (and on to the cloud, where nodes still boot)
      await eventually('frames in the cloud', () => mostInCloud >= 2, 30_000);
      // AND the local hosts free up: THEN the unstarted frames come back and render locally
      await eventually(
        'every frame of the shot succeeded',
        () => cuebot.getFrames(shot.id).every((f) => f.state === 'SUCCEEDED'),
        60_000,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${JSON.stringify(cuebot.getFrames(shot.id))}\n${logs}`);
    } finally {
      sampling = false;
      await sampler;
    }
    expect(mostInCloud).toBe(2);

    const frames = cuebot.getFrames(shot.id);
    // None retry-counted, none lost
    expect(frames.map((f) => f.retry_count)).toEqual([0, 0, 0, 0]);
    const completions = cuebot.completions.filter((c) => frames.some((f) => f.id === c.frameId));
    // Each frame the virtual host took was given back with SKIP_RETRY, never as a failure or success
    const fromHost = completions.filter((c) => c.host === HOST);
    expect(fromHost.length).toBeGreaterThanOrEqual(mostInCloud);
    expect(fromHost.every((c) => c.exitStatus === EXIT_STATUS_SKIP_RETRY && c.state === 'WAITING')).toBe(
      true,
    );
    // Every frame succeeded exactly once, on a local host
    const ok = completions.filter((c) => c.exitStatus === 0 && c.accepted);
    expect(ok.map((c) => c.frameId).sort()).toEqual(frames.map((f) => f.id).sort());
    expect(ok.every((c) => c.host.startsWith('local-'))).toBe(true);
    expect(completions.filter((c) => c.host !== HOST && c.exitStatus !== 0)).toEqual([]);
    // In the service every cloud frame ended recalled: none ran
    const states: string[] = [];
    for await (const job of svc.client.listJobs({ source: `opencue:${HOST}` }))
      for await (const frame of svc.client.listFrames(job.jobId)) states.push(frame.state);
    expect(states).toEqual(fromHost.map(() => 'recalled'));
  }, 180_000);
});
