// Follow a job's frame events until every frame has finished, with an AbortSignal that
// also stops it on Ctrl-C or after ten minutes.
//   node examples/dist/sdk/watch-events.js
import { BurstClient, TERMINAL_FRAME_STATES, type FrameState } from '@spillway/sdk';

async function main(): Promise<void> {
  const client = new BurstClient(process.env.SPILLWAY_ADDRESS ?? '127.0.0.1:7443');
  const done = new AbortController();
  const onSigint = (): void => done.abort();
  process.once('SIGINT', onSigint);
  try {
    const { jobId } = await client.submitFrames(
      {
        source: 'pipeline:watch',
        sourceJobId: `watch-${Date.now()}`,
        commandTemplate: 'mkdir -p out && echo #IFRAME# > out/f_#ZFRAME#.txt',
      },
      [1, 2, 3].map((n) => ({ sourceTaskId: String(n), frameStart: n, frameEnd: n })),
    );
    console.log(`job ${jobId}`);

    const states = new Map<string, FrameState>();
    const signal = AbortSignal.any([done.signal, AbortSignal.timeout(10 * 60_000)]);
    // From the job's first event; reconnects by itself after a service restart, resuming
    // after the last event it yielded. Aborting the signal ends the loop.
    for await (const event of client.watchFrames({ jobId, abortSignal: signal })) {
      states.set(event.frameId, event.state);
      console.log(
        `${event.type} frame ${event.key.sourceTaskId}${event.nodeId ? ` on ${event.nodeId}` : ''}`,
      );
      if (states.size === 3 && [...states.values()].every((s) => TERMINAL_FRAME_STATES.has(s))) done.abort();
    }
    const { state, counts } = await client.getJob(jobId);
    console.log(`job ${jobId} ${state}: ${counts.succeeded} succeeded, ${counts.failed} failed`);
  } finally {
    process.off('SIGINT', onSigint);
    client.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
