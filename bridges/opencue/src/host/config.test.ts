import { ValidationError } from '@spillway/sdk';
import { resolveConfig } from './config';

const base = { cuebot: 'cuebot:8443', service: '127.0.0.1:7443', hostName: 'azure-burst-1' };

describe('resolveConfig', () => {
  it('GIVEN only the required keys WHEN resolved THEN the documented defaults apply', () => {
    const c = resolveConfig({}, base);
    expect(c).toMatchObject({
      rqdPort: 8444,
      facility: 'cloud',
      tags: ['burst'],
      allocation: 'burst',
      cores: 16,
      turnaroundSeconds: 7200,
      reportIntervalMs: 5000,
    });
  });

  it('GIVEN no state dir WHEN resolved THEN state lives under the Spillway data directory, not the current one', () => {
    const saved = process.env.SPILLWAY_DATA_DIR;
    process.env.SPILLWAY_DATA_DIR = '/srv/spillway-data';
    try {
      expect(resolveConfig({}, base).stateDir).toBe('/srv/spillway-data/bridges/opencue');
    } finally {
      if (saved === undefined) delete process.env.SPILLWAY_DATA_DIR;
      else process.env.SPILLWAY_DATA_DIR = saved;
    }
  });

  it('GIVEN a Windows source in --path-map WHEN resolved THEN it is accepted as a rule', () => {
    expect(resolveConfig({}, { ...base, pathMap: ['Z:\\projects=/mnt/projects'] }).pathMap).toEqual([
      { from: 'Z:\\projects', to: '/mnt/projects' },
    ]);
  });

  it('GIVEN a file and flags WHEN resolved THEN flags win over the file', () => {
    const c = resolveConfig({ ...base, cores: 4, facility: 'azure' }, { cores: '8', tags: 'burst,cloud' });
    expect(c.cores).toBe(8);
    expect(c.facility).toBe('azure');
    expect(c.tags).toEqual(['burst', 'cloud']);
  });

  it.each<[string, Record<string, unknown>, string, string]>([
    ['a missing cuebot', { ...base, cuebot: undefined }, 'cuebot', 'undefined'],
    ['a cuebot without a port', { ...base, cuebot: 'cuebot' }, 'cuebot', '"cuebot"'],
    ['a service port out of range', { ...base, service: 'svc:70000' }, 'service', '"svc:70000"'],
    ['a zero RQD port', { ...base, rqdPort: 0 }, 'rqdPort', '0'],
    ['fractional cores', { ...base, cores: 1.5 }, 'cores', '1.5'],
    ['a host name with a space', { ...base, hostName: 'a b' }, 'hostName', '"a b"'],
    ['an empty tag list', { ...base, tags: [] }, 'tags', '[]'],
    ['a bad log level', { ...base, logLevel: 'loud' }, 'logLevel', '"loud"'],
  ])(
    'GIVEN %s WHEN resolved THEN a ValidationError names the key and quotes the value',
    (_name, flags, field, quoted) => {
      let err: unknown;
      try {
        resolveConfig({}, flags);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe(field);
      expect((err as Error).message).toContain(quoted);
    },
  );

  it('GIVEN --path-map flags WHEN resolved THEN they become rules', () => {
    const c = resolveConfig({}, { ...base, pathMap: ['/mnt/show=/mnt/cloud/show'] });
    expect(c.pathMap).toEqual([{ from: '/mnt/show', to: '/mnt/cloud/show' }]);
    expect(() => resolveConfig({}, { ...base, pathMap: ['/mnt/show'] })).toThrow(/pathMap\[0\]\.to/);
  });

  it('GIVEN an unknown key in the file WHEN resolved THEN it is named', () => {
    expect(() => resolveConfig({ ...base, corez: 4 }, {})).toThrow(/corez/);
  });
});
