/**
 * `npm run bench:mounts`: time to first frame of one job whose scene and textures are on the
 * studio's share, reached two ways through the real service on the embedded engine (Azurite
 * started by the service, one node booted beforehand in each group):
 *  - copy: `syncAssets` of the share's project into the assets container, then a job with the
 *    manifest; the node downloads the content before the frame runs (as without a profile);
 *  - mount: a group that mounts the share (`kind: nfs`; on the embedded engine a local
 *    directory stands in for the export), and a job that reads it through
 *    `$SPILLWAY_MOUNT_PROJECTS`; the group's preflight runs on the node before the frame.
 * Each frame reads every file (sha256 of the whole tree), so both read the same bytes.
 * Printed per leg: the median of SPILLWAY_BENCH_ROUNDS rounds (default 3; legs alternate who
 * goes first, each round on a fresh service), asset bytes uploaded, and the split (sync,
 * submission to first frame done). Size: SPILLWAY_BENCH_MOUNT_FILES (default 64) files,
 * SPILLWAY_BENCH_MOUNT_BYTES (default 256 MiB) in all.
 *
 * Here every mount kind is a local directory, so blobfuse2, Azure Files and NFS cannot be told
 * apart by this benchmark: `mount` measures what a mount saves (no upload, no download before
 * the frame), not a given file system's throughput.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { BurstClient } from '../client';
import { loadConfig } from '../config';
import { silentLogger } from '../logging';
import { embeddedProviders, startService } from '../service';
import {
  AZURITE_ACCOUNT_KEY,
  AZURITE_ACCOUNT_NAME,
  pipelineOptions,
  storageLayout,
  syncAssets,
} from '../storage';

const FILES = Number(process.env.SPILLWAY_BENCH_MOUNT_FILES ?? 64);
const BYTES = Number(process.env.SPILLWAY_BENCH_MOUNT_BYTES ?? 256 * 1024 * 1024);
const ROUNDS = Number(process.env.SPILLWAY_BENCH_ROUNDS ?? 3);
const SOURCE = 'nas.studio.internal:/export/projects';
const MiB = 1024 * 1024;
const READ_ALL =
  'find . -type f | LC_ALL=C sort | xargs cat | sha256sum > "$AZ_BATCH_TASK_WORKING_DIR/out/sum.txt"';

interface Leg {
  readonly totalMs: number;
  readonly syncMs: number;
  readonly frameMs: number;
  readonly bytesUploaded: number;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Submits one single-frame job and resolves when its frame succeeded (ms from submission). */
async function firstFrame(
  client: BurstClient,
  job: { sourceJobId: string; capacityGroup: string; commandTemplate: string; assetManifestId?: string },
): Promise<number> {
  const t0 = Date.now();
  const { jobId } = await client.submitFrames({ source: 'bench', ...job }, [
    { sourceTaskId: '1', frameStart: 1, frameEnd: 1 },
  ]);
  const abort = new AbortController();
  for await (const e of client.watchFrames({ jobId, abortSignal: abort.signal })) {
    if (e.type === 'succeeded') {
      abort.abort();
      return Date.now() - t0;
    }
    if (['failed', 'recalled', 'cancelled'].includes(e.state))
      throw new Error(`frame of ${job.sourceJobId} ${e.state}: ${e.message ?? ''}`);
  }
  throw new Error(`the watch of ${job.sourceJobId} ended`);
}

