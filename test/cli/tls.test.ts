import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateLoopbackCertificate } from '@spillway/sdk/emulate';
import { run } from '../support/process';
import { spawnService, type ServiceProcess } from '../support/service';

// GIVEN `spillway serve` as a child process with TLS and a bearer token
// WHEN the CLI (--tls-ca, --token-file) and the Python example (--tls-ca, --token or
// --token-file; Debian's python3-grpcio) call it at 127.0.0.1
// THEN they get through with no Node deprecation warning on stderr (grpc-js put the IP in
// SNI: DEP0123), and fail clearly without the CA or the token.

const root = path.resolve(__dirname, '../..');
const bin = path.join(root, 'sdk/bin/spillway.js');
const script = path.join(root, 'examples/python/spillway_client.py');
const python = '/usr/bin/python3';
const pythonReady =
  fs.existsSync(python) && fs.existsSync('/usr/bin/protoc') && fs.existsSync('/usr/bin/grpc_python_plugin');
const token = 'tls-token-7d1e55c0b2f94a63';

describe('a TLS service with a token', () => {
  let dir: string;
  let svc: ServiceProcess;
  let ca: string;
  let tokenFile: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-cli-tls-'));
    const cert = await generateLoopbackCertificate(path.join(dir, 'tls'));
    ca = cert.caPath;
    fs.writeFileSync(path.join(dir, 'tls', 'key.pem'), cert.keyPem);
    tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, token);
    svc = await spawnService({
      dataDir: path.join(dir, 'data'),
      nodes: 2,
      slotsPerNode: 2,
      extraArgs: [
        '--tls-cert',
        cert.caPath,
        '--tls-key',
        path.join(dir, 'tls', 'key.pem'),
        '--token-file',
        tokenFile,
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await svc?.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the CLI gets through with --tls-ca and --token-file, with nothing on stderr', async () => {
    expect(svc.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const args = ['--address', svc.address, '--tls-ca', ca, '--token-file', tokenFile];
    const r = await run(process.execPath, [bin, 'capacity', '--json', ...args]);
    expect(r.stderr).toBe(''); // no "(node) [DEP0123] DeprecationWarning"
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ total: { groups: 1 } });

    const noToken = await run(
      process.execPath,
      [bin, 'capacity', '--json', '--address', svc.address, '--tls-ca', ca],
      {
        env: { ...process.env, SPILLWAY_TOKEN_FILE: '' },
      },
    );
    expect(noToken.code).toBe(1);
    expect(JSON.parse(noToken.stderr)).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    expect(noToken.stderr).not.toContain('DeprecationWarning');
    expect(svc.output()).not.toContain(token);
  });

  it("docs/sdk.md's connect example gets through with SPILLWAY_TLS_CA and SPILLWAY_TOKEN_FILE", async () => {
    const r = await run(process.execPath, [path.join(root, 'examples/dist/sdk/connect.js')], {
      env: {
        ...process.env,
        SPILLWAY_ADDRESS: svc.address,
        SPILLWAY_TLS_CA: ca,
        SPILLWAY_TOKEN_FILE: tokenFile,
      },
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`connected to ${svc.address}: 1 capacity group(s)`);
  });

  (pythonReady ? it : it.skip)(
    'the Python example gets through with --tls-ca and --token, or --token-file',
    async () => {
      const out = path.join(dir, 'py-out');
      const common = [
        script,
        '--address',
        svc.address,
        '--tls-ca',
        ca,
        '--frames',
        '1-3',
        '--command',
        `mkdir -p '${out}' && echo frame #IFRAME# > '${out}/frame_#ZFRAME#.txt'`,
        '--timeout',
        '120',
      ];
      const withToken = await run(python, [...common, '--job-id', 'py-tls-1', '--token', token]);
      expect(withToken.stderr).toBe('');
      expect(withToken.code).toBe(0);
      expect(withToken.stdout).toMatch(/^submitted job j-[0-9a-f]+: 3 frames$/m);
      expect(withToken.stdout.trim().split('\n').pop()).toBe('done: 3/3 frames succeeded');
      expect(fs.readdirSync(out).sort()).toEqual(['frame_0001.txt', 'frame_0002.txt', 'frame_0003.txt']);

      const withFile = await run(python, [...common, '--job-id', 'py-tls-2', '--token-file', tokenFile]);
      expect(withFile.code).toBe(0);
      expect(withFile.stdout.trim().split('\n').pop()).toBe('done: 3/3 frames succeeded');

      // No token: refused, said plainly (no traceback).
      const noToken = await run(python, [...common, '--job-id', 'py-tls-3'], {
        env: { ...process.env, SPILLWAY_TOKEN: '' },
      });
      expect(noToken.code).toBe(1);
      expect(noToken.stderr.trim()).toMatch(/^submit failed: UNAUTHENTICATED: /);
      // Plain text against a TLS service: refused too.
      const plain = await run(python, [
        script,
        '--address',
        svc.address,
        '--token',
        token,
        '--frames',
        '1',
        '--timeout',
        '20',
      ]);
      expect(plain.code).toBe(1);
      expect(plain.stderr).toMatch(/^submit failed: UNAVAILABLE/m);
    },
    240_000,
  );

  if (!pythonReady) {
    console.warn(
      'Python TLS example skipped: needs /usr/bin/python3, protoc and grpc_python_plugin (apt-get install protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf libprotobuf-dev)',
    );
  }
});
