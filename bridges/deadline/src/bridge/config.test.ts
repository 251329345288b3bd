import { ValidationError } from '@spillway/sdk';
import { resolveConfig } from './config';

describe('resolveConfig', () => {
  const base = { webservice: 'http://dl:8081', service: 'svc:7443' };
  it('GIVEN the required keys WHEN resolved THEN defaults are filled in', () => {
    expect(resolveConfig(base)).toMatchObject({
      name: 'default',
      turnaroundSeconds: 7200,
      deadlineKey: 'SpillwayDeadline',
      pollIntervalMs: 5000,
      cloudRetries: 1,
      pathRules: [],
    });
  });
  it('GIVEN no state dir WHEN resolved THEN state lives under the Spillway data directory, not the current one', () => {
    const saved = process.env.SPILLWAY_DATA_DIR;
    process.env.SPILLWAY_DATA_DIR = '/srv/spillway-data';
    try {
      expect(resolveConfig(base).stateDir).toBe('/srv/spillway-data/bridges/deadline');
    } finally {
      if (saved === undefined) delete process.env.SPILLWAY_DATA_DIR;
      else process.env.SPILLWAY_DATA_DIR = saved;
    }
  });
  it('GIVEN flags and a file WHEN resolved THEN flags win', () => {
    expect(
      resolveConfig({ ...base, turnaroundSeconds: '60' }, { turnaroundSeconds: 900, name: 'studio' }),
    ).toMatchObject({
      turnaroundSeconds: 60,
      name: 'studio',
    });
  });
  it.each([
    ['webservice', { ...base, webservice: 'ftp://x' }, '"ftp://x"'],
    ['webservice', { ...base, webservice: 'http://u:hunter22@dl:8081' }, 'http://dl:8081'],
    ['service', { ...base, service: 'nope' }, '"nope"'],
    ['turnaroundSeconds', { ...base, turnaroundSeconds: '-5' }, '"-5"'],
    ['pathRules[0].from', { ...base, pathRules: [{ from: 'Z:' }] }, '"Z:"'],
    ['pathRules[0].to', { ...base, pathRules: [{ from: 'Z:\\p', to: 'relative' }] }, '"relative"'],
    ['cloudRetries', { ...base, cloudRetries: 1.5 }, '1.5'],
  ])(
    'GIVEN a bad %s WHEN resolved THEN a ValidationError names it and quotes the value',
    (field, input, quoted) => {
      let err: unknown;
      try {
        resolveConfig(input);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe(field);
      expect((err as Error).message).toContain(quoted);
      expect((err as Error).message).not.toContain('hunter22');
    },
  );
});
