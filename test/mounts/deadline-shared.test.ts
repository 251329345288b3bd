import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeadlineBridge, resolveConfig } from '@spillway/bridge-deadline';
import { FakeDeadline } from '@spillway/bridge-deadline/testing';
import { createLogger } from '@spillway/sdk';
import { startTestService, type TestService } from '../support/service';

// GIVEN a studio whose Windows submitters name the project share `P:\` (on this host the
// share is a directory, `projects/`, which the path rules map `P:\` to), a capacity group
// whose nodes mount that share over NFS (`projects`, writable; on the embedded engine a local
// directory stands in for the export), a fake Deadline with no local worker, and a Blender-
// plugin job `P:\proj\shot.blend` (a texture beside it, listed in SpillwayAssets) rendering
// to `P:\proj\renders` — the renderer is a stand-in script that reads the scene and the
// texture and writes one file per frame
// WHEN the bridge runs with `P:\` declared SHARED through the mount `projects`
// THEN the job renders on Linux nodes through the mount and path mapping: 0 asset bytes are
// uploaded, the frames are written to the share by the nodes (no temporary file left) and
// verified in place (0 output bytes fetched), and the offloaded tasks are Completed;
// AND WHEN the same job runs with `P:\` declared LOCAL
// THEN its scene and texture are synced and its outputs come back through Blob Storage, as
// without a profile. Both print the bytes moved.

const FAKE_BLENDER = `#!/bin/sh
scene=""; out=""; s=""; e=""
while [ $# -gt 0 ]; do
  case "$1" in -b) scene="$2"; shift ;; -o) out="$2"; shift ;; -s) s="$2"; shift ;; -e) e="$2"; shift ;; esac
  shift
done
tex="$(dirname "$scene")/tex/wood.png"
echo "$scene" >> "$(dirname "$0")/scenes-read.txt"
[ -f "$scene" ] || { echo "no scene at $scene" >&2; exit 3; }
[ -f "$tex" ] || { echo "no texture at $tex" >&2; exit 4; }
n=$s
while [ "$n" -le "$e" ]; do
  f=$(printf '%s' "$out" | sed "s/####/$(printf %04d "$n")/")
  mkdir -p "$(dirname "$f")"
  { printf 'frame %s of ' "$n"; cat "$scene" "$tex"; } > "$f.png"
  n=$((n + 1))
done
`;

const SCENE = 'BLENDER-v300 stand-in scene\n';
const TEXTURE = 'wood texture pixels\n'.repeat(500);

