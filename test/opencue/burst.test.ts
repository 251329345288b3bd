import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CuebotClient, HostStateStore } from '@spillway/bridge-opencue';
import {
  blenderAvailable,
  buildBlenderScene,
  FakeCuebot,
  SimulatedRqdHost,
} from '@spillway/bridge-opencue/testing';
import { startTestService, type TestService } from '../support/service';
import { BridgeProcess, requireBuiltBridge, virtualHostFlags, waitFor } from './bridge-process';
import { freePort } from './ports';

// GIVEN a real Spillway service (local engine), a fake Cuebot with 2 local 1-core hosts, a
// 24-frame Blender layer tagged `burst`, and the virtual host as a real child process
// (`spillway-opencue`, built by `tsc -b`) joining the `cloud.burst` allocation
// WHEN the local farm saturates, a burst-only frame is killed from Cuebot while it runs in
// the cloud, and the virtual host is SIGKILLed and restarted mid-run
// THEN the virtual host received part of the overflow, every frame ended SUCCEEDED exactly
// once with its PNG in place, the killed frame's cloud job was cancelled (and its relaunch
// ran as a new cloud job), and Cuebot lost no frame across the restart.

const HOST = 'azure-burst';

describe('OpenCue virtual host end to end', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-opencue-e2e-'));
  // The farm's storage, and the same storage as the "cloud" mounts it (path mapping).
  const farm = path.join(work, 'farm');
  const cloudMount = path.join(work, 'cloud');
  const outDir = path.join(farm, 'renders');
  const stateDir = path.join(work, 'bridge-state');
  let svc: TestService;
  let cuebot: FakeCuebot;
  const hosts: SimulatedRqdHost[] = [];
  let rqdPort = 0;

  const bridge = new BridgeProcess(() =>
    virtualHostFlags({
      cuebot: cuebot.address,
      service: svc.address,
      hostName: HOST,
      rqdPort,
      stateDir,
      extra: ['--turnaround', '60', '--path-map', `${farm}=${cloudMount}`],
    }),
  );

  beforeAll(async () => {
    requireBuiltBridge();
    if (!blenderAvailable())
      throw new Error('Blender is missing: install it (apt-get install blender); CI does');
    fs.mkdirSync(outDir, { recursive: true });
    fs.symlinkSync(farm, cloudMount);
    await buildBlenderScene(path.join(farm, 'scene.blend'), { resolution: 48, samples: 2, frames: 24 });
    svc = await startTestService({ nodes: 2, slotsPerNode: 1 });
    cuebot = await FakeCuebot.start({ dispatchIntervalMs: 200, hostTimeoutMs: 10_000 });
    cuebot.subscribe('pipe', 'local.general', 2, 2);
    for (const name of ['local-1', 'local-2']) {
      const h = await SimulatedRqdHost.start({
        name,
        cuebot: cuebot.address,
        cores: 1,
        reportIntervalMs: 500,
        workDir: work,
      });
      cuebot.mapHost(name, h.rqdAddress);
      hosts.push(h);
    }
    rqdPort = await freePort();
    // Cuebot dials every host by name on the farm's RQD port; here, the name maps to loopback.
    cuebot.mapHost(HOST, `127.0.0.1:${rqdPort}`);
    await bridge.start();
  });

  afterAll(async () => {
    await bridge.kill('SIGTERM');
    for (const h of hosts) await h.close();
    await cuebot?.close();
    await svc?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('renders every frame exactly once, overflow in the cloud, through a kill and a restart', async () => {
    try {
      const blend = path.join(farm, 'scene.blend');
      const render = cuebot.launchJob({
        name: 'pipe-sh010-render',
        show: 'pipe',
        priority: 50,
        layers: [
          {
            name: 'beauty',
            range: '1-24',
            tags: ['general', 'burst'],
            command: `blender -b ${blend} -o ${outDir}/frame_#### -s #IFRAME# -e #IFRAME# -a`,
          },
        ],
      });
      // A burst-only frame that runs long the first time (it is killed) and at once after.
      const marker = path.join(work, 'hold-ran-once');
      const hold = cuebot.launchJob({
        name: 'pipe-sh010-hold',
        show: 'pipe',
        priority: 90,
        layers: [
          {
            name: 'hold',
            range: '1',
            tags: ['burst'],
            command: `sh -c '[ -e ${marker} ] || { touch ${marker}; sleep 60; }'`,
          },
        ],
      });
      const holdFrame = cuebot.getFrames(hold.id)[0]!;

      // The saturated farm opens the virtual host; the burst-only frame goes there and runs in the cloud.
      await waitFor('the hold frame on the virtual host', () => cuebot.hostOf(holdFrame.id) === HOST);
      const source = `opencue:${HOST}`;
      const firstCloudJob = `${hold.id}/${holdFrame.id}/1`;
      await waitFor('the hold frame running in the cloud', async () => {
        try {
          const job = await svc.client.getJob({ source, sourceJobId: firstCloudJob });
          return job.counts.running === 1;
        } catch {
          return false;
        }
      });

      // Killed from Cuebot: cancelled in the cloud.
      // Killed from Cuebot, as CueGUI does it: FrameInterface.Kill over gRPC.
      const cueClient = new CuebotClient(cuebot.address);
      await cueClient.killFrame(holdFrame, { reason: 'artist killed it' });
      cueClient.close();
      await waitFor('the cloud job of the killed frame to be cancelled', async () => {
        const job = await svc.client.getJob({ source, sourceJobId: firstCloudJob });
        return job.counts.cancelled === 1;
      });

      // Restart the virtual host mid-run while it has frames in the cloud.
      await waitFor('render frames on the virtual host', () =>
        cuebot.getFrames(render.id).some((f) => f.state === 'RUNNING' && cuebot.hostOf(f.id) === HOST),
      );
      await bridge.kill('SIGKILL');
      await bridge.start();

      await waitFor(
        'every frame to finish',
        () =>
          [...cuebot.getFrames(render.id), ...cuebot.getFrames(hold.id)].every(
            (f) => f.state === 'SUCCEEDED' || f.state === 'DEAD',
          ),
        100_000,
      );

      const frames = [...cuebot.getFrames(render.id), ...cuebot.getFrames(hold.id)];
      expect(frames.filter((f) => f.state !== 'SUCCEEDED').map((f) => `${f.name}:${f.state}`)).toEqual([]);
      // Exactly once: one accepted successful completion per frame, and nothing lost or fenced.
      for (const f of frames) {
        const ok = cuebot.completions.filter(
          (c) => c.frameId === f.id && c.accepted && c.state === 'SUCCEEDED',
        );
        expect({ frame: f.name, successes: ok.length }).toEqual({ frame: f.name, successes: 1 });
      }
      expect(cuebot.lostFrames).toBe(0);
      expect(cuebot.fencingKills).toBe(0);
      // The virtual host took part of the overflow, the local hosts the rest.
      const byHost = (h: string): number =>
        cuebot.completions.filter((c) => c.host === h && c.accepted && c.state === 'SUCCEEDED').length;
      expect(byHost(HOST)).toBeGreaterThanOrEqual(2);
      expect(byHost('local-1') + byHost('local-2')).toBeGreaterThanOrEqual(2);
      expect(byHost(HOST) + byHost('local-1') + byHost('local-2')).toBe(25);
      // Every PNG is in place on the farm's storage, and the output folder holds exactly the frames.
      expect(fs.readdirSync(outDir).sort()).toEqual(
        Array.from({ length: 24 }, (_, i) => `frame_${String(i + 1).padStart(4, '0')}.png`),
      );
      for (let n = 1; n <= 24; n++) {
        const png = path.join(outDir, `frame_${String(n).padStart(4, '0')}.png`);
        expect(fs.existsSync(png) ? fs.readFileSync(png).subarray(1, 4).toString() : `missing ${png}`).toBe(
          'PNG',
        );
      }
      // The relaunched hold frame ran as a new cloud job; no cloud job succeeded twice.
      const relaunch = await svc.client.getJob({ source, sourceJobId: `${hold.id}/${holdFrame.id}/2` });
      expect(relaunch.counts.succeeded).toBe(1);
      let cloudSucceeded = 0;
      const cloudCommands: string[] = [];
      for await (const job of svc.client.listJobs({ source })) {
        expect(job.counts.succeeded).toBeLessThanOrEqual(1);
        cloudSucceeded += job.counts.succeeded;
        cloudCommands.push(job.spec.commandTemplate);
      }
      // Cloud frames ran with the farm's paths as the cloud mounts them.
      const renders = cloudCommands.filter((c) => c.startsWith('blender'));
      expect(renders.length).toBeGreaterThan(0);
      expect(
        renders.filter((c) => !c.includes(`${cloudMount}/renders/frame_`) || c.includes(farm + '/')),
      ).toEqual([]);
      expect(cloudSucceeded).toBe(byHost(HOST));
      // The restarted host answered for what it had, then forgot nothing it still owed.
      await waitFor(
        'the host state to drain',
        () =>
          Object.keys(new HostStateStore(path.join(stateDir, `${HOST}.json`)).current.launches).length === 0,
        10_000,
      );
    } catch (err) {
      process.stderr.write(`--- spillway-opencue log ---\n${bridge.log}\n`);
      throw err;
    } finally {
      if (process.env.OPENCUE_E2E_LOG) fs.writeFileSync(process.env.OPENCUE_E2E_LOG, bridge.log);
    }
  });
});
