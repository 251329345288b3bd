// Submit a frame range as one job: frames 1-100, ten frames per task.
//   node examples/dist/sdk/submit-range.js [JOB_ID]
import * as os from 'node:os';
import { BurstClient, type FrameSpec, type JobSpec } from '@spillway/sdk';

/** Tasks of `chunk` frames each: any iterable works, a generator keeps a long range out of memory. */
function* tasks(first: number, last: number, chunk: number): Generator<FrameSpec> {
  for (let start = first; start <= last; start += chunk) {
    const end = Math.min(start + chunk - 1, last);
    yield { sourceTaskId: `${start}-${end}`, frameStart: start, frameEnd: end };
  }
}

async function main(): Promise<void> {
  const client = new BurstClient(process.env.SPILLWAY_ADDRESS ?? '127.0.0.1:7443');
  try {
    const job: JobSpec = {
      source: `pipeline:${os.userInfo().username}`, // who owns the job: with sourceJobId, the idempotency key
      sourceJobId: process.argv[2] ?? `shot010-${Date.now()}`,
      name: 'shot010 comp',
      // Runs once per task in the task's directory; what lands in out/ comes back.
      commandTemplate:
        'mkdir -p out && for f in $(seq #FRAME_START# #FRAME_END#); do echo "frame $f" > out/shot010_$f.txt; done',
      priority: 60,
      maxRetries: 1,
    };
    const { jobId, frames } = await client.submitFrames(job, tasks(1, 100, 10));
    console.log(`job ${jobId}: ${frames.length} tasks, ${frames.filter((f) => f.created).length} new`);

    // Submitting the same frames again adds nothing: a bridge or script can always retry.
    const again = await client.submitFrames(job, tasks(1, 100, 10));
    console.log(`again: ${again.frames.filter((f) => f.created).length} new`);

    const { counts } = await client.getJob(jobId);
    console.log(`queued ${counts.queued}, running ${counts.running}, succeeded ${counts.succeeded}`);
  } finally {
    client.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
