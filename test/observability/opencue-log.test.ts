import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HostStateStore, resolveConfig, VirtualHost, type RunFrame } from '@spillway/bridge-opencue';
import { FakeCuebot } from '@spillway/bridge-opencue/testing';
import { startTestService, type TestService } from '../support/service';
import { freePort } from '../opencue/ports';
import { slowLinesLog } from './support';

// GIVEN the OpenCue virtual host running a frame in the cloud, with the log directory Cuebot gave
// WHEN the frame renders
// THEN its log grows in <log_dir>/<job>.<frame>.rqlog (where RQD writes it, where CueGUI reads
// it) while the frame runs, and is whole before Cuebot hears the frame ended.
describe('OpenCue: the cloud log in the frame log path', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-opencue-log-'));
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

  it('writes the log as it grows', async () => {
    const logDir = path.join(work, 'logs', 'pipe-sh030');
    const run: RunFrame = {
      resource_id: 'res-9',
      job_id: 'job-9',
      job_name: 'pipe-sh030',
      frame_id: 'frame-9',
      frame_name: '0009-beauty',
      layer_id: 'layer-9',
      command: 'for i in 1 2 3 4; do echo "frame 9 line $i"; sleep 1; done',
      user_name: 'artist',
      log_dir: logDir,
      show: 'pipe',
      shot: 'sh030',
      frame_temp_dir: '',
      start_time: Date.now(),
      num_cores: 100,
      gid: 0,
      ignore_nimby: false,
      environment: { CUE_IFRAME: '9' },
      attributes: {},
      num_gpus: 0,
      os: 'linux',
      soft_memory_limit: 0,
      hard_memory_limit: 0,
    };
    // A launch Cuebot made and the host answered: its cloud job submitted as the host submits
    // it, and recorded with its id (a restarted host follows the logs of the launches it has).
    const cloudSourceJobId = `${run.job_id}/${run.frame_id}/1`;
    const submitted = await svc.client.submitFrames(
      {
        source: 'opencue:azure-l',
        sourceKind: 'opencue',
        sourceJobId: cloudSourceJobId,
        name: `${run.job_name}/${run.frame_name}`,
        commandTemplate: run.command,
        environment: run.environment,
      },
      [{ sourceTaskId: run.frame_id, frameStart: 9, frameEnd: 9, command: run.command }],
    );
    const stateDir = path.join(work, 'state');
    new HostStateStore(path.join(stateDir, 'azure-l.json')).update((s) => {
      s.generations[run.frame_id] = 1;
      s.launches[run.frame_id] = {
        frameId: run.frame_id,
        resourceId: run.resource_id,
        run,
        generation: 1,
        cloudSourceJobId,
        cloudJobId: submitted.jobId,
        launchedAt: Date.now(),
      };
    });
    host = await VirtualHost.start(
      resolveConfig(
        {},
        {
          cuebot: cuebot.address,
          service: svc.address,
          hostName: 'azure-l',
          rqdPort: await freePort(),
          rqdListenHost: '127.0.0.1',
          reportIntervalMs: 200,
          stateDir,
        },
      ),
    );
    const file = path.join(logDir, 'pipe-sh030.0009-beauty.rqlog');
    await cuebot.waitFor(
      () => fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes('frame 9 line 1\n'),
      {
        what: 'the first line in the frame log path',
        timeoutMs: 60_000,
      },
    );
    // Still rendering: Cuebot has not heard of its end.
    expect(cuebot.completions.some((c) => c.frameId === run.frame_id)).toBe(false);
    expect(fs.readFileSync(file, 'utf8')).not.toContain('line 4');

    await cuebot.waitFor(() => cuebot.completions.some((c) => c.frameId === run.frame_id), {
      what: 'the completion report',
      timeoutMs: 60_000,
    });
    expect(cuebot.completions.find((c) => c.frameId === run.frame_id)).toMatchObject({ exitStatus: 0 });
    // Whole by then: the command's lines, then the node script's summary.
    expect(fs.readFileSync(file, 'utf8').startsWith(slowLinesLog(9, 4))).toBe(true);
  }, 120_000);
});
