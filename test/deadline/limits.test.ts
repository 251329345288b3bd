import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeadlineBridge, resolveConfig } from '@spillway/bridge-deadline';
import { FakeDeadline } from '@spillway/bridge-deadline/testing';
import { createLogger } from '@spillway/sdk';
import { startTestService, type TestService } from '../support/service';

// GIVEN a real service (local engine), the testing farm with 3 workers that could all take a
// job, and a Blender-plugin job of 8 tasks in the Deadline limit group `arnold` of 2 (a licence
// that serves two renders at once); every render — on a farm worker or a cloud node — logs
// when it starts and ends
// WHEN the bridge offloads part of the job while the workers come online
// THEN at no moment do more than 2 renders of the job run, locally and in the cloud together
// (measured from the renders' own start and end times), the cloud did render, the bridge set
// Deadline's limit lower while it held cloud frames and back to 2 at the end, and every task
// completes.

const renderer = (logFile: string): string => `#!/bin/sh
RENDER_LOG='${logFile}'
out=""; s=""; e=""
while [ $# -gt 0 ]; do
  case "$1" in -o) out="$2"; shift ;; -s) s="$2"; shift ;; -e) e="$2"; shift ;; esac
  shift
done
where=local; [ -n "$AZ_BATCH_TASK_ID" ] && where=cloud
echo "start $(date +%s%N) $where $s" >> "$RENDER_LOG"
sleep 2
n=$s
while [ "$n" -le "$e" ]; do
  f=$(printf '%s' "$out" | sed "s/####/$(printf %04d "$n")/")
  mkdir -p "$(dirname "$f")"
  printf 'frame %s\\n' "$n" > "$f.png"
  n=$((n + 1))
done
echo "end $(date +%s%N) $where $s" >> "$RENDER_LOG"
`;

/** The most renders running at once, from `start`/`end` lines (an end before a start at the same instant). */
function maxConcurrent(log: string): { max: number; cloud: number; local: number } {
  const events = log
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
    .map(([kind, ns, where]) => ({ kind: kind!, t: BigInt(ns!), where: where! }));
  events.sort((a, b) => (a.t === b.t ? (a.kind === 'end' ? -1 : 1) : a.t < b.t ? -1 : 1));
  let running = 0;
  let max = 0;
  for (const e of events) {
    running += e.kind === 'start' ? 1 : -1;
    max = Math.max(max, running);
  }
  const starts = events.filter((e) => e.kind === 'start');
  return {
    max,
    cloud: starts.filter((e) => e.where === 'cloud').length,
    local: starts.filter((e) => e.where === 'local').length,
  };
}

describe('Deadline limit groups hold for cloud frames too', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-deadline-limits-'));
  const outDir = path.join(work, 'renders');
  const log = path.join(work, 'renders.log');
  let svc: TestService;
  let deadline: FakeDeadline;

  beforeAll(async () => {
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(log, '');
    fs.writeFileSync(path.join(work, 'shot.blend'), 'BLENDER-v300 stand-in scene');
    fs.writeFileSync(path.join(work, 'blender.sh'), renderer(log), { mode: 0o755 });
    svc = await startTestService({ nodes: 3 });
    deadline = await FakeDeadline.start({
      startWorkers: false,
      workers: [{ name: 'worker-1' }, { name: 'worker-2' }, { name: 'worker-3' }],
      limits: { arnold: 2 },
      executables: { blender: path.join(work, 'blender.sh') },
    });
  }, 60_000);
  afterAll(async () => {
    await deadline.close();
    await svc.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('never more than 2 of the job render at once, local + cloud', async () => {
    const jobId = deadline.submitJob(
      {
        Plugin: 'Blender',
        Name: 'licensed',
        Frames: '1-8',
        ChunkSize: 1,
        LimitGroups: 'arnold',
        OutputDirectory0: outDir,
        ExtraInfoKeyValue0: `SpillwayDeadline=${new Date(Date.now() + 120_000).toISOString()}`,
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
    const fail = (err: Error): never => {
      throw new Error(`${err.message}\n${fs.readFileSync(log, 'utf8')}\n${lines.slice(-80).join('\n')}`);
    };
    try {
      // The plan offloads what the (not yet started) workers cannot take; the limit lets one go.
      await deadline
        .waitFor(() => deadline.tasks(jobId).some((t) => t.state === 'suspended'), 90_000, 'a task offloaded')
        .catch(fail);
      expect(deadline.limits.get('arnold')).toBe(1);
      deadline.startWorkers();
      await deadline
        .waitFor(
          () => deadline.tasks(jobId).every((t) => t.state === 'completed'),
          240_000,
          'every task completed',
        )
        .catch(fail);
      // The last cloud frame came back: the bridge gives the farm its limit back.
      await deadline
        .waitFor(() => deadline.limits.get('arnold') === 2, 30_000, 'the limit restored')
        .catch(fail);
    } finally {
      await bridge.close();
    }
    const seen = maxConcurrent(fs.readFileSync(log, 'utf8'));
    expect(seen.cloud).toBeGreaterThanOrEqual(1);
    expect(seen.local).toBeGreaterThanOrEqual(1);
    expect(seen.max).toBeLessThanOrEqual(2);
    // Deadline's own view agrees: its limit was only ever lowered by the cloud frames held.
    expect(deadline.limitChanges.every((c) => c.name === 'arnold' && c.limit >= 1 && c.limit <= 2)).toBe(
      true,
    );
    expect(
      fs
        .readdirSync(outDir)
        .filter((f) => f.endsWith('.png'))
        .sort(),
    ).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => `frame_${String(n).padStart(4, '0')}.png`));
  }, 400_000);
});
