import { ValidationError } from '../../errors';
import { ArmError, toArmError } from './errors';

class RestError extends Error {
  override readonly name = 'RestError';
  constructor(
    message: string,
    readonly code?: string,
    readonly statusCode?: number,
    readonly request?: unknown,
  ) {
    super(message);
  }
}

describe('toArmError', () => {
  // GIVEN errors as @azure/arm-compute raises them WHEN mapped THEN ArmErrors with the ARM code, no secrets
  it.each<[string, Error, string, number | undefined, string]>([
    [
      'a RestError with its ARM code',
      new RestError('Operation not allowed', 'OperationNotAllowed', 409),
      'OperationNotAllowed',
      409,
      'resize: Operation not allowed (ARM OperationNotAllowed, HTTP 409)',
    ],
    [
      'a RestError without a code',
      new RestError('Unexpected status code: 502', undefined, 502),
      'Http502',
      502,
      'resize: Unexpected status code: 502 (ARM Http502, HTTP 502)',
    ],
    [
      'a failed long-running operation',
      new Error('The long-running operation has failed. AllocationFailed. No capacity'),
      'AllocationFailed',
      undefined,
      'resize: No capacity (ARM AllocationFailed)',
    ],
    [
      'a message with a token',
      new RestError('bad header Bearer abc.def.ghi', 'InvalidAuthenticationToken', 401),
      'InvalidAuthenticationToken',
      401,
      'resize: bad header Bearer REDACTED (ARM InvalidAuthenticationToken, HTTP 401)',
    ],
  ])('%s', (_what, input, code, status, message) => {
    const out = toArmError(input, 'resize');
    expect(out).toBeInstanceOf(ArmError);
    expect(out).toMatchObject({ code, statusCode: status, message });
    expect((out as ArmError).cause).toBeUndefined();
  });

  it('passes aborts and SDK errors through', () => {
    const abort = Object.assign(new Error('aborted'), { name: 'AbortError' });
    const validation = new ValidationError('f', 1, 'bad');
    expect(toArmError(abort, 'x')).toBe(abort);
    expect(toArmError(validation, 'x')).toBe(validation);
  });
});
