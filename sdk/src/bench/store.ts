/**
 * `npm run bench:store`: the frame store's heap per frame and its journal, in process, no
 * service: BENCH_FRAMES (100,000 by default) frames submitted in calls of 10,000 (each spec
 * made as the gRPC mapping makes it), then each one started and succeeded as the dispatcher
 * records them. Prints the heap (after a full GC) per submitted and per completed frame, the
 * journal's size before and after compaction, and how long replaying it takes. Needs
 * `--expose-gc` (the npm script passes it).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { frameSpecFromWire } from '../model/wire-mapping';
import { FrameStore } from '../service/frames/store';

const FRAMES = Number(process.env.BENCH_FRAMES ?? 100_000);
const PER_CALL = 10_000;

function heapMb(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-bench-store-'));
  try {
    let store = FrameStore.open(dir);
    const base = heapMb();
    const job = { source: 'bench:store', sourceJobId: `store-${FRAMES}`, commandTemplate: ':' };
    const ids: string[] = [];
    for (let from = 0; from < FRAMES; from += PER_CALL) {
      const frames = [];
      for (let i = from; i < Math.min(FRAMES, from + PER_CALL); i++) {
        frames.push(
          frameSpecFromWire({
            sourceTaskId: String(i),
            frameStart: i,
            frameEnd: i,
            frameStep: 0,
            command: '',
            environment: {},
          }),
        );
      }
      const r = await store.submit(job, frames);
      for (const f of r.frames) ids.push(f.frameId);
    }
    const submitted = heapMb();
    for (let i = 0; i < ids.length; i += 1000) {
      const part = ids.slice(i, i + 1000);
      await store.markDispatched(part, 1);
      await Promise.all(
        part.map((id) =>
          store.change(id, { type: 'started', state: 'running', attempt: 1, nodeId: 'node-1' }),
        ),
      );
      await Promise.all(
        part.map((id) =>
          store.change(id, { type: 'succeeded', state: 'succeeded', exitCode: 0, outputs: [] }),
        ),
      );
    }
    const completed = heapMb();
    await store.close();
    const journal = path.join(dir, 'frames.journal');
    const journalMb = fs.statSync(journal).size / 1024 / 1024;
    const t = process.hrtime.bigint();
    store = FrameStore.open(dir);
    const replayMs = Number(process.hrtime.bigint() - t) / 1e6;
    const reopened = heapMb();
    await store.close();
    const perFrame = (mb: number): string => `${((mb * 1024 * 1024) / FRAMES).toFixed(0)} bytes/frame`;
    console.log(`frame store: ${FRAMES} frames`);
    console.log(
      `  heap, submitted (queued)    ${(submitted - base).toFixed(1)} MB  ${perFrame(submitted - base)}`,
    );
    console.log(
      `  heap, all succeeded         ${(completed - base).toFixed(1)} MB  ${perFrame(completed - base)}`,
    );
    console.log(
      `  heap, reopened (replayed)   ${(reopened - base).toFixed(1)} MB  ${perFrame(reopened - base)}`,
    );
    console.log(
      `  journal                     ${journalMb.toFixed(1)} MB, replayed in ${replayMs.toFixed(0)} ms`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
