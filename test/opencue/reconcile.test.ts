import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HostStateStore, resolveConfig, VirtualHost, type RunFrame } from '@spillway/bridge-opencue';
import { FakeCuebot } from '@spillway/bridge-opencue/testing';
import { startTestService, type TestService } from '../support/service';
import { freePort } from './ports';

// GIVEN a virtual host that crashed after recording a launch and before the service
// answered its SubmitFrames (its state file holds the launch without a cloud job id)
// WHEN it starts again against a real service
// THEN it submits the frame (once), reports it in its status while it runs, reports its
// completion with the resource id Cuebot booked, and its state drains.

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

  it('GIVEN a launch recorded but never submitted WHEN the host restarts THEN it runs once and is reported', async () => {
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
        launchedAt: Date.now(),
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

    await cuebot.waitFor(() => cuebot.completions.some((c) => c.frameId === run.frame_id), {
      what: 'the completion report',
      timeoutMs: 30_000,
    });
    const completion = cuebot.completions.find((c) => c.frameId === run.frame_id)!;
    expect(completion).toMatchObject({ resourceId: 'res-1', exitStatus: 0, exitSignal: 0, host: 'azure-r' });
    const job = await svc.client.getJob({ source: 'opencue:azure-r', sourceJobId: 'job-1/frame-7/1' });
    expect(job.counts.succeeded).toBe(1);
    expect(fs.readFileSync(out, 'utf8')).toBe('once\n');
    await cuebot.waitFor(
      () =>
        Object.keys(new HostStateStore(path.join(stateDir, 'azure-r.json')).current.launches).length === 0,
      { what: 'the state to drain', timeoutMs: 5000 },
    );
    // The host is in its burst allocation, locked (nothing local is saturated here).
    expect(cuebot.getHosts().find((h) => h.name === 'azure-r')).toMatchObject({
      alloc_name: 'cloud.burst',
      lock_state: 'LOCKED',
      cores: 16,
    });
  });
});
