import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeadlineBridge, resolveConfig } from '@spillway/bridge-deadline';
import { FakeDeadline } from '@spillway/bridge-deadline/testing';
import { createLogger } from '@spillway/sdk';
import { startTestService, type TestService } from '../support/service';

// GIVEN a real service (local engine), a fake Deadline with no local worker, a chunked
// Blender-plugin job (frames 1-8, chunks of 2) whose renderer is a small stand-in script
// (it writes what Blender would: one file per frame named by the -o pattern), and the bridge
// WHEN the bridge offloads every task, the cloud renders them, and the outputs come back
// through Blob Storage and the service
// THEN the tasks it offloaded are Completed in Deadline and the job's output folder holds
// exactly their frames, with the bytes the cloud wrote: no `.spillway-staging`, no partial
// file. (How many tasks leave is the service's plan; every one that left comes back.)
// (The stand-in keeps this test about the bridge's output return, whatever the CPU load;
// `burst.test.ts` renders with real Blender.)

const FAKE_BLENDER = `#!/bin/sh
out=""; s=""; e=""
while [ $# -gt 0 ]; do
  case "$1" in -o) out="$2"; shift ;; -s) s="$2"; shift ;; -e) e="$2"; shift ;; esac
  shift
done
[ -n "$out" ] && [ -n "$s" ] || { echo "not a render call" >&2; exit 2; }
n=$s
while [ "$n" -le "$e" ]; do
  f=$(printf '%s' "$out" | sed "s/####/$(printf %04d "$n")/")
  mkdir -p "$(dirname "$f")"
  printf 'PNG frame %s\\n' "$n" > "$f.png"
  n=$((n + 1))
done
`;

describe('Deadline bridge output return', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-deadline-out-'));
  const outDir = path.join(work, 'renders');
  let svc: TestService;
  let deadline: FakeDeadline;

  beforeAll(async () => {
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(work, 'shot.blend'), 'BLENDER-v300 stand-in scene');
    fs.writeFileSync(path.join(work, 'blender.sh'), FAKE_BLENDER, { mode: 0o755 });
    svc = await startTestService({ nodes: 2 });
    deadline = await FakeDeadline.start({ startWorkers: false });
  }, 60_000);
  afterAll(async () => {
    await deadline.close();
    await svc.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('places exactly the frames in the output folder and completes the tasks', async () => {
    const jobId = deadline.submitJob(
      {
        Plugin: 'Blender',
        Name: 'chunked',
        Frames: '1-8',
        ChunkSize: 2,
        OutputDirectory0: outDir,
        ExtraInfoKeyValue0: `SpillwayDeadline=${new Date(Date.now() + 600_000).toISOString()}`,
      },
      { SceneFile: path.join(work, 'shot.blend'), OutputFile: path.join(outDir, 'frame_####') },
    );
    const lines: string[] = [];
    const bridge = await DeadlineBridge.start(
      resolveConfig({
        webservice: deadline.url,
        service: svc.address,
        stateDir: path.join(work, 'state'),
        pollIntervalMs: 200,
        executables: { blender: path.join(work, 'blender.sh') },
      }),
      { logger: createLogger({ name: 'deadline', level: 'debug', write: (l) => lines.push(l) }) },
    );
    try {
      await deadline
        .waitFor(
          () => {
            const tasks = deadline.tasks(jobId);
            return (
              tasks.filter((t) => t.state === 'completed').length >= 2 &&
              !tasks.some((t) => t.state === 'suspended')
            );
          },
          90_000,
          'two tasks Completed and none left in the cloud',
        )
        .catch((err: Error) => {
          throw new Error(`${err.message}\n${lines.join('\n')}`);
        });
    } finally {
      await bridge.close();
    }
    const completed = deadline.tasks(jobId).filter((t) => t.state === 'completed');
    expect(bridge.counters.completed).toBe(completed.length);
    // Task N of chunks of 2 renders frames 2N+1 and 2N+2.
    const frames = completed
      .flatMap((t) => [2 * t.taskId + 1, 2 * t.taskId + 2])
      .sort((a, b) => a - b)
      .map((n) => ({ n, name: `frame_${String(n).padStart(4, '0')}.png` }));
    expect(fs.readdirSync(outDir).sort()).toEqual(frames.map((f) => f.name));
    for (const f of frames)
      expect(fs.readFileSync(path.join(outDir, f.name), 'utf8')).toBe(`PNG frame ${f.n}\n`);
    // Each completed task's cloud log is kept (Deadline's Web Service cannot add a task
    // report) and named in the line that completes the task.
    for (const t of completed) {
      const log = path.join(work, 'state', 'logs', jobId, `task-${t.taskId}.log`);
      expect(fs.readFileSync(log, 'utf8')).toMatch(
        /\{"files": 2, "bytes": 24, "outputs": "outputs.json"\}\n$/,
      );
      expect(lines.some((l) => l.includes(`task=${t.taskId}`) && l.includes(`cloudLog=${log}`))).toBe(true);
    }
  }, 120_000);
});
