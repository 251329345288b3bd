/**
 * `npm run bench:sync`: content-addressed sync against a real Azurite (started by this
 * script, data in a temp dir), side by side with a raw single-stream baseline in the same
 * run. Prints:
 *  - for a generated tree of 2,000 files / 1 GiB: the baseline (one plain Put Blob per
 *    file, sequentially, no hashing) and `syncAssets` (hashing, existence check, parallel
 *    uploads), their throughputs and ratio;
 *  - for a tree of 10,000 small files: the time and bytes of a no-change resync, with the
 *    existence check done by one listing and by one HEAD per content.
 * Baseline and sync alternate for SPILLWAY_BENCH_ROUNDS rounds (default 3; the median round
 * is reported), each against an Azurite of its own started empty: Azurite looks blobs up by
 * scanning every blob of the account, so a leg run after another would pay for the first
 * one's blobs. Everything generated is removed at the end. Sizes: SPILLWAY_BENCH_FILES,
 * SPILLWAY_BENCH_BYTES, SPILLWAY_BENCH_SMALL_FILES.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { pipelineOptions, startAzurite, syncAssets, type SyncResult } from '../storage';

const FILES = Number(process.env.SPILLWAY_BENCH_FILES ?? 2000);
const BYTES = Number(process.env.SPILLWAY_BENCH_BYTES ?? 1024 ** 3);
const SMALL_FILES = Number(process.env.SPILLWAY_BENCH_SMALL_FILES ?? 10_000);
const ROUNDS = Number(process.env.SPILLWAY_BENCH_ROUNDS ?? 3);
const MiB = 1024 * 1024;

/** File sizes summing to `total`: ten large files (multi-block) and the rest spread between 8 KiB and ~2x the mean. */
function sizes(count: number, total: number): number[] {
  const large = Math.min(10, Math.floor(count / 10));
  const largeSize = Math.floor(Math.min(24 * MiB, (total * 0.25) / Math.max(1, large)));
  const rest = total - large * largeSize;
  const n = count - large;
  const weights = Array.from({ length: n }, (_, i) => 0.05 + ((i * 7919) % 1000) / 1000);
  const sum = weights.reduce((a, b) => a + b, 0);
  const out = weights.map((w) => Math.floor((w / sum) * rest));
  out[0]! += rest - out.reduce((a, b) => a + b, 0);
  return [...Array.from({ length: large }, () => largeSize), ...out];
}

function generate(root: string, fileSizes: readonly number[]): string[] {
  const rels: string[] = [];
  fileSizes.forEach((size, i) => {
    const rel = `shot${String(i % 20).padStart(2, '0')}/tex/file_${String(i).padStart(5, '0')}.bin`;
    fs.mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), randomBytes(size));
    rels.push(rel);
  });
  return rels;
}

/** CPU time (user + system) of a process so far, from /proc; NaN where there is none. */
function processCpuMs(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks: USER_HZ is 100
  } catch {
    return NaN;
  }
}

