import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeadlineBridge, resolveConfig } from '@spillway/bridge-deadline';
import { FakeDeadline } from '@spillway/bridge-deadline/testing';
import { BurstServiceError, createLogger } from '@spillway/sdk';
import { startTestService, type TestService } from '../support/service';

// GIVEN a capacity group whose nodes should mount the project share over NFS, but the export
// is missing on its nodes (on the embedded engine: the directory standing in for it does not
// exist, so the mount point is absent, as after a failed mount), a fake Deadline with one
// local worker and a job of 8 single-frame tasks under the SHARED location `P:\`
// WHEN the bridge offloads the overflow to that group
// THEN the group's preflight on one of its nodes finds the mount missing: the group is
// unhealthy with an error naming the mount, the offloaded frames come back (recalled, naming
// the mount) and further submissions are refused naming it, and every frame renders on the
// local worker.

const FAKE_BLENDER = `#!/bin/sh
scene=""; out=""; s=""; e=""
while [ $# -gt 0 ]; do
  case "$1" in -b) scene="$2"; shift ;; -o) out="$2"; shift ;; -s) s="$2"; shift ;; -e) e="$2"; shift ;; esac
  shift
done
[ -f "$scene" ] || { echo "no scene at $scene" >&2; exit 3; }
n=$s
while [ "$n" -le "$e" ]; do
  f=$(printf '%s' "$out" | sed "s/####/$(printf %04d "$n")/")
  mkdir -p "$(dirname "$f")"
  printf 'frame %s\\n' "$n" > "$f.png"
  n=$((n + 1))
done
`;

describe('a group whose mount is missing on its nodes', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-mounts-missing-'));
  const share = path.join(work, 'projects');
  let svc: TestService;

  beforeAll(async () => {
    fs.mkdirSync(path.join(share, 'proj', 'renders'), { recursive: true });
    fs.writeFileSync(path.join(share, 'proj', 'shot.blend'), 'BLENDER-v300 stand-in scene\n');
    fs.writeFileSync(path.join(work, 'blender.sh'), FAKE_BLENDER, { mode: 0o755 });
    svc = await startTestService({
      nodes: 1,
      // The export the nodes should mount is not there.
      config: { 'compute.local.shares': { 'nas.studio.internal:/export/projects': path.join(work, 'gone') } },
    });
    await svc.client.capacity.ensure({
      name: 'broken',
      mode: 'frame-offload',
      vmSize: 'local',
      maxDedicatedNodes: 1,
      mounts: [
        { name: 'projects', kind: 'nfs', source: 'nas.studio.internal:/export/projects', writable: true },
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await svc.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('refuses work with an error naming the mount, and the frames render locally', async () => {
    const deadline = await FakeDeadline.start({
      workers: [{ name: 'local-1' }],
      executables: { blender: path.join(work, 'blender.sh') },
      pathRules: [{ from: 'P:\\', to: share }],
      pollIntervalMs: 100,
    });
    const jobId = deadline.submitJob(
      {
        Plugin: 'Blender',
        Name: 'on the share',
        Frames: '1-8',
        ChunkSize: 1,
        OutputDirectory0: 'P:\\proj\\renders',
        ExtraInfoKeyValue0: `SpillwayDeadline=${new Date(Date.now() + 60_000).toISOString()}`,
      },
      { SceneFile: 'P:\\proj\\shot.blend', OutputFile: 'P:\\proj\\renders\\frame_####' },
    );
    const lines: string[] = [];
    const bridge = await DeadlineBridge.start(
      resolveConfig({
        webservice: deadline.url,
        service: svc.address,
        stateDir: path.join(work, 'state'),
        pollIntervalMs: 200,
        capacityGroup: 'broken',
        pathRules: [{ from: 'P:\\', to: share }],
        storageLocations: [{ path: 'P:\\', storage: 'shared', mount: 'projects' }],
        executables: { blender: path.join(work, 'blender.sh') },
      }),
      { logger: createLogger({ name: 'deadline', level: 'debug', write: (l) => lines.push(l) }) },
    );
    try {
      // The group's node comes up only once frames were sent to it: its preflight then fails
      // with the frames already there (they come back), and the plan keeps the rest local.
      // (With the node up first, the preflight may fail before the bridge's first plan, and no
      // frame is ever offloaded: a race, not the path this test follows.)
      await deadline.waitFor(() => bridge.counters.offloaded > 0, 60_000, 'frames offloaded to the group');
      await svc.client.capacity.resize('broken', { dedicated: 1, spot: 0 });
      await deadline
        .waitFor(
          () => deadline.tasks(jobId).every((t) => t.state === 'completed'),
          150_000,
          'every task Completed',
        )
        .catch((err: Error) => {
          throw new Error(`${err.message}\n${lines.join('\n')}`);
        });
    } finally {
      await bridge.close();
      await deadline.close();
    }
    const log = lines.join('\n');
    // Frames went to the group, and came back naming the missing mount.
    expect(bridge.counters.offloaded).toBeGreaterThan(0);
    expect(bridge.counters.recalled + bridge.counters.failedBack).toBeGreaterThan(0);
    expect(bridge.counters.completed).toBe(0);
    expect(log).toMatch(
      /mount \\?"projects\\?" \(nfs nas\.studio\.internal:\/export\/projects[^)]*\): not mounted/,
    );
    // Once the group is known unhealthy, the plan keeps the frames local: no submission loop.
    expect(log.split('submission failed').length - 1).toBeLessThanOrEqual(3);
    // Every frame rendered on the farm's own worker.
    const rendered = new Set(deadline.renders.filter((r) => r.exitCode === 0).map((r) => r.taskId));
    expect([...rendered].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(deadline.renders.every((r) => r.worker === 'local-1')).toBe(true);
    expect(fs.readdirSync(path.join(share, 'proj', 'renders')).sort()).toEqual(
      [1, 2, 3, 4, 5, 6, 7, 8].map((n) => `frame_${String(n).padStart(4, '0')}.png`),
    );
    // The group says why it is unhealthy, naming the mount; new work is refused naming it.
    const group = await svc.client.capacity.get('broken');
    expect(group.healthy).toBe(false);
    expect(group.preflight).toEqual(
      expect.objectContaining({
        state: 'failed',
        checks: ['mounts'],
        failures: [
          {
            code: 'MountUnavailable',
            subject: expect.stringMatching(
              /^mount "projects" \(nfs nas\.studio\.internal:\/export\/projects/,
            ),
            message: expect.stringContaining('not mounted'),
          },
        ],
      }),
    );
    expect(group.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          code: 'MountUnavailable',
          message: expect.stringContaining('mount "projects"'),
        }),
      ]),
    );
    const refused = await svc.client
      .submitFrames(
        { source: 'test:mounts', sourceJobId: 'more', capacityGroup: 'broken', commandTemplate: 'true' },
        [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1 }],
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(refused).toBeInstanceOf(BurstServiceError);
    expect((refused as BurstServiceError).code).toBe('FAILED_PRECONDITION');
    expect((refused as Error).message).toContain('mount "projects"');
  }, 200_000);
});
