import { gpusOfVmSize } from '../../compute/vm-sizes';
import { CapacityGroupSpec, LicenseServer } from '../../gen/spillway/v1/capacity';
import { BurstMode } from '../../gen/spillway/v1/common';
import {
  gpuMismatch,
  groupEnvironment,
  licenseEnvironment,
  licensePreflightCommand,
  parseServerAddress,
  resolveGpu,
  unreachableServers,
  validateLicenseServers,
} from './environments';

const server = (address: string, env: string[] = [], name = ''): LicenseServer =>
  LicenseServer.fromPartial({ address, environmentVariables: env, name });

describe('licence servers', () => {
  test.each([
    ['lic.studio.internal:27000', { host: 'lic.studio.internal', port: 27000 }],
    ['10.0.0.5:5053', { host: '10.0.0.5', port: 5053 }],
    ['[fd00::1]:4101', { host: 'fd00::1', port: 4101 }],
    ['lic.studio.internal', undefined],
    ['lic:0', undefined],
    ['lic:70000', undefined],
    ['bad host:27000', undefined],
  ])('parseServerAddress(%j)', (address, parsed) => {
    expect(parseServerAddress(address)).toEqual(parsed);
  });

  test('GIVEN servers sharing a variable WHEN turned into the task environment THEN port@host joined by ":" in order', () => {
    expect(
      licenseEnvironment([
        server('lic-a:5053', ['solidangle_LICENSE', 'ADSKFLEX_LICENSE_FILE']),
        server('lic-b:27000', ['ADSKFLEX_LICENSE_FILE']),
        server('rlm:5053', ['RLM_LICENSE', 'foundry_LICENSE']),
      ]),
    ).toEqual({
      solidangle_LICENSE: '5053@lic-a',
      ADSKFLEX_LICENSE_FILE: '5053@lic-a:27000@lic-b',
      RLM_LICENSE: '5053@rlm',
      foundry_LICENSE: '5053@rlm',
    });
  });

  test.each([
    [[server('nohost')], 'spec.license_servers[0].address'],
    [[server('a:1'), server('a:1')], 'spec.license_servers[1].address'],
    [[server('a:1', ['BAD-NAME'])], 'spec.license_servers[0].environment_variables[0]'],
  ])('validateLicenseServers refuses %j naming %s', (servers, field) => {
    expect(() => validateLicenseServers(servers)).toThrow(expect.objectContaining({ field }));
  });

  test('the preflight command quotes every server and its output names the unreachable ones', () => {
    const servers = [server('lic-a:5053', [], "it's arnold"), server('lic-b:27000')];
    const cmd = licensePreflightCommand(servers, 2500);
    expect(cmd).toContain(`"\${SPILLWAY_PYTHON:-python3}" -S -c`);
    expect(cmd).toContain(` 2.5 'it'\\''s arnold' lic-a 5053 lic-b:27000 lic-b 27000`);
    const out = [
      'spillway-license-check {"index": 0, "reachable": true, "error": null}',
      'noise',
      'spillway-license-check {"index": 1, "reachable": false, "error": "ConnectionRefusedError: [Errno 111] Connection refused"}',
    ].join('\n');
    expect(unreachableServers(servers, out)).toEqual([
      'lic-b:27000: ConnectionRefusedError: [Errno 111] Connection refused',
    ]);
    // A check that said nothing about a server is not a pass.
    expect(unreachableServers(servers, out.split('\n')[0]!)).toBeUndefined();
  });
});

describe('GPU groups', () => {
  test.each([
    ['Standard_NC4as_T4_v3', undefined, { count: 1, device: 'CUDA' }],
    ['standard_nc64as_t4_v3', { count: 0, device: 'optix' }, { count: 4, device: 'OPTIX' }],
    ['Standard_NV36ads_A10_v5', { count: 1, device: '' }, { count: 1, device: 'CUDA' }],
    ['Standard_D16as_v5', undefined, undefined],
    ['local', { count: 2, device: 'HIP' }, { count: 2, device: 'HIP' }],
    ['local', undefined, undefined],
  ])('resolveGpu(%s, %j) = %j', (vmSize, gpu, resolved) => {
    expect(resolveGpu(vmSize, gpu)).toEqual(resolved);
  });

  test.each([
    ['Standard_D16as_v5', { count: 1, device: '' }, 'spec.gpu.count', /has no GPU/],
    ['Standard_NC24ads_A100_v4', { count: 2, device: '' }, 'spec.gpu.count', /must be 1/],
    ['local', { count: 1, device: 'METAL' }, 'spec.gpu.device', /CUDA, OPTIX, HIP/],
  ])('resolveGpu(%s, %j) is refused naming %s', (vmSize, gpu, field, message) => {
    expect(() => resolveGpu(vmSize, gpu)).toThrow(
      expect.objectContaining({ field, message: expect.stringMatching(message) }),
    );
  });

  test('node GPUs come from the VM size; an unknown N size or free text says nothing', () => {
    expect(gpusOfVmSize('Standard_ND96asr_v4')).toBe(8);
    expect(gpusOfVmSize('Standard_E8s_v5')).toBe(0);
    expect(gpusOfVmSize('Standard_NC999_future')).toBeUndefined();
    expect(gpusOfVmSize('local')).toBeUndefined();
  });

  const groups = [
    { name: 'cpu', mode: BurstMode.BURST_MODE_FRAME_OFFLOAD, gpus: 0 },
    { name: 'gpu', mode: BurstMode.BURST_MODE_FRAME_OFFLOAD, gpus: 1 },
    { name: 'workers', mode: BurstMode.BURST_MODE_WORKER_BURST, gpus: 0 },
  ];
  test.each([
    [0, 'cpu', undefined],
    [1, 'gpu', undefined],
    [1, 'cpu', /needs 1 GPU\(s\) per frame and capacity group "cpu" has none; submit to "gpu"/],
    [2, 'gpu', /has 1; create a GPU group/],
    [0, 'gpu', /takes only jobs that need them .* submit it to "cpu"/],
  ])('a job needing %d GPU(s) on group %s', (gpus, name, message) => {
    const m = gpuMismatch(
      gpus,
      groups.find((g) => g.name === name)!,
      groups,
    );
    if (message === undefined) expect(m).toBeUndefined();
    else expect(m).toMatch(message);
  });

  test('a GPU group tells its tasks the GPU count and device, and its licence servers', () => {
    const spec = CapacityGroupSpec.fromPartial({
      name: 'gpu',
      gpu: { count: 1, device: 'OPTIX' },
      licenseServers: [{ address: 'lic:5053', environmentVariables: ['solidangle_LICENSE'] }],
    });
    expect(groupEnvironment(spec)).toEqual({
      SPILLWAY_GPUS: '1',
      SPILLWAY_GPU_DEVICE: 'OPTIX',
      solidangle_LICENSE: '5053@lic',
    });
  });
});