describe('storage profiles: a SHARED location renders through the mount, a LOCAL one syncs', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-mounts-deadline-'));
  const share = path.join(work, 'projects');
  let svc: TestService;
  /** The service's log, shown when a leg times out. */
  const serviceLines: string[] = [];

  beforeAll(async () => {
    fs.mkdirSync(path.join(share, 'proj', 'tex'), { recursive: true });
    fs.mkdirSync(path.join(share, 'proj', 'renders'), { recursive: true });
    fs.writeFileSync(path.join(share, 'proj', 'shot.blend'), SCENE);
    fs.writeFileSync(path.join(share, 'proj', 'tex', 'wood.png'), TEXTURE);
    fs.writeFileSync(path.join(work, 'blender.sh'), FAKE_BLENDER, { mode: 0o755 });
    svc = await startTestService({
      nodes: 1,
      logger: createLogger({ name: 'service', level: 'info', write: (l) => serviceLines.push(l) }),
      config: { 'compute.local.shares': { 'nas.studio.internal:/export/projects': share } },
    });
    await svc.client.capacity.ensure({
      name: 'shared',
      mode: 'frame-offload',
      vmSize: 'local',
      maxDedicatedNodes: 2,
      mounts: [
        { name: 'projects', kind: 'nfs', source: 'nas.studio.internal:/export/projects', writable: true },
      ],
    });
    await svc.client.capacity.resize('shared', { dedicated: 2, spot: 0 });
  }, 60_000);
  afterAll(async () => {
    await svc.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  async function run(
    storage: 'shared' | 'local',
    name: string,
  ): Promise<{ counters: DeadlineBridge['counters']; completed: number[]; renders: string; log: string }> {
    const deadline = await FakeDeadline.start({ startWorkers: false });
    const renders = `P:\\${name}\\renders`;
    fs.mkdirSync(path.join(share, name, 'tex'), { recursive: true });
    fs.mkdirSync(path.join(share, name, 'renders'), { recursive: true });
    fs.copyFileSync(path.join(share, 'proj', 'shot.blend'), path.join(share, name, 'shot.blend'));
    fs.copyFileSync(path.join(share, 'proj', 'tex', 'wood.png'), path.join(share, name, 'tex', 'wood.png'));
    const jobId = deadline.submitJob(
      {
        Plugin: 'Blender',
        Name: `${storage} job`,
        Frames: '1-8',
        ChunkSize: 2,
        OutputDirectory0: renders,
        ExtraInfoKeyValue0: `SpillwayDeadline=${new Date(Date.now() + 600_000).toISOString()}`,
        ExtraInfoKeyValue1: `SpillwayAssets=P:\\${name}\\tex\\wood.png`,
      },
      { SceneFile: `P:\\${name}\\shot.blend`, OutputFile: `${renders}\\frame_####` },
    );
    const lines: string[] = [];
    const bridge = await DeadlineBridge.start(
      resolveConfig({
        webservice: deadline.url,
        service: svc.address,
        stateDir: path.join(work, `state-${name}`),
        pollIntervalMs: 200,
        capacityGroup: 'shared',
        pathRules: [{ from: 'P:\\', to: share }],
        storageLocations: [
          storage === 'shared'
            ? { path: 'P:\\', storage: 'shared', mount: 'projects' }
            : { path: 'P:\\', storage: 'local' },
        ],
        executables: { blender: path.join(work, 'blender.sh') },
      }),
      { logger: createLogger({ name: 'deadline', level: 'debug', write: (l) => lines.push(l) }) },
    );
    try {
      await deadline
        .waitFor(
          () => {
            const tasks = deadline.tasks(jobId);
            const completed = tasks.filter((t) => t.state === 'completed').length;
            // The bridge counts a completion once Deadline answered it: wait for that answer too.
            return (
              completed >= 2 &&
              !tasks.some((t) => t.state === 'suspended') &&
              bridge.counters.completed === completed
            );
          },
          300_000, // a liveness bound: the shared 2-core machine runs many suites at once
          'two tasks Completed, none left in the cloud, and the bridge has seen every completion answered',
        )
        .catch((err: Error) => {
          throw new Error(
            `${err.message}\n${lines.join('\n')}\n--- service ---\n${serviceLines.slice(-80).join('\n')}`,
          );
        });
    } finally {
      await bridge.close();
      await deadline.close();
    }
    const completed = deadline
      .tasks(jobId)
      .filter((t) => t.state === 'completed')
      .map((t) => t.taskId);
    return {
      counters: { ...bridge.counters },
      completed,
      renders: path.join(share, name, 'renders'),
      log: lines.join('\n'),
    };
  }

  /** Scene paths the stand-in renderer was given, for one job's scene name. */
  function scenesRead(name: string): string[] {
    const file = path.join(work, 'scenes-read.txt');
    const all = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    return all.filter(
      (p) => p.includes(`/${name}/`) || (name === 'localshot' && p.includes('spillway-assets')),
    );
  }

  function expectFrames(dir: string, completed: number[]): void {
    const frames = completed.flatMap((t) => [2 * t + 1, 2 * t + 2]).sort((a, b) => a - b);
    expect(fs.readdirSync(dir).sort()).toEqual(frames.map((n) => `frame_${String(n).padStart(4, '0')}.png`));
    for (const n of frames)
      expect(fs.readFileSync(path.join(dir, `frame_${String(n).padStart(4, '0')}.png`), 'utf8')).toBe(
        `frame ${n} of ${SCENE}${TEXTURE}`,
      );
  }

  it('SHARED (a Windows-style job, P:\\ on Linux nodes through the mount): 0 asset bytes up, outputs verified in place', async () => {
    const r = await run('shared', 'winshot');
    console.log(
      `SHARED P:\\ through mount "projects": ${r.completed.length} tasks completed in the cloud; asset bytes uploaded ${r.counters.assetBytesUploaded}, output bytes fetched ${r.counters.outputBytesFetched}, output bytes verified in place ${r.counters.outputBytesVerifiedInPlace}`,
    );
    expect(r.counters.completed).toBe(r.completed.length);
    expect(r.counters.assetBytesUploaded).toBe(0);
    expect(r.counters.outputBytesFetched).toBe(0);
    expect(r.counters.outputBytesVerifiedInPlace).toBeGreaterThan(0);
    expect(r.log).not.toContain('synced assets');
    // The nodes read the scene through the mount: $SPILLWAY_MOUNT_PROJECTS, under the node's mounts directory.
    const read = scenesRead('winshot');
    expect(read.length).toBeGreaterThanOrEqual(r.completed.length);
    for (const p of read) expect(p).toMatch(/\/nodes\/[^/]+\/fsmounts\/projects\/winshot\/shot\.blend$/);
    // Only what the cloud rendered, named and filled as the renderer wrote it: no temporary file, no staging.
    expectFrames(r.renders, r.completed);
  }, 360_000);

  it('LOCAL (the same job): scene and texture synced, outputs fetched back through Blob Storage', async () => {
    const r = await run('local', 'localshot');
    console.log(
      `LOCAL P:\\: ${r.completed.length} tasks completed in the cloud; asset bytes uploaded ${r.counters.assetBytesUploaded}, output bytes fetched ${r.counters.outputBytesFetched}, output bytes verified in place ${r.counters.outputBytesVerifiedInPlace}`,
    );
    expect(r.counters.completed).toBe(r.completed.length);
    expect(r.counters.assetBytesUploaded).toBe(SCENE.length + TEXTURE.length);
    expect(r.counters.outputBytesFetched).toBeGreaterThan(0);
    expect(r.counters.outputBytesVerifiedInPlace).toBe(0);
    // The nodes read the synced copy, laid out from the node cache.
    const read = scenesRead('localshot');
    expect(read.length).toBeGreaterThanOrEqual(r.completed.length);
    for (const p of read) expect(p).toMatch(/spillway-assets\/[0-9a-f]{64}\/shot\.blend$/);
    expectFrames(r.renders, r.completed);
  }, 360_000);
});
