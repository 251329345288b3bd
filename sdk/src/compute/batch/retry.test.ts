import { BatchError, isRetryable, toBatchError } from './errors';
import { backoffMs, mapLimit, withRetry } from './retry';

describe('isRetryable', () => {
  it.each([
    [{ statusCode: 503, code: 'ServerBusy' }, true],
    [{ statusCode: 500, code: 'OperationTimedOut' }, true],
    [{ code: 'ECONNRESET' }, true],
    [{ code: 'REQUEST_SEND_ERROR' }, true],
    [{ message: 'socket hang up' }, true],
    [{ statusCode: 409, code: 'TaskExists' }, false],
    [{ statusCode: 400, code: 'InvalidPropertyValue' }, false],
    [{ statusCode: 403, code: 'AuthenticationFailed' }, false],
    [{ name: 'AbortError' }, false],
  ])('GIVEN %j THEN %s', (e, expected) => {
    expect(isRetryable(e)).toBe(expected);
  });
});

describe('toBatchError', () => {
  it('GIVEN a RestError carrying request headers and body WHEN converted THEN only the code, status and Batch message remain', () => {
    const raw = {
      statusCode: 409,
      code: 'TaskExists',
      message: { lang: 'en-US', value: 'The specified task already exists.\nRequestId:abc\nTime:t' },
      request: {
        headers: { authorization: 'SharedKey acct:SIGNATURE' },
        body: '{"containerUrl":"http://x?sig=SECRET"}',
      },
    };
    const e = toBatchError(raw);
    expect(e).toBeInstanceOf(BatchError);
    expect(e).toMatchObject({ code: 'TaskExists', statusCode: 409 });
    expect(e.message).toBe(
      'Azure Batch answered 409 TaskExists: The specified task already exists. [RequestId:abc]',
    );
    expect(JSON.stringify(e) + e.message + String(e.stack)).not.toMatch(/SIGNATURE|SECRET/);
  });
});

describe('backoff and retry', () => {
  it('GIVEN attempts 1..10 WHEN backing off THEN within [0, min(cap, base*2^(n-1))]', () => {
    for (let n = 1; n <= 10; n++) {
      expect(backoffMs(n, { baseDelayMs: 100, maxDelayMs: 1000 }, () => 0.999)).toBeLessThanOrEqual(
        Math.min(1000, 100 * 2 ** (n - 1)),
      );
      expect(backoffMs(n, {}, () => 0)).toBe(0);
    }
  });

  it('GIVEN two 503s then success WHEN retried THEN three attempts; a 409 is thrown at once as a BatchError', async () => {
    let calls = 0;
    const ok = await withRetry(
      async () => {
        if (++calls < 3) throw { statusCode: 503, code: 'ServerBusy', message: { value: 'busy' } };
        return 'done';
      },
      { baseDelayMs: 1 },
    );
    expect([ok, calls]).toEqual(['done', 3]);
    calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw { statusCode: 409, code: 'PoolExists' };
      }),
    ).rejects.toMatchObject({ name: 'BatchError', code: 'PoolExists' });
    expect(calls).toBe(1);
  });

  it('GIVEN endless 503s WHEN retried THEN it gives up after maxAttempts; an abort stops it at once', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw { statusCode: 503, code: 'ServerBusy' };
        },
        { maxAttempts: 4, baseDelayMs: 1 },
      ),
    ).rejects.toMatchObject({ code: 'ServerBusy', statusCode: 503 });
    expect(calls).toBe(4);
    const ac = new AbortController();
    const p = withRetry(
      async () => {
        throw { statusCode: 503 };
      },
      { baseDelayMs: 10_000, abortSignal: ac.signal },
    );
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
  });

  it('GIVEN 10 items and a limit of 3 WHEN mapped THEN never more than 3 in flight, results in order', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapLimit(
      Array.from({ length: 10 }, (_, i) => i),
      3,
      async (i) => {
        peak = Math.max(peak, ++inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        return i * 2;
      },
    );
    expect(out).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    expect(peak).toBe(3);
  });
});
