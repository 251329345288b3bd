import { BatchError, isRetryable, toBatchError } from './errors';
import { mapLimit } from './limit';

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

describe('mapLimit', () => {
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
