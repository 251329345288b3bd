import * as net from 'node:net';
import type { FrameEvent } from '@spillway/sdk';
import type { TestService } from './service';

/** A TCP listener on 127.0.0.1:0 (a licence server, say) that records when each connection arrived. */
export async function tcpListener(): Promise<{
  port: number;
  connections: number[];
  close(): Promise<void>;
}> {
  const connections: number[] = [];
  const server = net.createServer((socket) => {
    connections.push(Date.now());
    socket.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A port with nothing listening on it. */
export async function closedPort(): Promise<number> {
  const s = await tcpListener();
  await s.close();
  return s.port;
}

/** Polls `f` every 200 ms until it answers something other than undefined. */
export async function until<T>(
  what: string,
  f: () => Promise<T | undefined>,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Every event of a job until each of its `frames` frames settled (succeeded, failed, recalled, cancelled). */
export async function eventsUntilDone(
  svc: TestService,
  jobId: string,
  frames: number,
): Promise<FrameEvent[]> {
  const events: FrameEvent[] = [];
  const abort = new AbortController();
  const finished = new Set<string>();
  for await (const e of svc.client.watchFrames({ jobId, abortSignal: abort.signal })) {
    events.push(e);
    if (['succeeded', 'failed', 'recalled', 'cancelled'].includes(e.state)) finished.add(e.frameId);
    if (finished.size === frames) abort.abort();
  }
  return events;
}
