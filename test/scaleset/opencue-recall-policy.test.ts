import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveConfig, VirtualHost } from '@spillway/bridge-opencue';
import { EXIT_STATUS_SKIP_RETRY, FakeCuebot, SimulatedRqdHost } from '@spillway/bridge-opencue/testing';
import { createLogger } from '@spillway/sdk';
import { startTestService, type TestService } from '../support/service';
import { freePort } from '../opencue/ports';
import { eventually } from './farm';

// OpenCue recall end to end, planned by the burst policy (#15, #14). GIVEN a real service
// planning with the policy (the product's default planner) whose cloud node is still booting
// (ten minutes in the local engine, though the policy plans with a 2 s boot: offloaded frames
// wait in the cloud queue), a testing Cuebot with 2 local 1-core hosts, and the virtual host
// WHEN a job of 30 frames of 3 s, due 36 s after it starts (the 2 hosts need 45 s), makes the
// plan offload frames to the virtual host, and the local hosts then run out of other work
// THEN the plan recalls the frames that have not started in the cloud, the virtual host gives
// each back with SKIP_RETRY (286), Cuebot requeues them without counting a retry, and the
// local hosts render them: every frame SUCCEEDED once, on a local host, none retry-counted,
// none DEAD, none lost; every cloud frame ended recalled, none ran.

const HOST = 'azure-burst';

describe('OpenCue recall planned by the burst policy', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-opencue-recall-policy-'));
  let svc: TestService;
  let cuebot: FakeCuebot;
  const locals: SimulatedRqdHost[] = [];
  let host: VirtualHost | undefined;
  let logs = '';

  beforeAll(async () => {
    svc = await startTestService({
      nodes: 1,
      bootDelayMs: 600_000,
      planner: 'policy',
      config: {
        // The group says its nodes boot in 2 s (the embedded engine's delay would count otherwise).
        'burst.groups': { default: { nodeBootSeconds: 2 } },
        'burst.groupDefaults.transferSecondsPerFrame': 0,
        'burst.groupDefaults.billingGranularitySeconds': 5,
      },
    });
    cuebot = await FakeCuebot.start({ dispatchIntervalMs: 100, maxRetries: 1 });
    cuebot.subscribe('pipe', 'local.general', 2, 2);
    for (const name of ['local-1', 'local-2'])
      locals.push(await SimulatedRqdHost.start({ name, cuebot: cuebot.address, reportIntervalMs: 300 }));
  }, 60_000);

  afterAll(async () => {
    await host?.close();
    for (const h of locals) await h.close();
    await cuebot?.close();
    await svc?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('offloads the late frames, then gives the unstarted ones back to the idle local hosts, without a retry', async () => {
    const rqdPort = await freePort();
    cuebot.mapHost(HOST, `127.0.0.1:${rqdPort}`);
    host = await VirtualHost.start(
      resolveConfig(
        {},
        {
          cuebot: cuebot.address,
          service: svc.address,
          hostName: HOST,
          rqdPort,
          rqdListenHost: '127.0.0.1',
          cores: 4,
          reportIntervalMs: 300,
          turnaroundSeconds: 36,
          stateDir: work,
          subscribeShows: ['pipe'],
        },
      ),
      { logger: createLogger({ name: 'vh', write: (line) => (logs += `${line}\n`) }) },
    );
    const shot = cuebot.launchJob({
      name: 'shot',
      show: 'pipe',
      layers: [{ name: 'sleep', range: '1-30', command: 'sleep 3', tags: ['general', 'burst'] }],
    });

    const source = `opencue:${HOST}`;
    const cloudFrames = async (): Promise<string[]> => {
      const states: string[] = [];
      for await (const job of svc.client.listJobs({ source }))
        for await (const frame of svc.client.listFrames(job.jobId)) states.push(frame.state);
      return states;
    };
    try {
      // WHEN the plan offloads late frames (they wait in the cloud: its node still boots)
      await eventually('frames in the cloud', async () => (await cloudFrames()).length > 0, 40_000);
      // THEN once the local hosts are free, the unstarted frames come back and render locally
      await eventually(
        'every frame of the shot succeeded',
        () => cuebot.getFrames(shot.id).every((f) => f.state === 'SUCCEEDED'),
        90_000,
      );
    } catch (err) {
      const status = await svc.client.burstStatus().catch((e: Error) => e.message);
      throw new Error(
        `${(err as Error).message}\nburst status: ${JSON.stringify(status)}\nframes: ${JSON.stringify(cuebot.getFrames(shot.id))}\n${logs}`,
      );
    }

    const frames = cuebot.getFrames(shot.id);
    expect(frames.map((f) => f.retry_count)).toEqual(frames.map(() => 0));
    const completions = cuebot.completions.filter((c) => frames.some((f) => f.id === c.frameId));
    const fromHost = completions.filter((c) => c.host === HOST);
    expect(fromHost.length).toBeGreaterThan(0);
    // Each frame the virtual host took was given back with SKIP_RETRY, never as a failure or success
    expect(fromHost.every((c) => c.exitStatus === EXIT_STATUS_SKIP_RETRY && c.state === 'WAITING')).toBe(
      true,
    );
    // Every frame succeeded exactly once, on a local host
    const ok = completions.filter((c) => c.exitStatus === 0 && c.accepted);
    expect(ok.map((c) => c.frameId).sort()).toEqual(frames.map((f) => f.id).sort());
    expect(ok.every((c) => c.host.startsWith('local-'))).toBe(true);
    expect(completions.filter((c) => c.host !== HOST && c.exitStatus !== 0)).toEqual([]);
    // In the service every cloud frame ended recalled (none ran), by the policy's plan
    expect(await cloudFrames()).toEqual(fromHost.map(() => 'recalled'));
    expect(logs).toMatch(/recall \d+ frames not started in the cloud/);
  }, 180_000);
});
