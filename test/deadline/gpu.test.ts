import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeadlineBridge, resolveConfig } from '@spillway/bridge-deadline';
import { FakeDeadline } from '@spillway/bridge-deadline/testing';
import { createLogger, type Frame, type Job } from '@spillway/sdk';
import { startTestService, type TestService } from '../support/service';

// GIVEN a real service (local engine) with its CPU default group and a GPU group on an
// N-series size (Standard_NC4as_T4_v3: 1 T4 per node, device OPTIX), the testing farm with no
// worker online, and two Blender-plugin jobs — one with ExtraInfo SpillwayGpus=1, one without;
// the stand-in renderer writes its own arguments into each frame
// WHEN the bridge (--gpu-group gpu) offloads both
// THEN the GPU job's frames ran on the GPU group's nodes with `-- --cycles-device OPTIX`, the
// CPU job's on the CPU group without any GPU flag; the GPU group's nodes report 1 GPU; and a
// CPU job submitted straight to the GPU group is refused (as is a GPU job to the CPU group).

const RENDERER = `#!/bin/sh
all="$*"; out=""; s=""; e=""
while [ $# -gt 0 ]; do
  case "$1" in -o) out="$2"; shift ;; -s) s="$2"; shift ;; -e) e="$2"; shift ;; esac
  shift
done
n=$s
while [ "$n" -le "$e" ]; do
  f=$(printf '%s' "$out" | sed "s/####/$(printf %04d "$n")/")
  mkdir -p "$(dirname "$f")"
  printf '%s|%s\\n' "$all" "$SPILLWAY_GPU_DEVICE" > "$f.png"
  n=$((n + 1))
done
`;

describe('GPU capacity groups', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-deadline-gpu-'));
  let svc: TestService;
  let deadline: FakeDeadline;

  beforeAll(async () => {
    fs.writeFileSync(path.join(work, 'shot.blend'), 'BLENDER-v300 stand-in scene');
    fs.writeFileSync(path.join(work, 'blender.sh'), RENDERER, { mode: 0o755 });
    svc = await startTestService({ nodes: 1 });
    await svc.client.capacity.ensure({
      name: 'gpu',
      mode: 'frame-offload',
      vmSize: 'Standard_NC4as_T4_v3',
      maxDedicatedNodes: 1,
      gpu: { device: 'OPTIX' },
    });
    await svc.client.capacity.resize('gpu', { dedicated: 1, spot: 0 });
    // No local worker: every task of both jobs overflows to the cloud.
    deadline = await FakeDeadline.start({ startWorkers: false, workers: [] });
  }, 60_000);
  afterAll(async () => {
    await deadline.close();
    await svc.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('the GPU group takes the count from its VM size and its nodes report it', async () => {
    const group = await svc.client.capacity.get('gpu');
    expect(group.gpu).toEqual({ count: 1, device: 'OPTIX' });
    const nodes = await svc.client.capacity.nodes('gpu');
    expect(nodes.length).toBeGreaterThan(0);
    expect(nodes.every((n) => n.gpus === 1)).toBe(true);
    expect((await svc.client.capacity.nodes('default')).every((n) => n.gpus === 0)).toBe(true);
  });

  it('a GPU Blender job carries the GPU flag on the GPU group; a CPU job runs without it on the CPU group', async () => {
    const submit = (name: string, gpus: boolean): string => {
      const out = path.join(work, name);
      fs.mkdirSync(out, { recursive: true });
      return deadline.submitJob(
        {
          Plugin: 'Blender',
          Name: name,
          Frames: '1-2',
          ChunkSize: 1,
          OutputDirectory0: out,
          ExtraInfoKeyValue0: `SpillwayDeadline=${new Date(Date.now() + 600_000).toISOString()}`,
          ...(gpus ? { ExtraInfoKeyValue1: 'SpillwayGpus=1' } : {}),
        },
        { SceneFile: path.join(work, 'shot.blend'), OutputFile: path.join(out, 'frame_####') },
      );
    };
    const gpuJob = submit('gpu-job', true);
    const cpuJob = submit('cpu-job', false);
    const lines: string[] = [];
    const bridge = await DeadlineBridge.start(
      resolveConfig({
        webservice: deadline.url,
        service: svc.address,
        stateDir: path.join(work, 'state'),
        pollIntervalMs: 200,
        gpuCapacityGroup: 'gpu',
        executables: { blender: path.join(work, 'blender.sh') },
      }),
      { logger: createLogger({ name: 'deadline', level: 'debug', write: (l) => lines.push(l) }) },
    );
    try {
      await deadline
        .waitFor(
          () => [gpuJob, cpuJob].every((j) => deadline.tasks(j).every((t) => t.state === 'completed')),
          180_000,
          'both jobs completed from the cloud',
        )
        .catch((err: Error) => {
          throw new Error(`${err.message}\n${lines.slice(-60).join('\n')}`);
        });
    } finally {
      await bridge.close();
    }
    for (const n of [1, 2]) {
      const name = `frame_${String(n).padStart(4, '0')}.png`;
      const gpu = fs.readFileSync(path.join(work, 'gpu-job', name), 'utf8');
      const cpu = fs.readFileSync(path.join(work, 'cpu-job', name), 'utf8');
      expect(gpu).toMatch(new RegExp(`-s ${n} -e ${n} -a -- --cycles-device OPTIX\\|OPTIX\\n$`));
      expect(cpu).toMatch(new RegExp(`-s ${n} -e ${n} -a\\|\\n$`));
      expect(cpu).not.toContain('cycles-device');
    }
    // Where each job's frames ran, as the service recorded it.
    const framesOf = async (sourceJobId: string): Promise<Frame[]> => {
      let job: Job | undefined;
      for await (const j of svc.client.listJobs()) if (j.spec.sourceJobId === sourceJobId) job = j;
      if (!job) throw new Error(`no service job for ${sourceJobId}`);
      const frames: Frame[] = [];
      for await (const f of svc.client.listFrames(job.jobId)) frames.push(f);
      expect(job.spec.capacityGroup ?? 'default').toBe(sourceJobId === gpuJob ? 'gpu' : 'default');
      expect(job.spec.gpus ?? 0).toBe(sourceJobId === gpuJob ? 1 : 0);
      return frames;
    };
    const gpuNodes = new Set((await svc.client.capacity.nodes('gpu')).map((n) => n.nodeId));
    for (const f of await framesOf(gpuJob)) expect(gpuNodes.has(f.nodeId!)).toBe(true);
    for (const f of await framesOf(cpuJob)) expect(gpuNodes.has(f.nodeId!)).toBe(false);
  }, 240_000);

  it('a CPU job never lands on the GPU group, a GPU job never on a CPU group', async () => {
    const frames = [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1 }];
    await expect(
      svc.client.submitFrames(
        { source: 't', sourceJobId: 'cpu', capacityGroup: 'gpu', commandTemplate: 'true' },
        frames,
      ),
    ).rejects.toThrow(
      /capacity group "gpu" has GPUs \(1 per node\) and takes only jobs that need them .* submit it to "default"/,
    );
    await expect(
      svc.client.submitFrames({ source: 't', sourceJobId: 'g', gpus: 1, commandTemplate: 'true' }, frames),
    ).rejects.toThrow(/needs 1 GPU\(s\) per frame and capacity group "default" has none; submit to "gpu"/);
  });
});
