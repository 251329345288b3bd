import { BurstServiceError, createLogger, type FrameEvent, type WatchFramesOptions } from '@spillway/sdk';
import { FrameEventFollower } from './follower';

// The follower's own decisions, with the client's stream scripted (the real client and
// service are exercised by the bridges' end-to-end tests).

const ev = (cursor: string): FrameEvent =>
  ({
    cursor,
    frameId: `f${cursor}`,
    state: 'succeeded',
    key: { source: 's', sourceJobId: 'j', sourceTaskId: cursor },
  }) as unknown as FrameEvent;

/** A client whose successive watches yield the given scripts (then wait for the abort). */
function scripted(scripts: ((o: WatchFramesOptions) => AsyncGenerator<FrameEvent>)[]) {
  const calls: WatchFramesOptions[] = [];
  return {
    calls,
    client: {
      watchFrames(o: WatchFramesOptions): AsyncGenerator<FrameEvent> {
        calls.push(o);
        const next = scripts.shift();
        if (next) return next(o);
        // Nothing more: wait for the abort, then end.
        // eslint-disable-next-line require-yield
        return (async function* () {
          await new Promise<void>((r) => o.abortSignal?.addEventListener('abort', () => r(), { once: true }));
        })();
      },
    },
  };
}

const unavailable = (): BurstServiceError =>
  new BurstServiceError('down', 'UNAVAILABLE', 14, undefined, undefined);

describe('FrameEventFollower', () => {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', write: (l) => lines.push(l) });
  beforeEach(() => (lines.length = 0));

  async function follow(
    scripts: Parameters<typeof scripted>[0],
    handle: (e: FrameEvent) => Promise<void>,
    until: (saved: string[]) => boolean,
  ): Promise<{ saved: string[]; calls: WatchFramesOptions[] }> {
    const abort = new AbortController();
    const { client, calls } = scripted(scripts);
    const saved: string[] = [];
    const run = new FrameEventFollower({
      client,
      source: 's',
      cursor: () => saved[saved.length - 1] ?? '',
      saveCursor: (c) => {
        saved.push(c);
        if (until(saved)) abort.abort();
      },
      handle,
      backoff: { initialIntervalMs: 1, maxIntervalMs: 2 },
      logger,
      abortSignal: abort.signal,
    }).run();
    await run;
    return { saved, calls };
  }

  it('GIVEN events WHEN followed THEN each is applied, then its cursor saved, in order', async () => {
    const applied: string[] = [];
    const { saved } = await follow(
      [
        async function* () {
          yield ev('1');
          yield ev('2');
          yield ev('3');
        },
      ],
      async (e) => void applied.push(e.cursor),
      (s) => s.length === 3,
    );
    expect(applied).toEqual(['1', '2', '3']);
    expect(saved).toEqual(['1', '2', '3']);
  });

  it('GIVEN a handler failing with a passing fault WHEN followed THEN the same event is applied again before its cursor moves', async () => {
    let attempts = 0;
    const { saved } = await follow(
      [
        async function* () {
          yield ev('1');
        },
      ],
      async () => {
        attempts += 1;
        if (attempts < 3) throw unavailable();
      },
      (s) => s.length === 1,
    );
    expect(attempts).toBe(3);
    expect(saved).toEqual(['1']);
    expect(lines.filter((l) => l.includes('not applied yet'))).toHaveLength(1);
  });

  it('GIVEN a handler failing otherwise WHEN followed THEN the event is logged and skipped; later ones go on', async () => {
    const applied: string[] = [];
    const { saved } = await follow(
      [
        async function* () {
          yield ev('1');
          yield ev('2');
        },
      ],
      async (e) => {
        if (e.cursor === '1') throw new TypeError('bug');
        applied.push(e.cursor);
      },
      (s) => s.length === 2,
    );
    expect(applied).toEqual(['2']);
    expect(saved).toEqual(['1', '2']);
    expect(lines.some((l) => / ERROR .*skipped.*error=bug/.test(l))).toBe(true);
  });

  it('GIVEN the service ends the stream WHEN followed THEN it resumes after the saved cursor', async () => {
    const { calls, saved } = await follow(
      [
        async function* () {
          yield ev('1');
        },
        async function* () {
          yield ev('2');
        },
      ],
      async () => undefined,
      (s) => s.length === 2,
    );
    expect(calls.map((c) => c.afterCursor)).toEqual(['', '1']);
    expect(saved).toEqual(['1', '2']);
  });

  it('GIVEN the watch is refused for good WHEN followed THEN run() rejects with the error', async () => {
    const refused = new BurstServiceError('invalid bearer', 'UNAUTHENTICATED', 16, undefined, undefined);
    const { client } = scripted([
      // eslint-disable-next-line require-yield
      async function* () {
        throw refused;
      },
    ]);
    const follower = new FrameEventFollower({
      client,
      source: 's',
      cursor: () => '',
      saveCursor: () => undefined,
      handle: async () => undefined,
    });
    await expect(follower.run()).rejects.toBe(refused);
  });
});
