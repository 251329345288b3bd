import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CapacityGroupInfo, CapacityNodeInfo, Frame } from '@spillway/sdk';
import { run } from '../support/process';
import { startTestService, type TestService } from '../support/service';

// GIVEN a real service on the embedded default, a real TCP listener as a licence server, and
// the built `spillway` CLI as a child process
// WHEN a user creates groups with `pools create --license-server / --gpus / --gpu-device` and
// submits with `submit --group G [--gpus N]`
// THEN the flags reach the service: the licence check passes from a node and tasks read
// port@host; the GPU group's nodes report their GPUs and its tasks get the device; a CPU job
// is refused on the GPU group and a GPU job on a CPU group (naming the groups that fit); a
// malformed licence server is refused naming the flag and the value.

const bin = path.resolve(__dirname, '../../sdk/bin/spillway.js');

describe('licence servers and GPUs through the CLI', () => {
  let svc: TestService;
  let licence: net.Server;
  let licencePort: number;
  let connections = 0;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-env-cli-'));
  const cli = (...args: string[]): ReturnType<typeof run> =>
    run(process.execPath, [bin, ...args, '--address', svc.address]);

  beforeAll(async () => {
    licence = net.createServer((socket) => {
      connections += 1;
      socket.end();
    });
    await new Promise<void>((resolve) => licence.listen(0, '127.0.0.1', resolve));
    licencePort = (licence.address() as net.AddressInfo).port;
    svc = await startTestService({ nodes: 1 });
  });
  afterAll(async () => {
    await svc.close();
    await new Promise((resolve) => licence.close(resolve));
    fs.rmSync(work, { recursive: true, force: true });
  });

  /** `submit` then `watch`: the job's one frame, after it ended. */
  async function render(group: string, command: string, ...extra: string[]): Promise<Frame> {
    const submitted = await cli(
      'submit',
      '--group',
      group,
      '--frames',
      '1',
      '--command',
      command,
      ...extra,
      '--json',
    );
    expect(submitted.stderr).toBe('');
    expect(submitted.code).toBe(0);
    const { jobId } = JSON.parse(submitted.stdout) as { jobId: string };
    const watched = await cli('watch', jobId, '--json');
    const frames: Frame[] = [];
    for await (const f of svc.client.listFrames(jobId)) frames.push(f);
    expect(frames).toHaveLength(1);
    if (watched.code !== 0) throw new Error(`watch exited ${watched.code}: ${frames[0]!.message ?? ''}`);
    return frames[0]!;
  }

  /** The `--json` error a refused command printed. */
  function refusal(stderr: string): { code: string; message: string } {
    const { error } = JSON.parse(stderr) as { error: { code: string; message: string } };
    return { code: error.code, message: error.message };
  }

  async function output(frame: Frame, name: string): Promise<string> {
    const dest = path.join(work, frame.frameId, name);
    await svc.client.assets.fetchOutput(frame.frameId, name, dest);
    return fs.readFileSync(dest, 'utf8');
  }

  /** `spillway pools create NAME --vm-size SIZE --max-dedicated 1 ...flags`, then one dedicated node by hand. */
  async function createGroup(name: string, vmSize: string, ...flags: string[]): Promise<void> {
    const created = await cli('pools', 'create', name, '--vm-size', vmSize, '--max-dedicated', '1', ...flags);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect((await cli('pools', 'resize', name, '--dedicated', '1', '--spot', '0')).code).toBe(0);
  }

  it('pools create --license-server: the check passes from a node, tasks read port@host', async () => {
    await createGroup(
      'lic',
      'local',
      '--license-server',
      `127.0.0.1:${licencePort}=RLM_LICENSE,foundry_LICENSE`,
    );

    const frame = await render('lic', 'printf "%s %s" "$RLM_LICENSE" "$foundry_LICENSE" > out/lic.txt');
    expect(frame.state).toBe('succeeded');
    const value = `${licencePort}@127.0.0.1`;
    expect(await output(frame, 'lic.txt')).toBe(`${value} ${value}`);
    expect(connections).toBeGreaterThanOrEqual(1);

    const listed = await cli('pools', 'list', '--json');
    expect(listed.code).toBe(0);
    const groups = JSON.parse(listed.stdout) as CapacityGroupInfo[];
    const lic = groups.find((g) => g.name === 'lic')!;
    expect(lic.licenseServers).toEqual([
      expect.objectContaining({
        address: `127.0.0.1:${licencePort}`,
        environmentVariables: ['RLM_LICENSE', 'foundry_LICENSE'],
      }),
    ]);
    expect(lic.preflight).toEqual(
      expect.objectContaining({
        state: 'passed',
        checks: expect.arrayContaining([expect.stringMatching(/licen/)]),
      }),
    );
  }, 180_000);

  it('pools create --gpus --gpu-device: nodes report GPUs, GPU tasks get the device, jobs go only where they fit', async () => {
    await createGroup('gpu', 'Standard_NC4as_T4_v3', '--gpus', '1', '--gpu-device', 'OPTIX');
    const nodes = await cli('pools', 'nodes', 'gpu', '--json');
    expect(nodes.code).toBe(0);
    const parsed = JSON.parse(nodes.stdout) as CapacityNodeInfo[];
    expect(parsed.length).toBeGreaterThan(0);
    expect(parsed.every((n) => n.gpus === 1)).toBe(true);

    const frame = await render(
      'gpu',
      'printf "%s %s" "$SPILLWAY_GPUS" "$SPILLWAY_GPU_DEVICE" > out/gpu.txt',
      '--gpus',
      '1',
    );
    expect(frame.state).toBe('succeeded');
    expect(await output(frame, 'gpu.txt')).toBe('1 OPTIX');

    // A CPU job on the GPU group, a GPU job on the CPU group: refused before anything is queued.
    const cpuOnGpu = await cli('submit', '--group', 'gpu', '--frames', '1', '--command', 'true', '--json');
    expect(cpuOnGpu.code).not.toBe(0);
    expect(refusal(cpuOnGpu.stderr)).toEqual({
      code: 'FAILED_PRECONDITION',
      message: expect.stringContaining('"gpu"'),
    });
    const gpuOnCpu = await cli(
      'submit',
      '--group',
      'default',
      '--gpus',
      '1',
      '--frames',
      '1',
      '--command',
      'true',
      '--json',
    );
    expect(gpuOnCpu.code).not.toBe(0);
    expect(refusal(gpuOnCpu.stderr)).toEqual({
      code: 'FAILED_PRECONDITION',
      message: expect.stringMatching(/group "default" has none; submit to "gpu"/),
    });
  }, 180_000);

  it('a malformed --license-server is refused naming the flag and the value', async () => {
    const r = await cli(
      'pools',
      'create',
      'bad',
      '--vm-size',
      'local',
      '--license-server',
      'lic.studio.internal',
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--license-server');
    expect(r.stderr).toContain('lic.studio.internal');
    const groups = JSON.parse((await cli('pools', 'list', '--json')).stdout) as CapacityGroupInfo[];
    expect(groups.map((g) => g.name)).not.toContain('bad');
  });
});
