import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ValidationError } from '../errors';
import { loadConfig, readSecretFile } from './config';

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
