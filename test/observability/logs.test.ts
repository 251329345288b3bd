import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { BurstClient, BurstServiceError, silentLogger, type FrameLogChunk } from '@spillway/sdk';
import { loadConfig } from '@spillway/sdk/config';
import { startBatchEmulator } from '@spillway/sdk/emulate';
import { embeddedProviders, startService } from '@spillway/sdk/service';
import { startTestService } from '../support/service';
import { onlyFrame, slowLinesCommand, slowLinesLog, startCli, waitForEvent } from './support';

/** What a live-log test needs of a running service. */
export interface LogTarget {
  readonly address: string;
  readonly client: BurstClient;
  close(): Promise<void>;
}

const LINES = 4;

/**
 * GIVEN a service (embedded engine, or the Batch backend against the emulator) and a frame
 * that writes a line a second
 * WHEN its log is followed through the RPC and through `spillway logs --follow`
 * THEN lines arrive while the frame is still running (read from the node), the whole log
 * arrives in order, and after the frame ends the same log replays from storage.
 */
export function describeLiveLogs(label: string, start: () => Promise<LogTarget>): void {
  describe(`live frame logs: ${label}`, () => {
    let target: LogTarget;
    beforeAll(async () => {
      target = await start();
    }, 120_000);
    afterAll(() => target?.close());

    async function submit(sourceJobId: string, frame: number): Promise<string> {
      const { jobId } = await target.client.submitFrames(
        { source: 'test:logs', sourceJobId, commandTemplate: slowLinesCommand(LINES, 1) },
        [{ sourceTaskId: String(frame), frameStart: frame, frameEnd: frame }],
      );
      return jobId;
    }

    it('follows a running frame over the RPC: lines before the frame ends, then the whole log from storage', async () => {
      const jobId = await submit('rpc', 7);
      const chunks: { chunk: FrameLogChunk; at: number }[] = [];
      for await (const chunk of target.client.followFrameLog(jobId, 7, { follow: true })) {
        chunks.push({ chunk, at: Date.now() });
      }
      const frame = await onlyFrame(target.client, jobId);
      expect(frame.state).toBe('succeeded');
      const finishedAt = frame.finishedAt!.getTime();

      const withData = chunks.filter((c) => c.chunk.data.length > 0);
      const first = withData[0]!;
      expect(first.chunk.data.toString()).toMatch(/^frame 7 line 1\n/);
      expect(first.chunk.source).toBe('node');
      // Not finished when read (on Batch the service may not have seen the task start yet:
      // it polls; the node's file is read all the same).
      expect(['queued', 'preparing', 'running']).toContain(first.chunk.state);
      // The first line was in hand well before the service saw the frame end.
      expect(first.at).toBeLessThan(finishedAt - 1000);
      // More than one piece arrived while it ran: the log was followed, not fetched at the end.
      expect(withData.filter((c) => c.chunk.state !== 'succeeded').length).toBeGreaterThanOrEqual(2);

      const text = Buffer.concat(withData.map((c) => c.chunk.data)).toString();
      // The command's lines, then the node script's summary of the outputs it hashed.
      expect(text.slice(0, slowLinesLog(7, LINES).length)).toBe(slowLinesLog(7, LINES));
      expect(text.slice(slowLinesLog(7, LINES).length)).toMatch(/^\{"files": 1, .*\}\n$/);
      let offset = 0;
      for (const c of withData) {
        expect(c.chunk.offset).toBe(offset);
        expect(c.chunk.attempt).toBe(1);
        offset += c.chunk.data.length;
      }
      const last = chunks[chunks.length - 1]!.chunk;
      expect(last).toMatchObject({ end: true, state: 'succeeded', offset, attempt: 1 });

      // Replay after the end, by frame id, from storage; and from an offset.
      const replay: FrameLogChunk[] = [];
      for await (const c of target.client.followFrameLog(jobId, frame.frameId)) replay.push(c);
      expect(Buffer.concat(replay.map((c) => c.data)).toString()).toBe(text);
      expect(replay.filter((c) => c.data.length > 0).every((c) => c.source === 'storage')).toBe(true);
      expect(replay[replay.length - 1]!.end).toBe(true);
      const tail: Buffer[] = [];
      for await (const c of target.client.followFrameLog(jobId, 7, { offset: 10 })) tail.push(c.data);
      expect(Buffer.concat(tail).toString()).toBe(text.slice(10));
    }, 120_000);

    it('names an unknown frame or job as NOT_FOUND', async () => {
      const jobId = await submit('missing', 1);
      for (const [job, frame] of [
        [jobId, 99],
        [jobId, 'f-000000000000000000000000'],
        ['j-00000000000000000000', 1],
      ] as const) {
        const err = await (async () => {
          for await (const _ of target.client.followFrameLog(job, frame)) void _;
        })().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(BurstServiceError);
        expect((err as BurstServiceError).status).toBe(grpc.status.NOT_FOUND);
        expect((err as Error).message).toContain(
          String(frame === 99 ? 'frame 99' : job === jobId ? frame : job),
        );
      }
    });

    it('`spillway logs JOB FRAME --follow` prints lines while the frame runs, and exits 0 when it has ended', async () => {
      const jobId = await submit('cli', 3);
      const cli = startCli(['logs', jobId, '3', '--follow', '--address', target.address]);
      try {
        await cli.waitFor('frame 3 line 1\n', 60_000);
        // Printed while the frame is still rendering.
        const frame = await onlyFrame(target.client, jobId);
        expect(['queued', 'preparing', 'running']).toContain(frame.state);
        await waitForEvent(target.client, jobId, (e) => e.type === 'succeeded');
        expect(await cli.exited()).toBe(0);
        expect(cli.stdout().startsWith(slowLinesLog(3, LINES))).toBe(true);
      } finally {
        cli.child.kill();
      }
      // After the end: the same log, replayed; --json gives one object per chunk.
      const again = startCli(['logs', jobId, '3', '--json', '--address', target.address]);
      expect(await again.exited()).toBe(0);
      const objects = again
        .stdout()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { text: string; end: boolean; source?: string });
      expect(objects.map((o) => o.text).join('')).toBe(cli.stdout());
      expect(objects[objects.length - 1]!.end).toBe(true);
    }, 120_000);
  });
}

describeLiveLogs('the embedded default (local engine)', async () => {
  const svc = await startTestService({ nodes: 2 });
  return { address: svc.address, client: svc.client, close: () => svc.close() };
});

describeLiveLogs('the Batch backend against `spillway emulate batch`', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-logs-batch-'));
  const emulator = await startBatchEmulator({ port: 0 });
  fs.writeFileSync(path.join(dir, 'batch.key'), emulator.accountKey);
  const config = loadConfig({
    env: {},
    overrides: {
      listen: '127.0.0.1:0',
      'http.listen': 'off',
      dataDir: path.join(dir, 'data'),
      'compute.backend': 'batch',
      'compute.local.nodes': 2,
      'compute.batch.accountUrl': emulator.url,
      'compute.batch.accountName': emulator.accountName,
      'compute.batch.accountKeyFile': path.join(dir, 'batch.key'),
    },
  });
  const service = await startService(config, embeddedProviders(config), silentLogger);
  const client = new BurstClient(service.address);
  return {
    address: service.address,
    client,
    async close() {
      client.close();
      await service.close();
      await emulator.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});
