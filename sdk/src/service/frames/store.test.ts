import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { JobSpec } from '../../model/frames';
import { FrameStore } from './store';

const job: JobSpec = { source: 'deadline:test', sourceJobId: 'job-1', commandTemplate: 'echo #IFRAME#' };
const frames = [1, 2, 3].map((n) => ({ sourceTaskId: String(n), frameStart: n, frameEnd: n }));

describe('FrameStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-store-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('creates each frame once, whatever the number of submissions', async () => {
    const store = FrameStore.open(dir);
    const first = await store.submit(job, frames);
    const again = await store.submit(job, [...frames, { sourceTaskId: '4', frameStart: 4, frameEnd: 4 }]);
    expect(first.frames.map((f) => f.created)).toEqual([true, true, true]);
    expect(again.frames.map((f) => f.created)).toEqual([false, false, false, true]);
    expect(again.frames.slice(0, 3).map((f) => f.frameId)).toEqual(first.frames.map((f) => f.frameId));
    expect(store.framesOf(first.jobId)).toHaveLength(4);
    expect(store.eventsAfter(0, {}, 100).events.map((e) => e.type)).toEqual([
      'queued',
      'queued',
      'queued',
      'queued',
    ]);
    await store.close();
  });

  it('replays jobs, frames, events and cursors after a reopen', async () => {
    const store = FrameStore.open(dir);
    const { jobId, frames: submitted } = await store.submit(
      { ...job, deadline: new Date('2026-12-01T00:00:00Z') },
      frames,
    );
    const id = submitted[0]!.frameId;
    await store.change(id, { type: 'started', state: 'running', attempt: 1, nodeId: 'node-1' });
    await store.change(id, {
      type: 'succeeded',
      state: 'succeeded',
      exitCode: 0,
      outputs: [{ path: 'out/0001.png', sizeBytes: 10, sha256: 'ab'.repeat(32) }],
    });
    await store.markDispatched([id], 1);
    const before = store.eventsAfter(0, {}, 100).events;
    await store.close();

    const reopened = FrameStore.open(dir);
    expect(reopened.eventsAfter(0, {}, 100).events).toEqual(before);
    expect(reopened.lastSeq).toBe(5);
    expect(reopened.getFrame(id)).toMatchObject({ state: 'succeeded', attempts: 1, nodeId: 'node-1' });
    expect(reopened.getFrame(id)!.outputs).toHaveLength(1);
    expect(reopened.dispatchedGeneration(id)).toBe(1);
    expect(reopened.getJob(jobId)!.spec.deadline).toEqual(new Date('2026-12-01T00:00:00Z'));
    expect(reopened.getJob(jobId)!.counts).toMatchObject({ queued: 2, succeeded: 1 });
    // A cursor from before the restart resumes exactly after it.
    expect(reopened.eventsAfter(3, {}, 100).events.map((e) => e.cursor)).toEqual(['4', '5']);
    await reopened.close();
  });

  it('survives a torn last line, as a SIGKILL mid-write leaves it', async () => {
    const store = FrameStore.open(dir);
    await store.submit(job, frames);
    await store.close();
    fs.appendFileSync(path.join(dir, 'frames.journal'), '{"t":"event","seq":4,"fra');

    const reopened = FrameStore.open(dir);
    expect(reopened.lastSeq).toBe(3);
    const { frames: more } = await reopened.submit(job, [{ sourceTaskId: '9', frameStart: 9, frameEnd: 9 }]);
    expect(more[0]!.created).toBe(true);
    await reopened.close();
    expect(FrameStore.open(dir).lastSeq).toBe(4);
  });

  it('refuses a journal corrupt in the middle rather than guessing', async () => {
    fs.writeFileSync(path.join(dir, 'frames.journal'), 'not json\n{}\n');
    expect(() => FrameStore.open(dir)).toThrow(/corrupt at byte 0/);
  });

  it('filters events by job and by source', async () => {
    const store = FrameStore.open(dir);
    const a = await store.submit(job, frames);
    await store.submit({ ...job, source: 'opencue:x' }, frames);
    expect(store.eventsAfter(0, { jobId: a.jobId }, 100).events).toHaveLength(3);
    expect(
      store.eventsAfter(0, { source: 'opencue:x' }, 100).events.every((e) => e.key.source === 'opencue:x'),
    ).toBe(true);
    expect(store.eventsAfter(0, {}, 2)).toMatchObject({ scannedTo: 2 });
    await store.close();
  });
});
