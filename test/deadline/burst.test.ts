import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLogger, type Frame } from '@spillway/sdk';
import { FakeDeadline, hasBlender, makeBlenderScene } from '@spillway/bridge-deadline/testing';
import { startTestService, type TestService } from '../support/service';

// GIVEN a real Spillway service (local engine, 2 nodes), a fake Deadline Web Service with 2
// simulated workers that really run Blender, a 24-frame Blender job whose paths are Windows
// paths (Z:\...) mapped to this machine, a cloud wrapper that makes frame 24 fail in the
// cloud, and the bridge as a real child process (`spillway-deadline`, built by `tsc -b`)
// WHEN the bridge offloads the overflow, is SIGKILLed mid-run and restarted on its state
// THEN the scene went to the cloud through the service's AssetService, every task ends
// Completed in Deadline, every frame's PNG is in the output directory exactly once (nothing
// left in staging; cloud frames' PNGs fetched from Blob Storage through the service and
// matching their nodes' hashes), no task was rendered to success both locally and in the
// cloud, frame 24 failed in the cloud and was rendered locally instead, and no task command
// ever went out with an empty task list.

const repoRoot = path.resolve(__dirname, '../..');
const bin = path.join(repoRoot, 'bridges/deadline/bin/spillway-deadline.js');
const FRAMES = 24;
const FAIL_FRAME = 24;

