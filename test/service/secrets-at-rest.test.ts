import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BurstClient, Frame } from '@spillway/sdk';
import { startTestService, type TestService } from '../support/service';

// GIVEN the embedded default (local engine, embedded Azurite) and a job that reads a
// manifest's assets (a container SAS reaches its task) and writes outputs (a write SAS), with
// one frame that fails
// WHEN every frame has finished
// THEN no file the service keeps in its data directory holds a SAS signature (`sig=`): not
// the ones its tasks saw, not one it issued to a client. SAS are used, never stored at rest.
// Azurite's own files are left out: they are the storage account itself, not Spillway's.

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Every regular file under `dir`, except under the directories named in `skip`. */
function filesUnder(dir: string, skip: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!skip.has(p)) out.push(...filesUnder(p, skip));
    } else if (e.isFile()) out.push(p);
  }
  return out;
}

async function finished(client: BurstClient, jobId: string): Promise<Frame[]> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const job = await client.getJob(jobId);
    if (job.state !== 'active') {
      const frames: Frame[] = [];
      for await (const f of client.listFrames(jobId)) frames.push(f);
      return frames;
    }
    if (Date.now() > deadline) throw new Error(`job ${jobId} still active: ${JSON.stringify(job.counts)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('secrets at rest', () => {
  let service: TestService;
  /** Where the tasks write the environment they saw: outside the data directory. */
  let seen: string;
  beforeAll(async () => {
    seen = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-seen-'));
    service = await startTestService({ nodes: 1, slotsPerNode: 2 });
  });
  afterAll(async () => {
    await service?.close();
    fs.rmSync(seen, { recursive: true, force: true });
  });

  it('keeps no SAS in the data directory once the frames are done', async () => {
    const client = service.client;
    const scene = Buffer.from('scene description\n');
    await client.assets.uploadContent(scene);
    const { manifestId } = await client.assets.commitManifest([
      { path: 'scene/a.txt', sizeBytes: scene.length, sha256: sha(scene) },
    ]);
    // A SAS the service hands out, to look for verbatim.
    const plan = await client.assets.planAssetSync(
      [{ path: 'x', sizeBytes: 1, sha256: sha(Buffer.from('x')) }],
      {
        wantUploadUrl: true,
      },
    );
    const issued = new URL(plan.upload!.url).searchParams.get('sig')!;

    const { jobId } = await client.submitFrames(
      {
        source: 'test:secrets',
        sourceJobId: 'at-rest',
        assetManifestId: manifestId,
        // The task's environment carries SAS URLs; frame 2 fails.
        commandTemplate: `env > ${seen}/env_#IFRAME#.txt && cp "$SPILLWAY_ASSETS_DIR/scene/a.txt" out/a_#IFRAME#.txt && test #IFRAME# -ne 2`,
      },
      [
        { sourceTaskId: '1', frameStart: 1, frameEnd: 1 },
        { sourceTaskId: '2', frameStart: 2, frameEnd: 2 },
      ],
    );
    const frames = await finished(client, jobId);
    expect(frames.map((f) => f.state).sort()).toEqual(['failed', 'succeeded']);

    // The tasks did see a SAS (else this test would prove nothing)...
    const env = ['1', '2'].map((f) => fs.readFileSync(path.join(seen, `env_${f}.txt`), 'utf8')).join('\n');
    const sigs = [...env.matchAll(/[?&]sig=([^&\s"]+)/g)].map((m) => decodeURIComponent(m[1]!));
    expect(sigs.length).toBeGreaterThan(0);

    // ...and none of it is kept.
    const azurite = path.join(service.dataDir, 'azurite');
    const leaks: string[] = [];
    for (const file of filesUnder(service.dataDir, new Set([azurite]))) {
      const text = fs.readFileSync(file, 'latin1');
      const found =
        /[?&]sig=(?!REDACTED)[^&\s"]{8,}/.exec(text)?.[0] ??
        [...sigs, issued].find((s) => text.includes(s) || text.includes(encodeURIComponent(s)));
      if (found) leaks.push(`${path.relative(service.dataDir, file)}: ${found.slice(0, 40)}`);
    }
    expect(leaks).toEqual([]);
  });
});
