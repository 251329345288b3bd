import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HostStateStore, resolveConfig, VirtualHost, type RunFrame } from '@spillway/bridge-opencue';
import { FakeCuebot } from '@spillway/bridge-opencue/testing';
import { startTestService, type TestService } from '../support/service';
import { freePort } from './ports';

// GIVEN a virtual host that crashed after recording a launch and before the service
// answered its SubmitFrames (its state file holds the launch without a cloud job id): it never
// answered Cuebot's LaunchFrame either, so Cuebot took the launch as failed and launches the
// frame again itself
// WHEN it starts again against a real service
// THEN it does not submit the frame again (that made a second render beside Cuebot's
// relaunch): it drops the launch, reports no completion for it, keeps its generation (a
// later launch here is a new cloud job), finds no cloud job to cancel, and its state drains.
// (test/opencue/restart-unanswered.test.ts: the same when the service did take the job.)

describe('virtual host restart reconciliation', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-opencue-reconcile-'));
  let svc: TestService;
  let cuebot: FakeCuebot;
  let host: VirtualHost | undefined;

  beforeAll(async () => {
    svc = await startTestService({ nodes: 1 });
    cuebot = await FakeCuebot.start();
  });
  afterAll(async () => {
    await host?.close();
    await cuebot.close();
    await svc.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('GIVEN a launch recorded but never answered WHEN the host restarts THEN it is dropped, not run', async () => {
    const out = path.join(work, 'ran');
    const run: RunFrame = {
      resource_id: 'res-1',
      job_id: 'job-1',
      job_name: 'pipe-sh020',
      frame_id: 'frame-7',
      frame_name: '0007-beauty',
      layer_id: 'layer-1',
      command: `echo once >> ${out}`,
      user_name: 'artist',
      log_dir: '',
      show: 'pipe',
      shot: 'sh020',
      frame_temp_dir: '',
      start_time: Date.now(),
      num_cores: 100,
      gid: 0,
      ignore_nimby: false,
      environment: { CUE_IFRAME: '7' },
      attributes: {},
      num_gpus: 0,
      os: 'linux',
      soft_memory_limit: 0,
      hard_memory_limit: 0,
    };
    const stateDir = path.join(work, 'state');
    new HostStateStore(path.join(stateDir, 'azure-r.json')).update((s) => {
      s.generations[run.frame_id] = 1;
      s.launches[run.frame_id] = {
        frameId: run.frame_id,
        resourceId: run.resource_id,
        run,
        generation: 1,
        cloudSourceJobId: `${run.job_id}/${run.frame_id}/1`,
        // Long enough ago that a submission sent before the crash would have reached the service.
        launchedAt: Date.now() - 120_000,
      };
    });

    host = await VirtualHost.start(
      resolveConfig(
        {},
        {
          cuebot: cuebot.address,
          service: svc.address,
          hostName: 'azure-r',
          rqdPort: await freePort(),
          rqdListenHost: '127.0.0.1',
          reportIntervalMs: 200,
          stateDir,
        },
      ),
    );

    // THEN the launch is gone from the state at once, and nothing is owed for it
    const state = new HostStateStore(path.join(stateDir, 'azure-r.json')).current;
    expect(state.launches).toEqual({});
    expect(state.generations).toEqual({ [run.frame_id]: 1 });
    await cuebot.waitFor(
      () => new HostStateStore(path.join(stateDir, 'azure-r.json')).current.abandoned === undefined,
      { what: 'the dropped launch settled', timeoutMs: 10_000 },
    );
    // AND the service has no cloud job for it, the frame never ran, and Cuebot got no completion
    const cloudJobs: string[] = [];
    for await (const j of svc.client.listJobs({ source: 'opencue:azure-r' }))
      cloudJobs.push(j.spec.sourceJobId);
    expect(cloudJobs).toEqual([]);
    expect(fs.existsSync(out)).toBe(false);
    expect(cuebot.completions.filter((c) => c.frameId === run.frame_id)).toEqual([]);
    // The host is in its burst allocation, locked (nothing local is saturated here).
    expect(cuebot.getHosts().find((h) => h.name === 'azure-r')).toMatchObject({
      alloc_name: 'cloud.burst',
      lock_state: 'LOCKED',
      cores: 16,
    });
  });
});
