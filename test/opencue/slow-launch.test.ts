import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveConfig, VirtualHost } from '@spillway/bridge-opencue';
import { FakeCuebot } from '@spillway/bridge-opencue/testing';
import { startTestService, type TestService } from '../support/service';
import { freePort } from './ports';
import { startRelay } from './relay';

// GIVEN a real service behind a gRPC relay that passes the first SubmitFrames on to the service
// (which takes the job) but never gives its answer back: the virtual host's launch gives up at
// its 4 s deadline whatever the machine's load, and Cuebot requeues the frame; and the OpenCue
// virtual host in a burst allocation
// WHEN a one-frame job is launched whose frame runs longer than the launch deadline
// THEN the frame ends SUCCEEDED on the virtual host, and the service holds one cloud job for
// it: the relaunch found the job the slow launch made instead of rendering the frame twice
// (on a loaded machine, 2 of 300 frames of the active-job quota test used to run twice).
// AND WHEN the frame ends before the launch deadline (while the host still waits for the
// answer) THEN the host reports it SUCCEEDED once and the launch does not fail: no relaunch.

const HOST = 'azure-slow';
describe('OpenCue virtual host with a slow service', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-opencue-slow-'));
  let svc: TestService;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let cuebot: FakeCuebot;
  let host: VirtualHost | undefined;
  let submissions = 0;
  /** The next SubmitFrames is held (the service takes it; its caller never hears back). */
  let holdNext = false;

  beforeAll(async () => {
    svc = await startTestService({ nodes: 1, slotsPerNode: 2 });
    relay = await startRelay(svc.address, (p) => {
      if (p !== '/spillway.v1.FrameService/SubmitFrames') return false;
      submissions += 1;
      const hold = holdNext;
      holdNext = false;
      return hold;
    });
    cuebot = await FakeCuebot.start({ dispatchIntervalMs: 200 });
    cuebot.subscribe('pipe', 'local.general', 0, 0);
    const rqdPort = await freePort();
    cuebot.mapHost(HOST, `127.0.0.1:${rqdPort}`);
    host = await VirtualHost.start(
      resolveConfig(
        {},
        {
          cuebot: cuebot.address,
          service: relay.address,
          hostName: HOST,
          rqdPort,
          rqdListenHost: '127.0.0.1',
          cores: 2,
          reportIntervalMs: 500,
          stateDir: path.join(work, 'host-state'),
          subscribeShows: ['pipe'],
        },
      ),
    );
  });
  afterAll(async () => {
    await host?.close();
    await cuebot?.close();
    relay?.close();
    await svc?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  const cloudJobsOf = async (cueJobId: string): Promise<string[]> => {
    const ids: string[] = [];
    for await (const j of svc.client.listJobs({ source: `opencue:${HOST}` }))
      if (j.spec.sourceJobId.startsWith(`${cueJobId}/`)) ids.push(j.jobId);
    return ids;
  };

  it('renders a frame once when its first launch timed out after the service took it', async () => {
    holdNext = true;
    const before = submissions;
    const job = cuebot.launchJob({
      name: 'pipe-sh001-comp',
      show: 'pipe',
      priority: 50,
      // Longer than the 4 s launch deadline: still running in the cloud when the launch gives up.
      layers: [{ name: 'comp', range: '1', tags: ['burst'], command: 'sleep 6' }],
    });
    await cuebot.waitFor(
      () => cuebot.getFrames(job.id).every((f) => f.state === 'SUCCEEDED' || f.state === 'DEAD'),
      { what: 'the frame to finish', timeoutMs: 90_000 },
    );
    expect(cuebot.getFrames(job.id).map((f) => f.state)).toEqual(['SUCCEEDED']);
    // The slow launch really happened: the service took the first submission, its caller gave
    // up waiting for the answer, and the frame was launched again.
    expect(relay.held).toHaveLength(1);
    await expect(relay.held[0]!.answered).resolves.toBeNull();
    await relay.held[0]!.gaveUp;
    expect(submissions - before).toBeGreaterThanOrEqual(2);
    const frameId = cuebot.getFrames(job.id)[0]!.id;
    const ok = cuebot.completions.filter(
      (c) => c.frameId === frameId && c.accepted && c.state === 'SUCCEEDED',
    );
    expect(ok).toHaveLength(1);
    expect(await cloudJobsOf(job.id)).toHaveLength(1);
  });

  it('reports a frame that ended while its launch still waited for the service, without a relaunch', async () => {
    holdNext = true;
    const before = { submissions, failures: cuebot.launchFailures };
    const job = cuebot.launchJob({
      name: 'pipe-sh002-comp',
      show: 'pipe',
      priority: 50,
      layers: [{ name: 'comp', range: '1', tags: ['burst'], command: 'true' }],
    });
    await cuebot.waitFor(
      () => cuebot.getFrames(job.id).every((f) => f.state === 'SUCCEEDED' || f.state === 'DEAD'),
      { what: 'the frame to finish', timeoutMs: 90_000 },
    );
    expect(cuebot.getFrames(job.id).map((f) => f.state)).toEqual(['SUCCEEDED']);
    expect(relay.held).toHaveLength(2);
    await expect(relay.held[1]!.answered).resolves.toBeNull();
    // The launch's caller gives up waiting; the launch itself is not failed, so no relaunch.
    await relay.held[1]!.gaveUp;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(cuebot.launchFailures).toBe(before.failures);
    expect(submissions - before.submissions).toBe(1);
    const frameId = cuebot.getFrames(job.id)[0]!.id;
    const ok = cuebot.completions.filter(
      (c) => c.frameId === frameId && c.accepted && c.state === 'SUCCEEDED',
    );
    expect(ok).toHaveLength(1);
    expect(await cloudJobsOf(job.id)).toHaveLength(1);
  });
});
