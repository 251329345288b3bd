import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TaskFilePart } from '../../compute/backend';
import type { FrameLogChunk } from '../../model/frame-logs';
import { FrameStore } from '../frames/store';
import { FrameLogService } from './frame-logs';

/** The node's files by task id (what `readTaskFileRange` reads), and the uploaded logs by frame id. */
function world() {
  const node = new Map<string, Buffer>();
  const stored = new Map<string, Buffer>();
  const part = (file: Buffer | undefined, offset: number, max: number): TaskFilePart | undefined =>
    file && { data: file.subarray(offset, Math.min(file.length, offset + max)), size: file.length };
  return {
    node,
    stored,
    backend: {
      readTaskFileRange: async (
        _job: string,
        taskId: string,
        _file: string,
        r: { offset: number; maxBytes: number },
      ) => part(node.get(taskId), r.offset, r.maxBytes),
    },
    reader: async (_job: string, frameId: string, offset: number, max: number) =>
      part(stored.get(frameId), offset, max),
  };
}

describe('FrameLogService', () => {
  let dir: string;
  let store: FrameStore;
  let frameId: string;
  let jobId: string;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-logs-unit-'));
    store = FrameStore.open(dir);
    const r = await store.submit({ source: 's', sourceJobId: 'j', commandTemplate: 'true' }, [
      { sourceTaskId: '1', frameStart: 10, frameEnd: 12, frameStep: 2 },
    ]);
    jobId = r.jobId;
    frameId = r.frames[0]!.frameId;
    await store.markDispatched([frameId], 1);
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function collect(logs: FrameLogService, options = {}): Promise<FrameLogChunk[]> {
    const out: FrameLogChunk[] = [];
    for await (const c of logs.follow(jobId, { frameId }, options)) out.push(c);
    return out;
  }

  /** Follows the frame's log in the background: what arrived so far, a stop, and the end. */
  function followInBackground(logs: FrameLogService): {
    seen: FrameLogChunk[];
    stop(): void;
    done: Promise<void>;
  } {
    const abort = new AbortController();
    const seen: FrameLogChunk[] = [];
    const done = (async () => {
      for await (const c of logs.follow(jobId, { frameId }, { follow: true, abortSignal: abort.signal })) {
        seen.push(c);
      }
    })();
    return { seen, stop: () => abort.abort(), done };
  }

  /** Waits (up to 5 s) for `f` to hold, and fails the test if it does not. */
  async function until(f: () => boolean): Promise<void> {
    for (let i = 0; i < 500 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(f()).toBe(true);
  }

  it('resolves a frame by id, or by a number in its chunk (with its step), and names what is missing', () => {
    const logs = new FrameLogService(store, {}, undefined);
    expect(logs.resolve(jobId, { frameNumber: 12 }).frameId).toBe(frameId);
    expect(logs.resolve('', { frameId }).frameId).toBe(frameId);
    expect(() => logs.resolve(jobId, { frameNumber: 11 })).toThrow(/has no frame 11/);
    expect(() => logs.resolve('j-missing', { frameNumber: 10 })).toThrow(/job "j-missing" does not exist/);
    expect(() => logs.resolve('', { frameNumber: 10 })).toThrow(/job_id/);
  });

  it('reads a queued frame whose node already runs it (Batch is polled) as its first attempt', async () => {
    const w = world();
    w.node.set(frameId, Buffer.from('early\n'));
    const chunks = await collect(new FrameLogService(store, w.backend, w.reader));
    expect(chunks.map((c) => [c.attempt, c.offset, c.data.toString(), c.source, c.end])).toEqual([
      [1, 0, 'early\n', 'node', false],
      [1, 6, '', undefined, true],
    ]);
  });

  it('after an eviction, waits for the new attempt and starts its log at 0; a finished frame replays from storage', async () => {
    const w = world();
    const logs = new FrameLogService(store, w.backend, w.reader, { pollMs: 20 });
    await store.change(frameId, { type: 'started', state: 'running', attempt: 1, nodeId: 'n1' });
    w.node.set(frameId, Buffer.from('a1\n'));
    const { seen, done } = followInBackground(logs);
    await until(() => seen.some((c) => c.data.toString() === 'a1\n'));
    // Evicted: queued again; the old file is still on the node and must not be read as attempt 2.
    await store.change(frameId, { type: 'preempted', state: 'queued' });
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.filter((c) => c.attempt === 2 && c.data.length > 0)).toEqual([]);
    // The new attempt's node holds its own file by the time the service sees it start.
    w.node.set(frameId, Buffer.from('b2\n'));
    await store.change(frameId, { type: 'started', state: 'running', attempt: 2, nodeId: 'n2' });
    await until(() => seen.some((c) => c.data.toString() === 'b2\n'));
    w.stored.set(frameId, Buffer.from('b2\nend\n'));
    await store.change(frameId, { type: 'succeeded', state: 'succeeded', exitCode: 0 });
    await done; // the stream ends by itself after the end chunk
    const withData = seen.filter((c) => c.data.length > 0);
    expect(withData.map((c) => [c.attempt, c.offset, c.data.toString(), c.source])).toEqual([
      [1, 0, 'a1\n', 'node'],
      [2, 0, 'b2\n', 'node'],
      [2, 3, 'end\n', 'storage'],
    ]);
    expect(seen[seen.length - 1]).toMatchObject({ end: true, state: 'succeeded', attempt: 2, offset: 7 });
  });

  it('takes a file that shrinks for an attempt the service has not seen start yet', async () => {
    const w = world();
    const logs = new FrameLogService(store, w.backend, w.reader, { pollMs: 20 });
    await store.change(frameId, { type: 'started', state: 'running', attempt: 1, nodeId: 'n1' });
    w.node.set(frameId, Buffer.from('first try\n'));
    const { seen, stop, done } = followInBackground(logs);
    await until(() => seen.some((c) => c.data.length > 0));
    w.node.set(frameId, Buffer.from('again\n')); // Batch retried the task on the node
    await until(() => seen.some((c) => c.data.toString() === 'again\n'));
    stop();
    await done;
    expect(
      seen.filter((c) => c.data.length > 0).map((c) => [c.attempt, c.offset, c.data.toString()]),
    ).toEqual([
      [1, 0, 'first try\n'],
      [2, 0, 'again\n'],
    ]);
  });

  it('refuses a negative offset naming it', async () => {
    const logs = new FrameLogService(store, world().backend, undefined);
    await expect(collect(logs, { offset: -1 })).rejects.toThrow(/offset/);
  });
});
