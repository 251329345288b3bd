import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Frame } from '@spillway/sdk';
import * as storage from '@spillway/sdk/storage';
import { startTestService, type TestService } from '../support/service';
import { eventually, finishedFrames, random, serviceContainers, sha, tempDir, writeTree } from './helpers';

// Issue #24: a bounded node cache (LRU, never evicting what a running task uses), a free
// space check before materialising, and per-job clean-up by the job release step, all
// through the embedded engine: real job preparation, tasks and release on simulated nodes,
// the real node fetcher (python3), the real Azurite.

// Real services whose tasks run at the engine's render niceness (19): slow on a busy machine.
jest.setTimeout(300_000);
const dirs: (() => void)[] = [];
const tmp = (p: string): string => {
  const t = tempDir(p);
  dirs.push(t.remove);
  return t.dir;
};
afterAll(() => {
  for (const r of dirs) r();
});

/** The one node's shared directory. */
function sharedDir(service: TestService): string {
  const nodes = path.join(service.dataDir, 'engine', 'nodes');
  const [node] = fs.readdirSync(nodes);
  return path.join(nodes, node!, 'shared');
}

/** Content hashes in the node's cache. */
function cached(service: TestService): string[] {
  const cache = path.join(sharedDir(service), 'spillway-cache');
  if (!fs.existsSync(cache)) return [];
  return fs
    .readdirSync(cache)
    .filter((d) => d.length === 2)
    .flatMap((d) => fs.readdirSync(path.join(cache, d)))
    .sort();
}

/**
 * A job whose one frame checks its assets (sha256sum of every .bin into out/sums.txt) and
 * records the asset trees laid out on its node while it runs (out/trees.txt): once a job
 * ends, its release step removes its tree, so what the node held during a task is only
 * seen from the task.
 */
async function submitJob(
  service: TestService,
  name: string,
  manifestId: string,
  options: { waitFor?: string } = {},
): Promise<string> {
  const wait = options.waitFor ? `while [ ! -f ${options.waitFor} ]; do sleep 0.05; done; ` : '';
  const { jobId } = await service.client.submitFrames(
    {
      source: 'test',
      sourceJobId: name,
      assetManifestId: manifestId,
      commandTemplate:
        `${wait}cd "$SPILLWAY_ASSETS_DIR" && sha256sum *.bin > "$AZ_BATCH_TASK_WORKING_DIR/out/sums.txt"` +
        ' && ls .. > "$AZ_BATCH_TASK_WORKING_DIR/out/trees.txt"',
    },
    [{ sourceTaskId: 'f1', frameStart: 1, frameEnd: 1 }],
  );
  return jobId;
}

/** An output of a frame of `submitJob`: `sums.txt` or `trees.txt`. */
async function output(service: TestService, frame: Frame, name: 'sums.txt' | 'trees.txt'): Promise<string> {
  const out = path.join(tmp('out'), name);
  await service.client.assets.fetchOutput(frame.frameId, name, out);
  return fs.readFileSync(out, 'utf8');
}
const sums = (service: TestService, frame: Frame): Promise<string> => output(service, frame, 'sums.txt');

/** A tree of one file, synced into the service's container. */
async function syncOne(service: TestService, file: string, bytes: Buffer): Promise<storage.SyncResult> {
  const root = tmp('tree');
  writeTree(root, { [file]: bytes });
  return storage.syncAssets(root, {
    containerClient: serviceContainers(service.dataDir).assets,
    hashCacheFile: false,
  });
}

/** A frame's log (stdout with stderr interleaved), from the outputs container. */
async function frameLog(service: TestService, jobId: string, frame: Frame): Promise<string> {
  const { outputs } = serviceContainers(service.dataDir);
  return (
    await outputs.getBlobClient(`logs/${jobId}/${frame.frameId}/stdout.txt`).downloadToBuffer()
  ).toString();
}

