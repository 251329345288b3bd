import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FrameEvent, FrameSpec } from '@spillway/sdk';
import { run } from '../support/process';
import { startTestService, type TestService } from '../support/service';

// GIVEN a real service (local engine, ephemeral loopback port) and the built `spillway`
// WHEN jobs are submitted, watched and recalled through the CLI as child processes
// THEN watch of a finished job still reports its final state, a recall with nothing queued
// says so, and a range too big for one call is sent in calls the service accepts, as it is
// generated (a 100-million-frame range runs in a 64 MB heap).

const bin = path.resolve(__dirname, '../../sdk/bin/spillway.js');

describe('spillway submit, watch and recall', () => {
  describe('on a service with nodes', () => {
    let svc: TestService;
    const cli = (...args: string[]): ReturnType<typeof run> =>
      run(process.execPath, [bin, ...args, '--address', svc.address]);
    beforeAll(async () => {
      svc = await startTestService({ nodes: 2, slotsPerNode: 2 });
    });
    afterAll(() => svc.close());

    it('watch of a finished job prints its final state (--json) or its full bar; exit 0 when every frame succeeded', async () => {
      const submitted = await cli(
        'submit',
        '--frames',
        '1-4',
        '--command',
        'echo #IFRAME#',
        '--job-id',
        'done-1',
        '--watch',
        '--json',
      );
      expect(submitted.stderr).toBe('');
      expect(submitted.code).toBe(0);
      const lines = submitted.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines[0]).toMatchObject({ submitted: 4, created: 4 });
      const jobId = lines[0]!.jobId as string;
      // Each event of the job as it happened, then the job's final state.
      const events = lines.slice(1, -1) as unknown as FrameEvent[];
      expect(new Set(events.filter((e) => e.type === 'succeeded').map((e) => e.frameId)).size).toBe(4);
      expect(events.every((e) => e.jobId === jobId)).toBe(true);
      expect(lines.at(-1)).toMatchObject({ job: { jobId, state: 'completed', counts: { succeeded: 4 } } });

      // The job is done: watch --json used to print nothing.
      const again = await cli('watch', jobId, '--json');
      expect(again.code).toBe(0);
      expect(again.stderr).toBe('');
      const after = again.stdout.trim().split('\n');
      expect(after).toHaveLength(1);
      expect(JSON.parse(after[0]!)).toMatchObject({
        job: { jobId, state: 'completed', counts: { succeeded: 4, failed: 0 } },
      });

      const text = await cli('watch', jobId);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/\[#{30}\] 4\/4 done {2}0 running {2}0 queued {2}0 failed/);
    });

    it('watch exits 1 when a frame failed', async () => {
      const r = await cli(
        'submit',
        '--frames',
        '1-2',
        '--command',
        'test #IFRAME# = 1',
        '--job-id',
        'fails-1',
        '--watch',
        '--json',
      );
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({
        job: { counts: { succeeded: 1, failed: 1 } },
      });
    });

    it('recall with nothing queued says so, and is not an error', async () => {
      const first = await cli(
        'submit',
        '--frames',
        '1',
        '--command',
        'true',
        '--job-id',
        'recall-1',
        '--watch',
        '--json',
      );
      const jobId = (JSON.parse(first.stdout.split('\n')[0]!) as { jobId: string }).jobId;
      const text = await cli('recall', jobId, '--count', '1');
      expect(text.stderr).toBe('');
      expect(text.code).toBe(0);
      expect(text.stdout.trim()).toBe(`job ${jobId}: no frame is queued in the cloud; nothing recalled`);
      const json = await cli('recall', jobId, '--count', '1', '--json');
      expect(JSON.parse(json.stdout)).toEqual({ jobId, recalled: 0, keys: [] });
    });
  });

  describe('on a service with no nodes (frames stay queued)', () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startTestService({ nodes: 0 });
    });
    afterAll(() => svc.close());

    it('sends a range bigger than one call in several calls, each frame once, and recalls from it', async () => {
      const r = await run(process.execPath, [
        bin,
        'submit',
        '--frames',
        '1-25000',
        '--command',
        'true',
        '--job-id',
        'big-1',
        '--json',
        '--address',
        svc.address,
      ]);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toMatchObject({ submitted: 25_000, created: 25_000 });
      const job = await svc.client.getJob({ source: `cli:${os.userInfo().username}`, sourceJobId: 'big-1' });
      expect(job.counts.queued).toBe(25_000);
      // Again: idempotent, nothing new.
      const again = await run(process.execPath, [
        bin,
        'submit',
        '--frames',
        '1-25000',
        '--command',
        'true',
        '--job-id',
        'big-1',
        '--json',
        '--address',
        svc.address,
      ]);
      expect(JSON.parse(again.stdout)).toMatchObject({ jobId: job.jobId, submitted: 25_000, created: 0 });

      const recall = await run(process.execPath, [
        bin,
        'recall',
        job.jobId,
        '--count',
        '3',
        '--json',
        '--address',
        svc.address,
      ]);
      expect(
        (JSON.parse(recall.stdout) as { keys: { sourceTaskId: string }[] }).keys.map((k) => k.sourceTaskId),
      ).toEqual(['25000', '24999', '24998']);
    });

    it('the client reads frames only as the service takes them, and splits by message size too', async () => {
      let pulled = 0;
      function* frames(): Generator<FrameSpec> {
        for (let n = 1; n <= 25_000; n++) {
          pulled++;
          yield { sourceTaskId: String(n), frameStart: n, frameEnd: n };
        }
      }
      const job = { source: 'test:batches', sourceJobId: 'lazy', commandTemplate: 'true' };
      const seen: number[] = [];
      for await (const batch of svc.client.submitFramesInBatches(job, frames())) {
        seen.push(batch.frames.length);
        // One call ahead at most: the frames of this call and the first of the next.
        expect(pulled).toBeLessThanOrEqual(seen.reduce((a, b) => a + b, 0) + 1);
      }
      expect(seen).toEqual([10_000, 10_000, 5_000]);

      // 3,000 frames with 7,000-character commands: 21 MB, over one 16 MiB message.
      const big = Array.from({ length: 3_000 }, (_, i) => ({
        sourceTaskId: String(i),
        frameStart: i,
        frameEnd: i,
        command: `true ${'x'.repeat(7_000)}`,
      }));
      const sizes: number[] = [];
      for await (const batch of svc.client.submitFramesInBatches({ ...job, sourceJobId: 'wide' }, big)) {
        sizes.push(batch.frames.length);
      }
      expect(sizes.length).toBeGreaterThanOrEqual(2);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(3_000);
      expect((await svc.client.getJob({ source: 'test:batches', sourceJobId: 'wide' })).counts.queued).toBe(
        3_000,
      );
    }, 120_000);

    it('streams --frames 1-99999999: the CLI stays within a 64 MB heap while the service takes call after call', async () => {
      const child = spawn(
        process.execPath,
        [
          '--max-old-space-size=64',
          bin,
          'submit',
          '--frames',
          '1-99999999',
          '--command',
          'true',
          '--job-id',
          'huge-1',
          '--source',
          'cli:huge',
          '--address',
          svc.address,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('exit', (code, signal) => resolve({ code, signal })),
      );
      // Wait until the service holds 40,000 of its frames (4 calls), then interrupt.
      let queued = 0;
      for (let i = 0; i < 600 && queued < 40_000 && child.exitCode === null; i++) {
        await new Promise((r) => setTimeout(r, 100));
        queued = await svc.client
          .getJob({ source: 'cli:huge', sourceJobId: 'huge-1' })
          .then((j) => j.counts.queued)
          .catch(() => 0);
      }
      expect(child.exitCode).toBeNull(); // still running: not out of memory
      expect(queued).toBeGreaterThanOrEqual(40_000);
      child.kill('SIGINT');
      const { code } = await exited;
      expect(code).toBe(1);
      expect(stderr).toMatch(
        /interrupted after \d+ of 99999999 tasks of job j-\w+ were submitted; submitting the same job again adds only the missing ones/,
      );
      expect(stderr).not.toMatch(/heap|allocation failed/i);
    }, 120_000);
  });
});