async function round(share: string, order: readonly ('copy' | 'mount')[]): Promise<Record<string, Leg>> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-bench-mounts-svc-'));
  const config = loadConfig({
    env: {},
    overrides: {
      listen: '127.0.0.1:0',
      dataDir,
      'compute.local.nodes': 2,
      'compute.local.shares': { [SOURCE]: share },
    },
  });
  const service = await startService(config, embeddedProviders(config), silentLogger);
  const client = new BurstClient(service.address);
  try {
    await client.capacity.ensure({
      name: 'copy',
      mode: 'frame-offload',
      vmSize: 'local',
      maxDedicatedNodes: 1,
    });
    await client.capacity.ensure({
      name: 'mount',
      mode: 'frame-offload',
      vmSize: 'local',
      maxDedicatedNodes: 1,
      mounts: [{ name: 'projects', kind: 'nfs', source: SOURCE }],
    });
    for (const g of ['copy', 'mount']) {
      await client.capacity.resize(g, { dedicated: 1, spot: 0 });
      await until(`a node of ${g}`, async () =>
        ((await client.capacity.get(g)).nodes.idle?.dedicated ?? 0) >= 1 ? true : undefined,
      );
    }
    const port = fs.readFileSync(path.join(dataDir, 'azurite', 'port'), 'utf8').trim();
    const blobs = BlobServiceClient.fromConnectionString(
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT_NAME};AccountKey=${AZURITE_ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT_NAME};`,
      pipelineOptions(),
    );
    const legs: Record<string, Leg> = {};
    for (const leg of order) {
      if (leg === 'copy') {
        const t0 = Date.now();
        const sync = await syncAssets(share, {
          containerClient: blobs.getContainerClient(storageLayout('spillway').assets),
          hashCacheFile: false,
        });
        const syncMs = Date.now() - t0;
        const frameMs = await firstFrame(client, {
          sourceJobId: 'copy',
          capacityGroup: 'copy',
          assetManifestId: sync.manifestId,
          commandTemplate: `cd "$SPILLWAY_ASSETS_DIR" && ${READ_ALL}`,
        });
        legs.copy = { totalMs: Date.now() - t0, syncMs, frameMs, bytesUploaded: sync.bytesUploaded };
      } else {
        const t0 = Date.now();
        const frameMs = await firstFrame(client, {
          sourceJobId: 'mount',
          capacityGroup: 'mount',
          commandTemplate: `cd "$SPILLWAY_MOUNT_PROJECTS" && ${READ_ALL}`,
        });
        legs.mount = { totalMs: Date.now() - t0, syncMs: 0, frameMs, bytesUploaded: 0 };
      }
    }
    return legs;
  } finally {
    client.close();
    await service.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-bench-mounts-'));
  try {
    const share = path.join(work, 'projects');
    const per = Math.floor(BYTES / FILES);
    for (let i = 0; i < FILES; i++) {
      const rel = i === 0 ? 'proj/shot.blend' : `proj/tex/t${String(i).padStart(4, '0')}.exr`;
      fs.mkdirSync(path.join(share, path.dirname(rel)), { recursive: true });
      fs.writeFileSync(path.join(share, rel), randomBytes(per));
    }
    console.log(
      `spillway bench:mounts — ${FILES} files, ${((per * FILES) / MiB).toFixed(0)} MiB on the share, ${os.cpus().length} CPUs, ${ROUNDS} rounds (median)`,
    );
    const runs: Record<string, Leg[]> = { copy: [], mount: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const legs = await round(share, r % 2 === 0 ? ['copy', 'mount'] : ['mount', 'copy']);
      for (const k of ['copy', 'mount']) runs[k]!.push(legs[k]!);
      console.log(
        `  round ${r + 1}: copy ${(legs.copy!.totalMs / 1000).toFixed(2)} s, mount ${(legs.mount!.totalMs / 1000).toFixed(2)} s`,
      );
    }
    for (const k of ['copy', 'mount']) {
      const legs = runs[k]!;
      const total = median(legs.map((l) => l.totalMs));
      const chosen = legs.find((l) => l.totalMs === total)!;
      console.log(
        `${k.padEnd(5)}: time to first frame ${(total / 1000).toFixed(2)} s (sync ${(chosen.syncMs / 1000).toFixed(2)} s, submission to frame done ${(chosen.frameMs / 1000).toFixed(2)} s), asset bytes uploaded ${chosen.bytesUploaded}`,
      );
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
