import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ValidationError } from '../errors';
import { didYouMean, loadConfig, readSecretFile } from './config';

describe('loadConfig', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-config-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (obj: unknown): string => {
    const file = path.join(dir, 'spillway.json');
    fs.writeFileSync(file, JSON.stringify(obj));
    return file;
  };

  it('gives the embedded default with no file and no environment', () => {
    const c = loadConfig({ env: {} });
    expect(c).toMatchObject({
      listen: '127.0.0.1:7443',
      compute: { backend: 'local', defaultGroup: 'default' },
    });
    expect(c.storage.connectionStringFile).toBeUndefined();
    expect(path.isAbsolute(c.dataDir)).toBe(true);
  });

  it('lets the environment win over the file', () => {
    const file = write({ listen: '127.0.0.1:1', compute: { local: { nodes: 2 } } });
    const c = loadConfig({ file, env: { SPILLWAY_LISTEN: '127.0.0.1:2', SPILLWAY_LOCAL_NODES: '8' } });
    expect(c.listen).toBe('127.0.0.1:2');
    expect(c.compute.local.nodes).toBe(8);
  });

  // GIVEN one bad key WHEN loaded THEN the error names the key and quotes the value
  it.each<[string, unknown, Record<string, string>, string, string]>([
    ['nodes not a number', { compute: { local: { nodes: 'many' } } }, {}, 'compute.local.nodes', '"many"'],
    ['negative nodes from env', {}, { SPILLWAY_LOCAL_NODES: '-1' }, 'compute.local.nodes', '"-1"'],
    ['unknown backend', { compute: { backend: 'aws' } }, {}, 'compute.backend', '"aws"'],
    ['batch without url', { compute: { backend: 'batch' } }, {}, 'compute.batch.accountUrl', '""'],
    ['tls cert without key', { tls: { certFile: '/x.pem' } }, {}, 'tls.keyFile', '""'],
    ['log level', {}, { SPILLWAY_LOG_LEVEL: 'loud' }, 'log.level', '"loud"'],
  ])('refuses %s', (_what, file, env, key, quoted) => {
    let error: unknown;
    try {
      loadConfig({ file: write(file), env });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(key);
    expect((error as Error).message).toContain(quoted);
  });

  // GIVEN a key the service does not know (a typo of one it does) WHEN loaded
  // THEN it is refused, naming the key and the key it probably meant, before anything starts
  it.each<[string, unknown, string, string]>([
    [
      'a misspelt budget key',
      { budget: { maxSpendPerHr: 1 } },
      'budget.maxSpendPerHr',
      'budget.maxSpendPerHour',
    ],
    ['a misspelt section', { compte: { backend: 'local' } }, 'compte', 'compute'],
    [
      'a misspelt nested key',
      { compute: { local: { node: 2 } } },
      'compute.local.node',
      'compute.local.nodes',
    ],
    ['a key in the wrong case', { LISTEN: '127.0.0.1:1' }, 'LISTEN', 'listen'],
    [
      'a key under the wrong section',
      { storage: { maxSpendPerHour: 1 } },
      'storage.maxSpendPerHour',
      'budget.maxSpendPerHour',
    ],
  ])('refuses %s', (_what, file, key, meant) => {
    let error: unknown;
    try {
      loadConfig({ file: write(file), env: {} });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(key);
    expect((error as Error).message).toContain(
      `is not a configuration key (in ${path.join(dir, 'spillway.json')})`,
    );
    expect((error as Error).message).toContain(`did you mean "${meant}"?`);
  });

  it('refuses a key it cannot place at all, without a guess', () => {
    expect(() => loadConfig({ file: write({ frobnicate: true }), env: {} })).toThrow(
      /^frobnicate: is not a configuration key \(in .*spillway\.json\) \(got true\)$/,
    );
  });

  it('refuses a section given as a scalar (the budget would silently be uncapped)', () => {
    expect(() => loadConfig({ file: write({ budget: 5 }), env: {} })).toThrow(
      /budget: must be an object with keys maxSpendPerHour, currency \(got 5\)/,
    );
  });

  it('refuses an unknown override key the same way', () => {
    expect(() => loadConfig({ env: {}, overrides: { 'compute.local.nodez': 2 } })).toThrow(
      /compute\.local\.nodez: is not a configuration key \(in overrides\); did you mean "compute\.local\.nodes"\?/,
    );
  });

  it('accepts every documented key, and the budget it names', () => {
    const c = loadConfig({
      env: {},
      file: write({
        listen: '127.0.0.1:1',
        dataDir: dir,
        tokenFile: path.join(dir, 't'),
        tls: { certFile: '/c.pem', keyFile: '/k.pem', clientCaFile: '/ca.pem' },
        compute: {
          backend: 'batch',
          defaultGroup: 'main',
          local: { nodes: 1, slotsPerNode: 2, bootDelayMs: 0 },
          batch: {
            accountUrl: 'https://a.westeurope.batch.azure.com',
            accountName: 'a',
            accountKeyFile: '/k',
          },
        },
        workerBurst: {
          subscriptionId: 's',
          resourceGroup: 'rg',
          location: 'westeurope',
          endpoint: 'https://arm',
          caFile: '/ca',
          tokenFile: '/t',
        },
        storage: { connectionStringFile: '/cs', container: 'c' },
        budget: { maxSpendPerHour: 12.5, currency: 'EUR' },
        log: { level: 'warn', format: 'json' },
      }),
    });
    expect(c.budget).toEqual({ maxSpendPerHour: 12.5, currency: 'EUR' });
    expect(c.workerBurst?.location).toBe('westeurope');
    expect(c.compute.batch).toEqual({
      accountUrl: 'https://a.westeurope.batch.azure.com',
      accountName: 'a',
      accountKeyFile: '/k',
    });
  });

  it.each<[string, readonly string[], string | undefined]>([
    ['maxSpendPerHr', ['maxSpendPerHour', 'currency'], 'maxSpendPerHour'],
    ['curency', ['maxSpendPerHour', 'currency'], 'currency'],
    ['zzzzzz', ['maxSpendPerHour', 'currency'], undefined],
  ])('didYouMean(%j) is %j', (word, candidates, expected) => {
    expect(didYouMean(word, candidates)).toBe(expected);
  });

  it('names the file when it is not JSON', () => {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, '{ nope');
    expect(() => loadConfig({ file, env: {} })).toThrow(/config: is not valid JSON/);
  });

  it('reads a secret file without ever quoting its content', () => {
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, '  the-token-value-123  \n');
    expect(readSecretFile(file, 'tokenFile')).toBe('the-token-value-123');
    fs.writeFileSync(file, '');
    expect(() => readSecretFile(file, 'tokenFile')).toThrow(/tokenFile: is empty/);
  });
});
