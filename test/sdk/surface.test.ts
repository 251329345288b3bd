/**
 * The package surface of `@spillway/sdk`, loaded the way a user loads it: a fresh Node
 * process requiring the built package through its package.json "exports" (run `npx tsc -b`
 * first; `npm test` does). The root is the client, the model and the errors; the server,
 * DI, compute backends and emulators load only through their subpaths.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../support/process';

const repo = path.resolve(__dirname, '../..');

/** The files a fresh Node process has loaded after requiring `specifier`, relative to the repository. */
async function loadedBy(specifier: string): Promise<string[]> {
  const script = `
    require(${JSON.stringify(specifier)});
    process.stdout.write(JSON.stringify(Object.keys(require.cache)));
  `;
  const r = await run(process.execPath, ['-e', script], { cwd: repo });
  if (r.code !== 0) throw new Error(`requiring ${specifier} failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as string[]).map((f) => path.relative(repo, fs.realpathSync(f)));
}

const SERVER_ONLY: ReadonlyArray<[string, RegExp]> = [
  ['@grpc/reflection', /(^|\/)node_modules\/@grpc\/reflection\//],
  ['inversify', /(^|\/)node_modules\/(@inversifyjs\/[^/]+|inversify)\//],
  ['reflect-metadata', /(^|\/)node_modules\/reflect-metadata\//],
  ['an emulate/ module', /^sdk\/dist\/emulate\//],
  ['a service/ module', /^sdk\/dist\/service\//],
  ['a compute backend', /^sdk\/dist\/compute\/|(^|\/)node_modules\/@azure\/(batch|arm-compute)\//],
];

describe('@spillway/sdk package surface', () => {
  beforeAll(() => {
    if (!fs.existsSync(path.join(repo, 'sdk/dist/index.js'))) {
      throw new Error('sdk/dist is missing: run `npx tsc -b` before this test (npm test does)');
    }
  });

  it('GIVEN a fresh Node process WHEN it requires @spillway/sdk THEN no server, DI, backend or emulator module is loaded', async () => {
    const loaded = await loadedBy('@spillway/sdk');
    expect(loaded).toContain('sdk/dist/index.js');
    expect(loaded).toContain('sdk/dist/client/burst-client.js');
    for (const [what, pattern] of SERVER_ONLY) {
      expect({ what, loaded: loaded.filter((f) => pattern.test(f)) }).toEqual({ what, loaded: [] });
    }
  });

  it('GIVEN the root WHEN required THEN it offers the client, the model, the errors, the wire types and the retry', async () => {
    const script = `
      const sdk = require('@spillway/sdk');
      process.stdout.write(JSON.stringify(Object.keys(sdk).sort()));
    `;
    const r = await run(process.execPath, ['-e', script], { cwd: repo });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(
      expect.arrayContaining([
        'BurstClient',
        'AssetClient',
        'CapacityApi',
        'BurstServiceError',
        'SpillwayError',
        'ValidationError',
        'TERMINAL_FRAME_STATES',
        'wire',
        'retry',
        'sleep',
        'createLogger',
      ]),
    );
  });

  // The detection itself: the server subpath does load what the root must not, so the
  // checks above would fail if the root pulled it in.
  it('GIVEN the /service subpath WHEN required THEN the server, DI and reflection are loaded (the check can fail)', async () => {
    const loaded = await loadedBy('@spillway/sdk/service');
    for (const [what, pattern] of SERVER_ONLY.slice(0, 2)) {
      expect({ what, found: loaded.some((f) => pattern.test(f)) }).toEqual({ what, found: true });
    }
  });

  it('GIVEN each subpath WHEN required THEN it exports what it names', async () => {
    const table: Record<string, string> = {
      '@spillway/sdk/service': 'startService',
      '@spillway/sdk/compute': 'LocalComputeBackend',
      '@spillway/sdk/compute/local': 'LocalEngine',
      '@spillway/sdk/compute/batch': 'BatchComputeBackend',
      '@spillway/sdk/compute/scaleset': 'ScaleSetBackend',
      '@spillway/sdk/emulate': 'startArmEmulator',
      '@spillway/sdk/storage': 'syncAssets',
      '@spillway/sdk/policy': 'decideBurst',
      '@spillway/sdk/config': 'loadConfig',
      '@spillway/sdk/logging': 'createLogger',
      '@spillway/sdk/template': 'renderCommand',
      '@spillway/sdk/state': 'writeFileAtomic',
      '@spillway/sdk/retry': 'retry',
      '@spillway/sdk/wire': 'SPILLWAY_V1_SERVICE_NAMES',
      '@spillway/sdk/testing': 'makeBlenderScene',
      '@spillway/sdk/cli': 'main',
    };
    const script = `
      const table = ${JSON.stringify(table)};
      const out = {};
      for (const [specifier, name] of Object.entries(table)) out[specifier] = typeof require(specifier)[name];
      process.stdout.write(JSON.stringify(out));
    `;
    const r = await run(process.execPath, ['-e', script], { cwd: repo });
    expect(r.stderr).toBe('');
    const types = JSON.parse(r.stdout) as Record<string, string>;
    for (const specifier of Object.keys(table)) {
      expect({ specifier, type: types[specifier] }).toEqual({
        specifier,
        type: specifier.endsWith('/wire') ? 'object' : 'function',
      });
    }
  });

  it('GIVEN a path the package does not export WHEN required THEN Node refuses it', async () => {
    const r = await run(process.execPath, ['-e', `require('@spillway/sdk/service/runtime')`], { cwd: repo });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });
});