describe('bounded node cache', () => {
  test('GIVEN a node cache limit smaller than two jobs’ assets WHEN both jobs run on one node THEN they run one after the other, the second evicting the first’s content', async () => {
    // GIVEN a 1.5 MB cache on a one-slot node, and two jobs of 1 MB of assets each
    const service = await startTestService({
      nodes: 1,
      slotsPerNode: 1,
      config: { 'storage.nodeCache.maxBytes': 1_500_000 },
    });
    try {
      const a = random(1_000_000);
      const b = random(1_000_000);
      const ma = await syncOne(service, 'a.bin', a);
      const mb = await syncOne(service, 'b.bin', b);
      // WHEN
      const ja = await submitJob(service, 'cache-a', ma.manifestId);
      const jb = await submitJob(service, 'cache-b', mb.manifestId);
      // THEN both succeed with their assets intact
      const [fa] = await finishedFrames(service.client, ja);
      const [fb] = await finishedFrames(service.client, jb);
      expect([fa!.state, fb!.state]).toEqual(['succeeded', 'succeeded']);
      expect(await sums(service, fa!)).toBe(`${sha(a)}  a.bin\n`);
      expect(await sums(service, fb!)).toBe(`${sha(b)}  b.bin\n`);
      // ... one after the other, and the node keeps only the second's content: the first's
      // was evicted to make room (the cache outlives the jobs: their release steps, which
      // run as each job ends, remove only their trees). While the second ran, the first's
      // tree was no longer on the node.
      expect(fb!.startedAt!.getTime()).toBeGreaterThanOrEqual(fa!.finishedAt!.getTime());
      expect(cached(service)).toEqual([sha(b)]);
      expect(await output(service, fb!, 'trees.txt')).toBe(`${mb.manifestId}\n`);
    } finally {
      await service.close();
    }
  });

  test('GIVEN a task running on the node WHEN another job needs the room its content takes THEN that content is not evicted: the other task fails at once, saying why, and the running one completes', async () => {
    // GIVEN a 1.5 MB cache on a two-slot node; job A holds 1 MB and keeps running
    const service = await startTestService({
      nodes: 1,
      slotsPerNode: 2,
      config: { 'storage.nodeCache.maxBytes': 1_500_000 },
    });
    try {
      const a = random(1_000_000);
      const b = random(1_000_000);
      const ma = await syncOne(service, 'a.bin', a);
      const mb = await syncOne(service, 'b.bin', b);
      const go = path.join(tmp('go'), 'go');
      const ja = await submitJob(service, 'pinned-a', ma.manifestId, { waitFor: go });
      await eventually('job A to run', async () => {
        for await (const f of service.client.listFrames(ja)) if (f.state === 'running') return true;
        return undefined;
      });
      // WHEN job B arrives
      const jb = await submitJob(service, 'pinned-b', mb.manifestId);
      const [fb] = await finishedFrames(service.client, jb);
      // THEN B fails, naming the manifest, the sizes and the running task
      expect(fb!.state).toBe('failed');
      const log = await frameLog(service, jb, fb!);
      expect(log).toContain(`manifest ${mb.manifestId} needs 976.6 KiB`);
      expect(log).toContain('free on the disk');
      expect(log).toContain('1 running task(s) of this node');
      // ... A's content was never evicted, and A completes with it.
      expect(cached(service)).toContain(sha(a));
      fs.writeFileSync(go, '');
      const [fa] = await finishedFrames(service.client, ja);
      expect(fa!.state).toBe('succeeded');
      expect(await sums(service, fa!)).toBe(`${sha(a)}  a.bin\n`);
    } finally {
      await service.close();
    }
  });

  test('GIVEN a manifest larger than the node’s disk WHEN its job runs THEN the task fails fast, naming the manifest’s size and the free space, having downloaded nothing', async () => {
    const service = await startTestService({ nodes: 1 });
    try {
      // A real manifest blob listing 1 PiB of content. It cannot be synced (nobody has the
      // bytes), so it is written as a sync would write it, without its content: the node
      // must refuse it from the sizes alone, before any download.
      const { assets } = serviceContainers(service.dataDir);
      const huge: storage.Manifest = {
        version: 1,
        files: [{ path: 'huge.bin', sizeBytes: 2 ** 50, sha256: 'e'.repeat(64) }],
      };
      const json = storage.canonicalManifestJson(huge);
      const id = createHash('sha256').update(json).digest('hex');
      await assets.getBlockBlobClient(`manifests/${id}.json`).upload(json, Buffer.byteLength(json));
      const started = Date.now();
      const jobId = await submitJob(service, 'huge', id);
      const [frame] = await finishedFrames(service.client, jobId);
      expect(frame!.state).toBe('failed');
      const log = await frameLog(service, jobId, frame!);
      expect(log).toMatch(
        new RegExp(`manifest ${id} needs 1\\.0 PiB \\(1 files, 1\\.0 PiB not in the node cache\\)`),
      );
      expect(log).toMatch(/the node has [\d.]+ [KMGT]iB free on the disk of .*spillway-cache/);
      expect(log).not.toContain('GET ');
      expect(cached(service)).toEqual([]);
      // The job preparation did not fail the node for the job (the task said why instead).
      const prep = fs.readFileSync(
        path.join(
          path.dirname(sharedDir(service)),
          'workitems',
          jobId,
          'job-1',
          'jobpreparation',
          'stdout.txt',
        ),
        'utf8',
      );
      expect(prep).toContain('"deferred"');
      expect(Date.now() - started).toBeLessThan(60_000);
    } finally {
      await service.close();
    }
  });
});

describe('per-job clean-up', () => {
  test('GIVEN a job whose frames settled WHEN it ends on the node THEN its release removes its laid-out tree and keeps the shared cache', async () => {
    const service = await startTestService({ nodes: 1 });
    try {
      const bytes = random(10_000);
      const m = await syncOne(service, 'c.bin', bytes);
      const jobId = await submitJob(service, 'release', m.manifestId);
      const [frame] = await finishedFrames(service.client, jobId);
      expect(frame!.state).toBe('succeeded');
      // The task ran in its laid-out tree.
      expect(await sums(service, frame!)).toBe(`${sha(bytes)}  c.bin\n`);
      expect(await output(service, frame!, 'trees.txt')).toBe(`${m.manifestId}\n`);
      // WHEN the job ends (the service ends the backend job once its frames have settled:
      // its release step runs on the node)
      // THEN
      const tree = path.join(sharedDir(service), 'spillway-assets', m.manifestId);
      await eventually('the release step', async () => (fs.existsSync(tree) ? undefined : true), 30_000);
      expect(cached(service)).toEqual([sha(bytes)]);
    } finally {
      await service.close();
    }
  });
});
