import { parseConnectionString } from './client';
import { validContainerName } from './layout';
import { redactKnown } from '../logging';

describe('parseConnectionString', () => {
  test('GIVEN a connection string with a key THEN accepted and the key registered for redaction', () => {
    const key = Buffer.from('unit-test-account-key-value').toString('base64');
    const cs = `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${key};EndpointSuffix=core.windows.net`;
    expect(parseConnectionString(cs)).toBe(cs);
    expect(redactKnown(`oops ${key}`)).toBe('oops REDACTED');
  });

  test.each<[string]>([['AccountName=acct'], ['AccountKey=c2VjcmV0LXZhbHVl'], ['garbage']])(
    'GIVEN %j THEN refused without echoing it',
    (cs) => {
      let message = '';
      try {
        parseConnectionString(cs, 'SPILLWAY_STORAGE_CONNECTION_STRING');
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/^SPILLWAY_STORAGE_CONNECTION_STRING: must be a storage connection string/);
      expect(message).not.toContain('c2VjcmV0');
    },
  );
});

describe('validContainerName', () => {
  test.each<[string, boolean]>([
    ['spillway-assets', true],
    ['abc', true],
    ['ab', false],
    ['Assets', false],
    ['a--b', false],
    ['-ab', false],
    ['a'.repeat(63), true],
    ['a'.repeat(64), false],
  ])('GIVEN %j THEN valid=%s', (name, valid) => {
    if (valid) expect(validContainerName(name)).toBe(name);
    else expect(() => validContainerName(name)).toThrow(/container: must be 3-63 characters/);
  });
});
