import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startTestService, type TestService } from '../support/service';
import { describeWithTool } from '../support/tools';

// GIVEN a live service and the Python example (stubs generated from proto/ with Debian's
// protoc, run with /usr/bin/python3 and Debian's grpcio)
// WHEN it submits a job and watches it
// THEN every frame succeeds and it prints its progress.

const script = path.resolve(__dirname, '../../examples/python/spillway_client.py');
const python = '/usr/bin/python3';
const ready =
  fs.existsSync(python) && fs.existsSync('/usr/bin/protoc') && fs.existsSync('/usr/bin/grpc_python_plugin');
const describeWithPython = describeWithTool(
  ready
    ? undefined
    : 'needs /usr/bin/python3, protoc and grpc_python_plugin (apt-get install protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf libprotobuf-dev)',
);

describeWithPython('the Python client example', () => {
  let service: TestService;
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-py-'));
    service = await startTestService({ nodes: 2, slotsPerNode: 2 });
  });
  afterAll(async () => {
    await service.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('submits, watches and reports every frame done', async () => {
    const out = path.join(dir, 'out');
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(
        python,
        [
          script,
          '--address',
          service.address,
          '--frames',
          '1-12',
          '--job-id',
          'py-1',
          '--command',
          `mkdir -p '${out}' && echo frame #IFRAME# > '${out}/frame_#ZFRAME#.txt'`,
          '--timeout',
          '90',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^submitted job j-[0-9a-f]+: 12 frames$/m);
    expect(result.stdout).toMatch(/progress: 12\/12 succeeded/);
    expect(result.stdout.trim().split('\n').pop()).toBe('done: 12/12 frames succeeded');
    expect(fs.readdirSync(out).sort()).toEqual(
      Array.from({ length: 12 }, (_, i) => `frame_${String(i + 1).padStart(4, '0')}.txt`),
    );
  });
});