async function waitFor(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const blender = hasBlender();
(blender ? describe : describe.skip)('Deadline bridge end to end', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-deadline-e2e-'));
  const farm = path.join(work, 'farm'); // what Z:\ is on this machine
  const outDir = path.join(farm, 'renders');
  const stateDir = path.join(work, 'bridge-state');
  const rules = [{ from: 'Z:\\', to: farm }];
  let svc: TestService;
  let deadline: FakeDeadline;
  let bridge: ChildProcess | undefined;
  let logs = '';
  let serviceLogs = '';

  const startBridge = (): ChildProcess => {
    const child = spawn(
      process.execPath,
      [
        bin,
        '--webservice',
        deadline.url,
        '--user',
        'spillway',
        '--password-file',
        path.join(work, 'dl.pw'),
        '--service',
        svc.address,
        '--name',
        'e2e',
        '--state-dir',
        stateDir,
        '--poll-interval-ms',
        '500',
        '--log-level',
        'debug',
        '--config',
        path.join(work, 'bridge.json'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SPILLWAY_CONFIG: '' } },
    );
    child.stdout!.on('data', (d: Buffer) => (logs += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
    return child;
  };
  /** The tail of every cloud task's output (for a failure message). */
  const cloudTaskLogs = (): string => {
    const nodes = path.join(svc.dataDir, 'engine', 'nodes');
    const out: string[] = [];
    const walk = (dir: string): void => {
      for (const e of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : []) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (/^std(out|err)\.txt$/.test(e.name))
          out.push(`${path.relative(nodes, p)}: ${fs.readFileSync(p, 'utf8').slice(-600)}`);
      }
    };
    walk(nodes);
    return out.join('\n');
  };
  const kill = async (child: ChildProcess, signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  };

  beforeAll(async () => {
    fs.mkdirSync(outDir, { recursive: true });
    await makeBlenderScene(path.join(farm, 'shot.blend'), { frames: FRAMES, resolution: 48, samples: 2 });
    fs.writeFileSync(path.join(work, 'dl.pw'), 'deadline-Secret-42\n', { mode: 0o600 });
    const wrapper = path.join(work, 'cloud-wrapper.sh');
    fs.writeFileSync(
      wrapper,
      `#!/bin/sh\nif [ "$DEADLINE_FRAME_START" = "${FAIL_FRAME}" ]; then echo "forced cloud failure" >&2; exit 3; fi\nexec "$@"\n`,
      { mode: 0o755 },
    );
    fs.writeFileSync(
      path.join(work, 'bridge.json'),
      JSON.stringify({ pathRules: rules, commandWrapper: wrapper, cloudRetries: 1 }),
    );
    svc = await startTestService({
      nodes: 2,
      slotsPerNode: 1,
      logger: createLogger({ name: 'service', write: (line) => (serviceLogs += line + '\n') }),
    });
    deadline = await FakeDeadline.start({
      user: 'spillway',
      password: 'deadline-Secret-42',
      pathRules: rules,
    });
  }, 120_000);

  afterAll(async () => {
    if (bridge) await kill(bridge, 'SIGKILL');
    await deadline?.close();
    await svc?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('offloads the overflow, survives a SIGKILL, and ends with every frame once', async () => {
    const jobId = deadline.submitJob(
      {
        Plugin: 'Blender',
        Name: 'shot010',
        Frames: `1-${FRAMES}`,
        ChunkSize: 1,
        Priority: 60,
        OutputDirectory0: 'Z:\\renders',
        OutputFilename0: 'frame_####.png',
        ExtraInfoKeyValue0: `SpillwayDeadline=${new Date(Date.now() + 600_000).toISOString()}`,
      },
      { SceneFile: 'Z:\\shot.blend', OutputFile: 'Z:\\renders\\frame_####' },
    );
    bridge = startBridge();

    // WHEN the bridge has offloaded tasks and completed at least one from the cloud
    await waitFor('a cloud completion', () => /INFO .*completed/.test(logs), 60_000).catch((err: Error) => {
      throw new Error(
        `${err.message}\nbridge logs:\n${logs}\nservice logs:\n${serviceLogs.slice(-4000)}\ncloud tasks:\n${cloudTaskLogs()}`,
      );
    });
    // ...it is killed mid-run, while cloud frames are still running
    await kill(bridge, 'SIGKILL');
    const killedAt = deadline.tasks(jobId).filter((t) => t.state === 'suspended').length;
    await new Promise((r) => setTimeout(r, 1500));
    bridge = startBridge();

    await waitFor(
      'every task Completed',
      () => deadline.tasks(jobId).every((t) => t.state === 'completed'),
      90_000,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}\ntasks: ${JSON.stringify(deadline.tasks(jobId))}\nbridge logs:\n${logs}\nservice logs:\n${serviceLogs}`,
      );
    });
    await kill(bridge, 'SIGTERM');
    bridge = undefined;

    // THEN every task is Completed, and the output folder holds exactly the frames: every
    // frame's PNG once, nothing else (no staging folder, no partial file)
    const expected = Array.from({ length: FRAMES }, (_, i) => `frame_${String(i + 1).padStart(4, '0')}.png`);
    expect(fs.readdirSync(outDir).sort()).toEqual(expected);
    for (const f of expected) expect(fs.statSync(path.join(outDir, f)).size).toBeGreaterThan(0);

    // ...the cloud did part of the work, each task succeeded once (locally XOR in the cloud)
    const svcJob = await svc.client.getJob({ source: 'deadline:e2e', sourceJobId: jobId });
    const frames: Frame[] = [];
    for await (const f of svc.client.listFrames(svcJob.jobId)) frames.push(f);
    const cloudOk = new Set(
      frames.filter((f) => f.state === 'succeeded').map((f) => Number(f.key.sourceTaskId)),
    );
    expect(cloudOk.size).toBeGreaterThan(0);
    // ...the cloud read the scene synced through the service (job preparation placed it on
    // every node that ran a frame), not the farm's disk
    const manifestId = svcJob.spec.assetManifestId;
    expect(manifestId).toMatch(/^[0-9a-f]{64}$/);
    const nodesDir = path.join(svc.dataDir, 'engine', 'nodes');
    const placedScenes = fs
      .readdirSync(nodesDir)
      .map((n) => path.join(nodesDir, n, 'shared', 'spillway-assets', manifestId!, 'shot.blend'))
      .filter((f) => fs.existsSync(f));
    expect(placedScenes.length).toBeGreaterThan(0);
    for (const f of placedScenes)
      expect(fs.readFileSync(f).equals(fs.readFileSync(path.join(farm, 'shot.blend')))).toBe(true);
    expect(logs).toMatch(/INFO .*synced assets/);
    // ...and what it rendered came back from Blob Storage through the service: each cloud
    // frame's PNG is the very file its node hashed (the task wrote it in its own directory).
    for (const f of frames.filter((x) => x.state === 'succeeded')) {
      expect(f.outputs.map((o) => o.path)).toEqual([`frame_${String(f.frameStart).padStart(4, '0')}.png`]);
      const placed = fs.readFileSync(path.join(outDir, f.outputs[0]!.path));
      expect(createHash('sha256').update(placed).digest('hex')).toBe(f.outputs[0]!.sha256);
    }
    expect(new Set(frames.map((f) => f.key.sourceTaskId)).size).toBe(frames.length);
    for (let task = 0; task < FRAMES; task++) {
      const localOk = deadline.renders.filter(
        (r) => r.jobId === jobId && r.taskId === task && r.exitCode === 0,
      ).length;
      expect({ task, runs: localOk + (cloudOk.has(task) ? 1 : 0) }).toEqual({ task, runs: 1 });
    }

    // ...the frame forced to fail in the cloud failed there and was rendered locally
    const failed = frames.find((f) => f.key.sourceTaskId === String(FAIL_FRAME - 1));
    expect(failed?.state).toBe('failed');
    expect(deadline.renders.some((r) => r.taskId === FAIL_FRAME - 1 && r.exitCode === 0)).toBe(true);
    expect(logs).toMatch(/cloud frame failed; task resumed on the local farm/);

    // ...no task command ever carried an empty list, and the password never reached a log
    expect(deadline.taskCommands.length).toBeGreaterThan(0);
    for (const c of deadline.taskCommands)
      expect(Array.isArray(c.taskList) && (c.taskList as unknown[]).length > 0).toBe(true);
    expect(logs).not.toContain('deadline-Secret-42');
    expect(logs).toMatch(/INFO .*offloaded/);
    expect(logs).toMatch(/INFO .*reconciled/);
    console.log(`cloud frames succeeded: ${cloudOk.size}/${FRAMES}; suspended at the kill: ${killedAt}`);
  }, 150_000);
});