const mibps = (bytes: number, ms: number): string => `${(bytes / MiB / (ms / 1000)).toFixed(1)} MiB/s`;
const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-bench-sync-'));
  /** Runs `fn` against a fresh Azurite (data under `work`), stopped and removed afterwards. */
  const withAzurite = async <T>(
    name: string,
    fn: (svc: BlobServiceClient, azuriteCpuMs: () => number) => Promise<T>,
  ): Promise<T> => {
    const dataDir = path.join(work, `azurite-${name}`);
    const azurite = await startAzurite({ dataDir });
    try {
      return await fn(
        BlobServiceClient.fromConnectionString(azurite.connectionString, pipelineOptions()),
        () => processCpuMs(azurite.pid),
      );
    } finally {
      await azurite.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  };
  try {
    console.log(`spillway bench:sync — Azurite (data in ${work}), ${os.cpus().length} CPUs`);
    console.log(execFileSync('df', ['-h', os.tmpdir()]).toString().trim().split('\n').pop());

    // 1. Large tree: baseline vs sync.
    const big = path.join(work, 'tree');
    const fileSizes = sizes(FILES, BYTES);
    const t0 = Date.now();
    const rels = generate(big, fileSizes);
    console.log(`\ngenerated ${FILES} files, ${(BYTES / MiB).toFixed(0)} MiB in ${secs(Date.now() - t0)}`);

    // Baseline and sync alternate, ROUNDS times (which goes first alternates too), each into
    // a fresh Azurite with a cold hash cache, so that load from elsewhere on the machine
    // hits both alike.
    // Azurite's own CPU time is read too: it is one process, so a leg can never take less
    // wall time than the CPU time Azurite spends on it.
    const baselineLeg = (round: number): Promise<{ baselineMs: number; baselineAzuriteCpuMs: number }> =>
      withAzurite(`baseline-${round}`, async (svc, azuriteCpuMs) => {
        const baseline = svc.getContainerClient('baseline');
        await baseline.createIfNotExists();
        const c0 = azuriteCpuMs();
        const b0 = Date.now();
        for (const rel of rels) {
          const body = fs.readFileSync(path.join(big, rel));
          await baseline.getBlockBlobClient(rel).upload(body, body.length);
        }
        return { baselineMs: Date.now() - b0, baselineAzuriteCpuMs: azuriteCpuMs() - c0 };
      });
    const syncLeg = (
      round: number,
    ): Promise<{
      syncMs: number;
      syncAzuriteCpuMs: number;
      result: SyncResult;
      resync: [SyncResult, number];
    }> =>
      withAzurite(`sync-${round}`, async (svc, azuriteCpuMs) => {
        const options = {
          containerClient: svc.getContainerClient('assets'),
          hashCacheFile: path.join(work, `hash-cache-big-${round}.json`),
        };
        const c0 = azuriteCpuMs();
        const s0 = Date.now();
        const result = await syncAssets(big, options);
        const syncMs = Date.now() - s0;
        const syncAzuriteCpuMs = azuriteCpuMs() - c0;
        const r0 = Date.now();
        const again = await syncAssets(big, options);
        return { syncMs, syncAzuriteCpuMs, result, resync: [again, Date.now() - r0] };
      });
    const pairs: ({ baselineMs: number; baselineAzuriteCpuMs: number } & Awaited<
      ReturnType<typeof syncLeg>
    >)[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      let base: Awaited<ReturnType<typeof baselineLeg>>;
      let sync: Awaited<ReturnType<typeof syncLeg>>;
      if (round % 2 === 0) {
        base = await baselineLeg(round);
        sync = await syncLeg(round);
      } else {
        sync = await syncLeg(round);
        base = await baselineLeg(round);
      }
      pairs.push({ ...base, ...sync });
      console.log(
        `round ${round + 1}: baseline ${secs(base.baselineMs)} (Azurite CPU ${secs(base.baselineAzuriteCpuMs)}), ` +
          `sync ${secs(sync.syncMs)} (Azurite CPU ${secs(sync.syncAzuriteCpuMs)}), ratio ${(base.baselineMs / sync.syncMs).toFixed(2)}x`,
      );
    }
    const sorted = [...pairs].sort((x, y) => x.baselineMs / x.syncMs - y.baselineMs / y.syncMs);
    const mid = sorted[Math.floor((sorted.length - 1) / 2)]!;
    const {
      baselineMs,
      syncMs,
      syncAzuriteCpuMs,
      result: initial,
      resync: [resyncBig, resyncBigMs],
    } = mid;
    fs.rmSync(big, { recursive: true, force: true });

    // 2. 10,000 small files: no-change resync.
    const small = path.join(work, 'small');
    generate(
      small,
      Array.from({ length: SMALL_FILES }, (_, i) => 512 + (i % 1536)),
    );
    const cache = path.join(work, 'hash-cache-small.json');
    const {
      smallInitial,
      smallInitialMs,
      resyncs: [[resyncAuto, resyncAutoMs], [resyncList, resyncListMs], [resyncHead, resyncHeadMs]],
    } = await withAzurite('small', async (svc) => {
      const containerClient = svc.getContainerClient('small');
      const i0 = Date.now();
      const first = await syncAssets(small, { containerClient, hashCacheFile: cache });
      const firstMs = Date.now() - i0;
      const timed = async (existenceCheck: 'auto' | 'list' | 'head'): Promise<[SyncResult, number]> => {
        const t = Date.now();
        const r = await syncAssets(small, { containerClient, hashCacheFile: cache, existenceCheck });
        return [r, Date.now() - t];
      };
      const resyncs = [await timed('auto'), await timed('list'), await timed('head')] as const;
      return { smallInitial: first, smallInitialMs: firstMs, resyncs };
    });

    const ratio = baselineMs / syncMs;
    console.log('\n| measurement | time | bytes sent | throughput |');
    console.log('|---|---|---|---|');
    console.log(
      `| baseline: ${FILES} files, one Put Blob at a time, sequential | ${secs(baselineMs)} | ${(BYTES / MiB).toFixed(0)} MiB | ${mibps(BYTES, baselineMs)} |`,
    );
    console.log(
      `| initial sync (hash + check + parallel upload), cold hash cache | ${secs(syncMs)} | ${(initial.bytesUploaded / MiB).toFixed(0)} MiB | ${mibps(initial.bytesUploaded, syncMs)} |`,
    );
    console.log(
      `| initial sync phases: hashing (uploads overlap it) ${secs(initial.phaseMs.hashing)}, existence check ${secs(initial.phaseMs.checking)}, remaining uploads ${secs(initial.phaseMs.uploading)} | | | |`,
    );
    console.log(
      `| no-change resync of the ${FILES}-file tree | ${secs(resyncBigMs)} | ${resyncBig.bytesUploaded} B | — |`,
    );
    console.log(
      `| initial sync of ${SMALL_FILES} small files | ${secs(smallInitialMs)} | ${(smallInitial.bytesUploaded / MiB).toFixed(1)} MiB | — |`,
    );
    console.log(
      `| no-change resync of ${SMALL_FILES} files (default: committed manifest proves its content) | ${secs(resyncAutoMs)} | ${resyncAuto.bytesUploaded} B | — |`,
    );
    console.log(
      `| no-change resync of ${SMALL_FILES} files, existence by listing | ${secs(resyncListMs)} | ${resyncList.bytesUploaded} B | — |`,
    );
    console.log(
      `| no-change resync of ${SMALL_FILES} files, existence by HEAD each | ${secs(resyncHeadMs)} | ${resyncHead.bytesUploaded} B | — |`,
    );
    console.log(
      `\ninitial sync throughput / single-stream baseline: ${ratio.toFixed(2)}x (median round of ${ROUNDS}, alternating: ${pairs.map((p) => (p.baselineMs / p.syncMs).toFixed(2) + 'x').join(', ')}; expected >= 2x)`,
    );
    console.log(
      `Azurite's own CPU time during that sync: ${secs(syncAzuriteCpuMs)}; one process cannot ingest the tree in less, ` +
        `so against it no client can be more than ${(baselineMs / syncAzuriteCpuMs).toFixed(2)}x the baseline`,
    );
    console.log(
      `no-change resync of ${SMALL_FILES} files: ${secs(resyncAutoMs)}, ${resyncAuto.bytesUploaded} bytes sent, ` +
        `${resyncAuto.built.filesHashed} files re-read, existence check "${resyncAuto.existenceCheck}" (expected < 2 s, 0 bytes)`,
    );
    console.log(
      `existence check for ${SMALL_FILES} files (whole resync): manifest ${secs(resyncAutoMs)}, listing ${secs(resyncListMs)}, HEAD each ${secs(resyncHeadMs)}`,
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
