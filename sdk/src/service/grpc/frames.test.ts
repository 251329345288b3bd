import * as w from '../../gen/spillway/v1/frames';
import type { FrameEvent } from '../../model/frames';
import { eventToWire } from '../../model/wire-mapping';
import { encodeWatchFramesResponse, watchResponse } from './frames';

function event(n: number, extra: Partial<FrameEvent> = {}): FrameEvent {
  return {
    cursor: String(n),
    time: new Date(1_700_000_000_000 + n),
    type: 'succeeded',
    key: { source: 'deadline', sourceJobId: 'job-1', sourceTaskId: String(n) },
    frameId: `f-${n.toString(16).padStart(8, '0')}`,
    jobId: 'j-1',
    state: 'succeeded',
    attempt: 1,
    ...extra,
  };
}

describe('the watch stream encoding', () => {
  const events = [
    event(1),
    event(2, {
      nodeId: 'node-7',
      exitCode: 0,
      message: 'done',
      outputs: [{ path: 'out/0002.png', sizeBytes: 123_456, sha256: 'a'.repeat(64) }],
    }),
    event(300, { type: 'failed', state: 'failed', exitCode: 3, message: 'x'.repeat(300) }),
  ];
  const generated = (list: readonly FrameEvent[]): Buffer =>
    Buffer.from(w.WatchFramesResponse.encode({ events: list.map(eventToWire) }).finish());

  it('writes the bytes the generated encoder writes, cached or not, in any batch', () => {
    expect(encodeWatchFramesResponse(watchResponse(events)).equals(generated(events))).toBe(true);
    // From the cache this time, and in other batches.
    expect(encodeWatchFramesResponse(watchResponse(events)).equals(generated(events))).toBe(true);
    expect(encodeWatchFramesResponse(watchResponse(events.slice(1))).equals(generated(events.slice(1)))).toBe(
      true,
    );
    const decoded = w.WatchFramesResponse.decode(encodeWatchFramesResponse(watchResponse(events)));
    expect(decoded.events.map((e) => e.cursor)).toEqual(['1', '2', '300']);
    expect(decoded.events[1]!.outputs[0]!.path).toBe('out/0002.png');
  });

  it('encodes a plain response (and a heartbeat) as the generated encoder does', () => {
    expect(encodeWatchFramesResponse(watchResponse([])).length).toBe(0);
    const plain = { events: events.map(eventToWire) };
    expect(encodeWatchFramesResponse(plain).equals(generated(events))).toBe(true);
  });
});
