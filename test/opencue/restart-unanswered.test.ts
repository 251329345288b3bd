import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HostStateStore } from '@spillway/bridge-opencue';
import { FakeCuebot, SimulatedRqdHost } from '@spillway/bridge-opencue/testing';
import { startTestService, type TestService } from '../support/service';
import { BridgeProcess, requireBuiltBridge, virtualHostFlags, waitFor } from './bridge-process';
import { freePort } from './ports';
import { startRelay } from './relay';

// The restart race of a LaunchFrame the virtual host never answered (#15). GIVEN a real service
// behind a relay that passes the virtual host's SubmitFrames on (the service takes the cloud
// job) but keeps the answer back, and the virtual host as a real child process (`spillway-opencue`,
// built by `tsc -b`) with no local host in the farm
// WHEN Cuebot launches a frame on the virtual host, which records the launch and is SIGKILLed
// while it waits for the service's answer (Cuebot's LaunchFrame fails: it requeues the frame),
// a local host joins and Cuebot relaunches the frame there, and the virtual host restarts
// THEN the restarted host drops the launch it never answered and cancels its cloud job, so the
// frame renders once, on the local host: Cuebot has one success for it, and the cloud job,
// which waited on the same gate as the local render, was cancelled without rendering.
// (Before: the restarted host submitted the launch again, found the cloud job under its key,
// and the frame rendered twice.)

const HOST = 'azure-restart';

describe('OpenCue virtual host restarted inside a LaunchFrame', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-opencue-restart-'));
  const stateDir = path.join(work, 'host-state');
  // Every render of the frame waits for the gate, then says it ran.
  const gate = path.join(work, 'gate');
  const ran = path.join(work, 'ran.log');
  let svc: TestService;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let cuebot: FakeCuebot;
  let local: SimulatedRqdHost | undefined;
  let rqdPort = 0;
  /** The next SubmitFrames is held (the service takes it; its caller never hears back). */
  let holdNext = false;

  const bridge = new BridgeProcess(() =>
    virtualHostFlags({ cuebot: cuebot.address, service: relay.address, hostName: HOST, rqdPort, stateDir }),
  );

  beforeAll(async () => {
    requireBuiltBridge();
    svc = await startTestService({ nodes: 1, slotsPerNode: 2 });
    relay = await startRelay(svc.address, (p) => {
      if (p !== '/spillway.v1.FrameService/SubmitFrames') return false;
      const hold = holdNext;
      holdNext = false;
      return hold;
    });
    cuebot = await FakeCuebot.start({ dispatchIntervalMs: 200, hostTimeoutMs: 10_000 });
    cuebot.subscribe('pipe', 'local.general', 1, 1);
    rqdPort = await freePort();
    cuebot.mapHost(HOST, `127.0.0.1:${rqdPort}`);
    await bridge.start();
  });

  afterAll(async () => {
    // Renders still waiting on the gate (a failed run) end.
    fs.writeFileSync(gate, '');
    await bridge.kill('SIGTERM');
    await local?.close();
    await cuebot?.close();
    relay?.close();
    await svc?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('drops the unanswered launch and cancels its cloud job: the frame renders once, where Cuebot relaunched it', async () => {
    try {
      holdNext = true;
      const job = cuebot.launchJob({
        name: 'pipe-sh003-comp',
        show: 'pipe',
        priority: 50,
        layers: [
          {
            name: 'comp',
            range: '1',
            tags: ['general', 'burst'],
            command: `sh -c 'while [ ! -e ${gate} ]; do sleep 0.1; done; echo ran >> ${ran}'`,
          },
        ],
      });
      const frame = cuebot.getFrames(job.id)[0]!;

      // WHEN the virtual host is SIGKILLed while its launch waits for the service's answer
      await waitFor('the launch submitted to the service', () => relay.held.length === 1, 60_000);
      await bridge.kill('SIGKILL');
      // (the launch was recorded without its cloud job's id; the service took the job)
      const recorded = new HostStateStore(path.join(stateDir, `${HOST}.json`)).current.launches[frame.id];
      expect(recorded).toBeDefined();
      expect(recorded!.cloudJobId).toBeUndefined();
      await expect(relay.held[0]!.answered).resolves.toBeNull();
      const cloudKey = { source: `opencue:${HOST}`, sourceJobId: recorded!.cloudSourceJobId };
      expect((await svc.client.getJob(cloudKey)).state).toBe('active');
      // Cuebot's LaunchFrame failed: it requeues the frame and relaunches it on a local host
      await waitFor('the launch failed in Cuebot', () => cuebot.launchFailures >= 1);
      local = await SimulatedRqdHost.start({
        name: 'local-1',
        cuebot: cuebot.address,
        cores: 1,
        reportIntervalMs: 300,
        workDir: work,
      });
      cuebot.mapHost('local-1', local.rqdAddress);
      await waitFor(
        'the frame relaunched on the local host',
        () => frame.id !== undefined && cuebot.hostOf(frame.id) === 'local-1',
      );
      // AND the virtual host restarts
      await bridge.start();

      // THEN its cloud job is cancelled before it could render
      await waitFor(
        'the cloud job ended',
        async () => (await svc.client.getJob(cloudKey)).state !== 'active',
      );
      fs.writeFileSync(gate, '');
      await waitFor('the frame done', () => cuebot.getFrames(job.id)[0]!.state === 'SUCCEEDED');
      const cloud = await svc.client.getJob(cloudKey);
      expect({ state: cloud.state, succeeded: cloud.counts.succeeded }).toEqual({
        state: 'cancelled',
        succeeded: 0,
      });
      // AND the frame rendered once, on the local host, with one success in Cuebot
      const ok = cuebot.completions.filter(
        (c) => c.frameId === frame.id && c.accepted && c.state === 'SUCCEEDED',
      );
      expect(ok.map((c) => c.host)).toEqual(['local-1']);
      await new Promise((r) => setTimeout(r, 1000)); // a second render would have said so by now
      expect(fs.readFileSync(ran, 'utf8')).toBe('ran\n');
      // AND the restarted host owes nothing
      const state = new HostStateStore(path.join(stateDir, `${HOST}.json`)).current;
      expect(state.launches).toEqual({});
      expect(state.abandoned).toBeUndefined();
    } catch (err) {
      process.stderr.write(`--- spillway-opencue log ---\n${bridge.log}\n`);
      throw err;
    }
  }, 180_000);
});
