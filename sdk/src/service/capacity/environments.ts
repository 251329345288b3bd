/**
 * Render environments of capacity groups, pure: licence servers (checked, turned into the
 * environment every task of the group gets, and into the command of the preflight that a node
 * of the group runs), GPUs (checked against the VM size), and which groups a job may run on.
 */
import { gpusOfVmSize } from '../../compute/vm-sizes';
import { ValidationError } from '../../errors';
import type { CapacityGroupSpec, GpuSpec, LicenseServer } from '../../gen/spillway/v1/capacity';
import { BurstMode } from '../../gen/spillway/v1/common';
import { shellQuote } from '../../template/shell';
import { readCheckLines, type PreflightCheck, type PreflightFailureView } from './preflight';

/** At most this many licence servers per group. */
export const MAX_LICENSE_SERVERS = 16;

const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^\[[0-9A-Fa-f:.]+\]$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** A `host:port` split; `[::1]:27000` for IPv6. */
export function parseServerAddress(address: string): { host: string; port: number } | undefined {
  const m = /^(.+):(\d{1,5})$/.exec(address);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (!HOST.test(m[1]!) || port < 1 || port > 65535) return undefined;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** The name a server goes by in messages: its name, else its address. */
export function serverLabel(s: LicenseServer): string {
  return s.name ? `${s.name} (${s.address})` : s.address;
}

/** Checks a spec's licence servers; throws ValidationError naming `spec.license_servers[i]...`. */
export function validateLicenseServers(servers: readonly LicenseServer[]): void {
  if (servers.length > MAX_LICENSE_SERVERS) {
    throw new ValidationError(
      'spec.license_servers',
      `${servers.length} servers`,
      `must hold at most ${MAX_LICENSE_SERVERS}`,
    );
  }
  const seen = new Set<string>();
  servers.forEach((s, i) => {
    const at = `spec.license_servers[${i}]`;
    if (!parseServerAddress(s.address)) {
      throw new ValidationError(
        `${at}.address`,
        s.address,
        'must be host:port, e.g. "lic.studio.internal:27000" (port 1-65535)',
      );
    }
    if (seen.has(s.address)) throw new ValidationError(`${at}.address`, s.address, 'is listed twice');
    seen.add(s.address);
    s.environmentVariables.forEach((v, k) => {
      if (!ENV_NAME.test(v)) {
        throw new ValidationError(
          `${at}.environment_variables[${k}]`,
          v,
          'must be an environment variable name such as ADSKFLEX_LICENSE_FILE, solidangle_LICENSE, RLM_LICENSE or foundry_LICENSE',
        );
      }
    });
    if (s.name.length > 64 || [...s.name].some((c) => c.charCodeAt(0) < 0x20)) {
      throw new ValidationError(`${at}.name`, s.name, 'must be at most 64 printable characters');
    }
  });
}

/**
 * The environment every task of the group gets: each variable a server names set to
 * `port@host` (FlexLM and RLM read that form), several servers on one variable joined with
 * `:` (the Linux separator of both), in the order listed.
 */
export function licenseEnvironment(servers: readonly LicenseServer[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const s of servers) {
    const a = parseServerAddress(s.address);
    if (!a) continue;
    const value = `${a.port}@${a.host}`;
    for (const v of s.environmentVariables) env[v] = env[v] ? `${env[v]}:${value}` : value;
  }
  return env;
}

/** The GPU device APIs renderers are told to use. */
export const GPU_DEVICES = ['CUDA', 'OPTIX', 'HIP'] as const;
export type GpuDevice = (typeof GPU_DEVICES)[number];

/**
 * A spec's GPUs, checked against its VM size: a known N-series size fills in or must match
 * the count, another Azure size has none, a free-text size (local engine) is trusted.
 * Undefined for a CPU group. Throws ValidationError naming `spec.gpu...`.
 */
export function resolveGpu(vmSize: string, gpu: GpuSpec | undefined): GpuSpec | undefined {
  const known = gpusOfVmSize(vmSize);
  const declared = gpu?.count ?? 0;
  const device = (gpu?.device ?? '').toUpperCase() || 'CUDA';
  if (!(GPU_DEVICES as readonly string[]).includes(device)) {
    throw new ValidationError('spec.gpu.device', gpu?.device, `must be one of ${GPU_DEVICES.join(', ')}`);
  }
  if (declared > 16) throw new ValidationError('spec.gpu.count', declared, 'must be from 0 to 16');
  if (known === 0 && declared > 0) {
    throw new ValidationError(
      'spec.gpu.count',
      declared,
      `must be 0: VM size ${JSON.stringify(vmSize)} has no GPU (GPU sizes are Azure N-series, e.g. Standard_NC4as_T4_v3)`,
    );
  }
  if (known !== undefined && known > 0 && declared > 0 && declared !== known) {
    throw new ValidationError(
      'spec.gpu.count',
      declared,
      `must be ${known}: the GPUs of VM size ${JSON.stringify(vmSize)} (or leave it 0)`,
    );
  }
  const count = declared > 0 ? declared : (known ?? 0);
  if (count === 0) {
    if (gpu?.device)
      throw new ValidationError(
        'spec.gpu.device',
        gpu.device,
        'is for a group with GPUs: set spec.gpu.count or use an N-series VM size',
      );
    return undefined;
  }
  return { count, device };
}

/** What tasks of a GPU group are told: how many GPUs, and which device API to use. */
export function gpuEnvironment(gpu: GpuSpec | undefined): Record<string, string> {
  return gpu && gpu.count > 0
    ? { SPILLWAY_GPUS: String(gpu.count), SPILLWAY_GPU_DEVICE: gpu.device || 'CUDA' }
    : {};
}

/** The environment of every task of a group: its licence servers and GPUs. */
export function groupEnvironment(spec: CapacityGroupSpec): Record<string, string> {
  return { ...gpuEnvironment(spec.gpu), ...licenseEnvironment(spec.licenseServers) };
}

const LICENCE_MARK = 'spillway-license-check';

/** Python (stdlib) the preflight runs on a node: one JSON line per server, exit 1 when one is unreachable. */
const PREFLIGHT_SCRIPT = [
  'import json,socket,sys',
  't=float(sys.argv[1]);a=sys.argv[2:];bad=0',
  'for i in range(0,len(a),3):',
  '  n,h,p=a[i],a[i+1],int(a[i+2])',
  '  try:',
  '    socket.create_connection((h,p),timeout=t).close();r=None',
  '  except Exception as e:',
  '    r=(type(e).__name__+": "+str(e)).strip();bad+=1',
  `  print("${LICENCE_MARK} "+json.dumps({"index":i//3,"reachable":r is None,"error":r}),flush=True)`,
  'sys.exit(1 if bad else 0)',
].join('\n');

/**
 * The command a node of the group runs before the group's first frame: a TCP connect to each
 * server within `timeoutMs`, from the node (so VPN routes, firewalls and DNS are the node's).
 */
export function licensePreflightCommand(servers: readonly LicenseServer[], timeoutMs: number): string {
  const args = servers.flatMap((s) => {
    const a = parseServerAddress(s.address)!;
    return [s.name || s.address, a.host, String(a.port)];
  });
  return [
    '"${SPILLWAY_PYTHON:-python3}" -S -c',
    shellQuote(PREFLIGHT_SCRIPT),
    String(Math.max(0.1, timeoutMs / 1000)),
    ...args.map(shellQuote),
  ].join(' ');
}

/** The servers the node could not reach (`label: error`), from the preflight's output; undefined when it says nothing. */
export function unreachableServers(servers: readonly LicenseServer[], output: string): string[] | undefined {
  return licenceFailures(servers, output)?.map((f) => f.message.replace(/^licence server /, ''));
}

function licenceFailures(
  servers: readonly LicenseServer[],
  output: string,
): PreflightFailureView[] | undefined {
  const found = readCheckLines<{ index: number; reachable: boolean; error: string | null }>(
    output,
    LICENCE_MARK,
    servers.length,
  );
  if (!found) return undefined;
  return servers.flatMap((s, i) => {
    const r = found.get(i)!;
    const subject = `licence server ${serverLabel(s)}`;
    return r.reachable ? [] : [{ subject, message: `${subject}: ${r.error ?? 'unreachable'}` }];
  });
}

/**
 * The licence servers' check of the group preflight (a TCP connect to each within
 * `connectTimeoutMs`, from a node of the group); undefined when the group names none.
 */
export function licencePreflightCheck(
  servers: readonly LicenseServer[],
  connectTimeoutMs = 5000,
): PreflightCheck | undefined {
  if (servers.length === 0) return undefined;
  return {
    kind: 'licence servers',
    errorCode: 'LicenseServerUnreachable',
    key: JSON.stringify(servers.map((s) => [s.address, s.name])),
    command: licensePreflightCommand(servers, connectTimeoutMs),
    timeoutMs: connectTimeoutMs * servers.length + 5000,
    subjects: servers.map((s) => `licence server ${serverLabel(s)}`),
    parse: (stdout) => licenceFailures(servers, stdout),
  };
}

/** A capacity group as routing sees it. */
export interface RoutableGroup {
  readonly name: string;
  readonly mode: BurstMode;
  /** GPUs per node; 0 for a CPU group. */
  readonly gpus: number;
}

/**
 * Why `job` (needing `gpus` per frame) may not run on `group`, or undefined when it may: a
 * GPU job needs a group with that many GPUs per node; a CPU job never lands on a GPU group.
 */
export function gpuMismatch(
  gpus: number,
  group: RoutableGroup,
  all: readonly RoutableGroup[],
): string | undefined {
  const offload = all.filter((g) => g.mode !== BurstMode.BURST_MODE_WORKER_BURST);
  if (gpus > 0 && group.gpus < gpus) {
    const fits = offload.filter((g) => g.gpus >= gpus).map((g) => g.name);
    return `the job needs ${gpus} GPU(s) per frame and capacity group ${JSON.stringify(group.name)} has ${group.gpus === 0 ? 'none' : group.gpus}; ${fits.length > 0 ? `submit to ${fits.map((n) => JSON.stringify(n)).join(' or ')}` : 'create a GPU group (an N-series VM size, spec.gpu)'}`;
  }
  if (gpus === 0 && group.gpus > 0) {
    const cpu = offload.filter((g) => g.gpus === 0).map((g) => g.name);
    return `capacity group ${JSON.stringify(group.name)} has GPUs (${group.gpus} per node) and takes only jobs that need them (job.gpus); this job needs none${cpu.length > 0 ? `: submit it to ${cpu.map((n) => JSON.stringify(n)).join(' or ')}` : ''}`;
  }
  return undefined;
}
