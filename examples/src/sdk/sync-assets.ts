// Send a project folder to the service (content-addressed: only what its store lacks), then
// run a job that reads it. Works through the service: no storage credentials needed.
//   node examples/dist/sdk/sync-assets.js ./shot010
import { BurstClient } from '@spillway/sdk';
import { buildManifest } from '@spillway/sdk/storage';

async function main(): Promise<void> {
  const dir = process.argv[2] ?? '.';
  const client = new BurstClient(process.env.SPILLWAY_ADDRESS ?? '127.0.0.1:7443');
  try {
    // Every file's path, size and SHA-256 (hashes are cached by path, size, mtime and inode).
    const built = await buildManifest(dir);
    const entries = built.manifest.files;
    const plan = await client.assets.planAssetSync(entries);
    const missing = new Set(plan.missingSha256);
    let uploaded = 0;
    for (const entry of entries) {
      if (!missing.delete(entry.sha256)) continue; // present, or sent already (same content)
      await client.assets.uploadContent(`${dir}/${entry.path}`, { sha256: entry.sha256 });
      uploaded++;
    }
    const { manifestId, fileCount } = await client.assets.commitManifest(entries, { name: dir });
    console.log(`manifest ${manifestId.slice(0, 12)}...: ${fileCount} file(s), ${uploaded} uploaded`);

    // A job names the manifest; its tasks find the files under $SPILLWAY_ASSETS_DIR.
    const { jobId } = await client.submitFrames(
      {
        source: 'pipeline:assets',
        sourceJobId: `assets-${manifestId.slice(0, 12)}`,
        assetManifestId: manifestId,
        commandTemplate: 'mkdir -p out && ls "$SPILLWAY_ASSETS_DIR" > out/assets.txt',
      },
      [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1 }],
    );
    console.log(`job ${jobId} reads it`);
  } finally {
    client.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
