import { backoffMs, DEFAULT_BACKOFF, retry, sleep } from './retry';

describe('backoffMs', () => {
  it.each([
    // [attempt, options, random, expected]
    [1, {}, 0, 100],
    [2, {}, 0, 200],
    [3, {}, 0, 400],
    [3, {}, 1, 200],
    [10, {}, 0, 5000],
    [10, {}, 0.999, 2502],
    [1, { initialIntervalMs: 200, maxJitter: 1 }, 0.5, 100],
    [4, { initialIntervalMs: 200, maxIntervalMs: 1000, maxJitter: 1 }, 0, 1000],
    [4, { initialIntervalMs: 200, maxIntervalMs: 1000, maxJitter: 1 }, 0.999, 1],
    [3, { initialIntervalMs: 100, factor: 1.5, maxJitter: 0 }, 0.7, 225],
    [2, { maxJitter: 7 }, 1, 0],
  ])('GIVEN attempt %i, %j and random %d THEN %i ms', (attempt, options, random, expected) => {
    expect(backoffMs(attempt, options, () => random)).toBe(expected);
  });

  it('GIVEN any attempt WHEN backing off with the defaults THEN within [(1 - jitter) * step, step], never over the cap', () => {
    for (let n = 1; n <= 30; n++) {
      const step = Math.min(DEFAULT_BACKOFF.maxIntervalMs, 100 * 2 ** (n - 1));
      const ms = backoffMs(n);
      expect(ms).toBeGreaterThanOrEqual(Math.floor(step * 0.5));
      expect(ms).toBeLessThanOrEqual(step);
    }
  });
});

describe('retry', () => {
  const transient = Object.assign(new Error('busy'), { transient: true });
  const fatal = new Error('bad request');
  const isTransient = (e: unknown): boolean => (e as { transient?: boolean }).transient === true;

  it('GIVEN two transient faults then success WHEN retried THEN three attempts and the result', async () => {
    const seen: number[] = [];
    const delays: number[] = [];
    const out = await retry(
      async (attempt) => {
        seen.push(attempt);
        if (attempt < 3) throw transient;
        return 'done';
      },
      { retryable: isTransient, initialIntervalMs: 1, onRetry: (_e, _a, ms) => delays.push(ms) },
    );
    expect(out).toBe('done');
    expect(seen).toEqual([1, 2, 3]);
    expect(delays).toHaveLength(2);
  });

  it('GIVEN an error the predicate refuses WHEN retried THEN it is thrown as it is after one attempt', async () => {
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw fatal;
        },
        { retryable: isTransient },
      ),
    ).rejects.toBe(fatal);
    expect(calls).toBe(1);
  });

  it('GIVEN endless transient faults WHEN retried THEN it gives up after maxAttempts with the last error', async () => {
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw transient;
        },
        { retryable: isTransient, maxAttempts: 5, initialIntervalMs: 1 },
      ),
    ).rejects.toBe(transient);
    expect(calls).toBe(5);
  });

  it('GIVEN the predicate sees the attempt WHEN it refuses the third THEN three calls', async () => {
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw transient;
        },
        { retryable: (_e, attempt) => attempt < 3, maxAttempts: 10, initialIntervalMs: 1 },
      ),
    ).rejects.toBe(transient);
    expect(calls).toBe(3);
  });

  it('GIVEN a long pause WHEN the signal aborts THEN retry rejects with its reason at once and calls no more', async () => {
    const ac = new AbortController();
    let calls = 0;
    const started = Date.now();
    const p = retry(
      async () => {
        calls++;
        throw transient;
      },
      { retryable: isTransient, initialIntervalMs: 60_000, abortSignal: ac.signal },
    );
    setTimeout(() => ac.abort(new Error('stop')), 10);
    await expect(p).rejects.toThrow('stop');
    expect(calls).toBe(1);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('GIVEN an aborted signal WHEN retry starts THEN fn is never called', async () => {
    const ac = new AbortController();
    ac.abort(new Error('already'));
    const fn = jest.fn(async () => 1);
    await expect(retry(fn, { retryable: () => true, abortSignal: ac.signal })).rejects.toThrow('already');
    expect(fn).not.toHaveBeenCalled();
  });

  it('GIVEN a server-asked pause WHEN retried THEN that pause is used, capped at maxIntervalMs', async () => {
    const delays: number[] = [];
    await retry(
      async (attempt) => {
        if (attempt === 1) throw Object.assign(new Error('429'), { transient: true, retryAfterMs: 3 });
        if (attempt === 2) throw Object.assign(new Error('429'), { transient: true, retryAfterMs: 99_999 });
        return 1;
      },
      {
        retryable: isTransient,
        maxIntervalMs: 20,
        delayOf: (e) => (e as { retryAfterMs?: number }).retryAfterMs,
        onRetry: (_e, _a, ms) => delays.push(ms),
      },
    );
    expect(delays).toEqual([3, 20]);
  });
});

describe('sleep', () => {
  it('GIVEN 30 ms WHEN awaited THEN at least about 30 ms pass', async () => {
    const t = Date.now();
    await sleep(30);
    expect(Date.now() - t).toBeGreaterThanOrEqual(25);
  });

  it('GIVEN a long sleep WHEN the signal aborts THEN it resolves early; an aborted signal resolves at once', async () => {
    const ac = new AbortController();
    const t = Date.now();
    setTimeout(() => ac.abort(), 10);
    await sleep(60_000, ac.signal);
    await sleep(60_000, ac.signal);
    expect(Date.now() - t).toBeLessThan(5000);
  });
});

describe('retry and abort during an attempt', () => {
  it('GIVEN an attempt that fails because the signal aborted WHEN retried THEN its own error is thrown, not retried', async () => {
    const ac = new AbortController();
    const cancelled = new Error('CANCELLED');
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          ac.abort(new Error('reason'));
          throw cancelled;
        },
        { retryable: () => true, abortSignal: ac.signal },
      ),
    ).rejects.toBe(cancelled);
    expect(calls).toBe(1);
  });
});
