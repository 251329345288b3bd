// Fetch the outputs of a job's succeeded frames into a folder, through the service (no
// Blob Storage credentials needed). Each file is checked against the SHA-256 taken on the
// node before it is put in place; an interrupted fetch resumes.
//   node examples/dist/sdk/fetch-outputs.js JOB_ID ./renders
import * as path from 'node:path';
import { BurstClient } from '@spillway/sdk';

async function main(): Promise<void> {
  const [jobId, dest = './renders'] = process.argv.slice(2);
  if (!jobId) throw new Error('usage: fetch-outputs JOB_ID [DEST]');
  const client = new BurstClient(process.env.SPILLWAY_ADDRESS ?? '127.0.0.1:7443');
  try {
    let files = 0;
    // listFrames pages through the job's frames; only succeeded frames have outputs.
    for await (const frame of client.listFrames(jobId, { states: ['succeeded'] })) {
      for (const output of frame.outputs) {
        const got = await client.assets.fetchOutput(frame.frameId, output.path, path.join(dest, output.path));
        console.log(`${output.path}: ${got.sizeBytes} bytes, sha256 ${got.sha256.slice(0, 12)}...`);
        files++;
      }
    }
    console.log(`${files} file(s) in ${path.resolve(dest)}`);
  } finally {
    client.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
