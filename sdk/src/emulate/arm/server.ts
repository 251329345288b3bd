/**
 * An Azure Resource Manager endpoint for the subset of Microsoft.Compute that the
 * scale-set backend uses, over HTTPS, with ARM's long-running-operation behaviour, so the
 * real `@azure/arm-compute` client and its core-lro pollers run against it. Each instance
 * is a local process running the scale set's custom data.
 */
import { knownGpuVmSizes } from '../../compute/vm-sizes';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { vmSizeCores } from '../../compute/vm-sizes';
import { silentLogger, type Logger } from '../../logging';
import { generateLoopbackCertificate } from './certificate';
import { DEFAULT_USAGE_LIMITS, type UsageLimits } from './defaults';
import { ImdsServer } from './imds';
import { InstanceProcess } from './process';
import { sleep } from '../../retry';

/** Azure's limit on decoded custom data. */
const CUSTOM_DATA_MAX_BYTES = 65_535;

/** Throttling: every `everyN`th request is answered 429 with `Retry-After`. */
export interface ThrottleOptions {
  /** Answer every Nth request with 429 (1 = every request). */
  readonly everyN: number;
  /** The wait asked for: `Retry-After` in seconds (rounded up), plus `x-ms-retry-after-ms` when not whole seconds. @default 1000 */
  readonly retryAfterMs?: number;
}

/** Options of `startArmEmulator`. */
export interface ArmEmulatorOptions {
  /** TCP port; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** Interface to listen on. @default '127.0.0.1' */
  readonly host?: string;
  /** Where the CA file and the instances' directories go. @default a new temporary directory */
  readonly workDir?: string;
  /** How long a long-running operation stays `InProgress`. @default 500 */
  readonly lroDelayMs?: number;
  /** Time from an instance's process start to `PowerState/running`. @default 0 */
  readonly bootDelayMs?: number;
  /** With the Delete eviction policy, how long an evicted instance shows deallocated before it is gone. @default 1000 */
  readonly evictionDeleteDelayMs?: number;
  /**
   * `simulateEviction`: time from the `Preempt` scheduled event to the eviction (Azure gives
   * at least 30 s). An instance that approves the event is evicted at once. @default 30000
   */
  readonly evictionNoticeMs?: number;
  /**
   * Directories put first on every instance's `PATH`: the software baked into the image (a
   * render manager's worker, `curl`...). @default none
   */
  readonly imagePath?: readonly string[];
  /** Environment every instance gets, like settings baked into the image. @default none */
  readonly instanceEnvironment?: Readonly<Record<string, string>>;
  /** SIGTERM-to-SIGKILL grace when an instance stops. @default 2000 */
  readonly killGraceMs?: number;
  /** Answer some requests with 429. @default none */
  readonly throttle?: ThrottleOptions;
  /** Which bearer tokens are accepted. @default any non-empty token */
  readonly acceptToken?: (token: string) => boolean;
  /** Request and instance log. @default silent */
  readonly logger?: Logger;
  /**
   * The subscription's regional vCPU limits per location, as Compute usages report them
   * (`cores`: "Total Regional vCPUs", Regular priority; `lowPriorityCores`: Spot). A scale
   * set change beyond them is refused with 409 `OperationNotAllowed`, as ARM does. These are
   * the emulator's defaults, not Azure's (which vary by offer and region).
   * @default {@link DEFAULT_USAGE_LIMITS}
   */
  readonly usageLimits?: UsageLimits;
}

export { DEFAULT_USAGE_LIMITS, type UsageLimits } from './defaults';

/** One request the emulator answered (no headers, so no token). */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** `x-ms-client-request-id`: the same across the client's retries of one request. */
  readonly clientRequestId?: string;
  readonly time: number;
}

/** An emulated instance, as tests see it. */
export interface EmulatedInstance {
  readonly instanceId: string;
  readonly name: string;
  readonly provisioningState: string;
  readonly powerState: string;
  readonly protectFromScaleIn: boolean;
  /** Its host name (`osProfile.computerName`): the name its worker joins the farm with. */
  readonly computerName: string;
  /** Its Instance Metadata Service base URL (`SPILLWAY_IMDS_ENDPOINT` inside the instance). */
  readonly imdsEndpoint: string;
  /** The start-up shell's pid (its process group id), while it runs. */
  readonly pid?: number;
  readonly running: boolean;
  readonly dir: string;
}

/** An emulated scale set, as tests see it. */
export interface EmulatedScaleSet {
  readonly resourceGroup: string;
  readonly name: string;
  readonly capacity: number;
  readonly priority: string;
  readonly evictionPolicy?: string;
  readonly provisioningState: string;
  readonly instances: readonly EmulatedInstance[];
}

interface Instance {
  instanceId: string;
  name: string;
  vmId: string;
  provisioningState: 'Creating' | 'Succeeded' | 'Deleting';
  power: 'starting' | 'running' | 'deallocated';
  protectFromScaleIn: boolean;
  process?: InstanceProcess;
  dir: string;
  timeCreated: Date;
  computerName: string;
  imdsEndpoint: string;
  /** A `simulateEviction` notice under way. */
  eviction?: NodeJS.Timeout;
}

interface ScaleSet {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  sku: { name?: string; tier?: string; capacity: number };
  properties: Record<string, unknown>;
  customData?: string;
  provisioningState: string;
  uniqueId: string;
  timeCreated: Date;
  nextInstanceId: number;
  instances: Map<string, Instance>;
  queue: Promise<unknown>;
  deleted: boolean;
}

interface Operation {
  readonly id: string;
  status: 'InProgress' | 'Succeeded' | 'Failed';
  readonly startTime: Date;
  endTime?: Date;
  error?: { code: string; message: string };
}

/** An ARM error answer. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const SUB = '/subscriptions/([^/]+)';
const VMSS = `${SUB}/resourceGroups/([^/]+)/providers/Microsoft\\.Compute/virtualMachineScaleSets`;
const routes = {
  scaleSets: new RegExp(`^${VMSS}$`, 'i'),
  scaleSet: new RegExp(`^${VMSS}/([^/]+)$`, 'i'),
  deleteInstances: new RegExp(`^${VMSS}/([^/]+)/delete$`, 'i'),
  vms: new RegExp(`^${VMSS}/([^/]+)/virtualMachines$`, 'i'),
  vm: new RegExp(`^${VMSS}/([^/]+)/virtualMachines/([^/]+)$`, 'i'),
  simulateEviction: new RegExp(`^${VMSS}/([^/]+)/virtualMachines/([^/]+)/simulateEviction$`, 'i'),
  operation: new RegExp(`^${SUB}/providers/Microsoft\\.Compute/locations/([^/]+)/operations/([^/]+)$`, 'i'),
  usages: new RegExp(`^${SUB}/providers/Microsoft\\.Compute/locations/([^/]+)/usages$`, 'i'),
  evict: /^\/spillway-admin\/evict$/,
  skus: new RegExp(`^${SUB}/providers/Microsoft\\.Compute/skus$`, 'i'),
};

/** Sizes the emulator lists besides the GPU table's (which it lists with their GPUs). */
const CPU_SIZES = [
  'Standard_D4as_v5',
  'Standard_D16as_v5',
  'Standard_D32as_v5',
  'Standard_E16as_v5',
  'Standard_F16s_v2',
];

/**
 * Resource SKUs as `GET .../providers/Microsoft.Compute/skus` answers them (the subset a caller
 * reads: name, size, tier, locations, capabilities): GPU sizes carry a `GPUs` capability, as
 * Azure's do.
 */
function resourceSkus(location: string): unknown[] {
  const vm = (name: string, gpus: number | undefined): unknown => ({
    resourceType: 'virtualMachines',
    name,
    tier: 'Standard',
    size: name.replace(/^Standard_/, ''),
    locations: [location],
    capabilities: [
      ...(gpus !== undefined ? [{ name: 'GPUs', value: String(gpus) }] : []),
      { name: 'LowPriorityCapable', value: 'True' },
    ],
    restrictions: [],
  });
  return [
    ...[...knownGpuVmSizes()].map(([name, info]) => vm(name, info.gpus)),
    ...CPU_SIZES.map((n) => vm(n, undefined)),
  ];
}

/** A running ARM emulator. */
export class ArmEmulator {
  /** Every answered request, oldest first. */
  readonly requests: RecordedRequest[] = [];
  private readonly sets = new Map<string, ScaleSet>();
  private readonly operations = new Map<string, Operation>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly logger: Logger;
  private throttle: ThrottleOptions | undefined;
  private counted = 0;
  private nextFault: { code: string; message: string } | undefined;
  private closed = false;

  private constructor(
    private readonly server: https.Server,
    private readonly options: ArmEmulatorOptions,
    /** The emulator's base URL, e.g. `https://127.0.0.1:12345`: the client's `endpoint`. */
    readonly url: string,
    /** The CA (self-signed certificate) file to trust. */
    readonly caPath: string,
    /** The CA certificate, PEM. */
    readonly caPem: string,
    readonly workDir: string,
    private readonly imds: ImdsServer,
  ) {
    this.logger = options.logger ?? silentLogger;
    this.throttle = options.throttle;
  }

  /** @internal */
  static async start(options: ArmEmulatorOptions = {}): Promise<ArmEmulator> {
    const workDir = options.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-arm-'));
    fs.mkdirSync(workDir, { recursive: true });
    const host = options.host ?? '127.0.0.1';
    const cert = await generateLoopbackCertificate(workDir, host);
    const holder: { emulator?: ArmEmulator } = {};
    const server = https.createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
      void holder.emulator!.handle(req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const urlHost = host.includes(':') ? `[${host}]` : host;
    const imds = await ImdsServer.start(host);
    // Every instance has its own host name, as a VM does: `hostname` answers COMPUTERNAME.
    const vmBin = path.join(workDir, 'vm-bin');
    fs.mkdirSync(vmBin, { recursive: true });
    fs.writeFileSync(path.join(vmBin, 'hostname'), '#!/bin/sh\nprintf \'%s\\n\' "$COMPUTERNAME"\n', {
      mode: 0o755,
    });
    const emulator = new ArmEmulator(
      server,
      options,
      `https://${urlHost}:${port}`,
      cert.caPath,
      cert.certPem,
      workDir,
      imds,
    );
    holder.emulator = emulator;
    return emulator;
  }

  /** The port it listens on. */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** How many requests were answered 429. */
  get throttledCount(): number {
    return this.requests.filter((r) => r.status === 429).length;
  }

  /** Turns throttling on (or off with `undefined`). */
  setThrottle(throttle: ThrottleOptions | undefined): void {
    this.throttle = throttle;
    this.counted = 0;
  }

  /**
   * Makes the next long-running operation fail asynchronously (its status turns `Failed`
   * with this ARM error) after changing nothing, as an allocation failure would.
   */
  failNextOperation(code: string, message: string): void {
    this.nextFault = { code, message };
  }

  /** Every scale set and its instances. */
  scaleSets(): EmulatedScaleSet[] {
    return [...this.sets.values()].map((s) => {
      const vmProfile = (s.properties.virtualMachineProfile ?? {}) as Record<string, unknown>;
      return {
        resourceGroup: s.resourceGroup,
        name: s.name,
        capacity: s.sku.capacity,
        priority: String(vmProfile.priority ?? 'Regular'),
        ...(vmProfile.evictionPolicy !== undefined
          ? { evictionPolicy: String(vmProfile.evictionPolicy) }
          : {}),
        provisioningState: s.provisioningState,
        instances: [...s.instances.values()].map((i) => ({
          instanceId: i.instanceId,
          name: i.name,
          provisioningState: i.provisioningState,
          powerState: i.power,
          protectFromScaleIn: i.protectFromScaleIn,
          computerName: i.computerName,
          imdsEndpoint: i.imdsEndpoint,
          ...(i.process?.pid !== undefined && i.process.running ? { pid: i.process.pid } : {}),
          running: i.process?.running ?? false,
          dir: i.dir,
        })),
      };
    });
  }

  /**
   * Evicts a Spot instance as Azure does: its process tree is killed and it shows
   * `PowerState/deallocated`; with the Delete policy it is then removed (and the capacity
   * lowered) after `evictionDeleteDelayMs`.
   */
  async evict(resourceGroup: string, scaleSetName: string, instanceId: string): Promise<void> {
    const set = this.getSet(this.findSubscription(resourceGroup, scaleSetName), resourceGroup, scaleSetName);
    const profile = (set.properties.virtualMachineProfile ?? {}) as Record<string, unknown>;
    if (profile.priority !== 'Spot')
      throw new HttpError(409, 'OperationNotAllowed', `scale set ${scaleSetName} is not Spot priority`);
    const instance = set.instances.get(instanceId);
    if (!instance)
      throw new HttpError(404, 'NotFound', `instance ${instanceId} of ${scaleSetName} not found`);
    this.logger.info('evicting spot instance', { scaleSet: scaleSetName, instance: instanceId });
    if (instance.eviction) clearTimeout(instance.eviction);
    instance.eviction = undefined;
    instance.power = 'deallocated';
    await instance.process?.stop(this.options.killGraceMs ?? 2000);
    this.imds.remove(instance.imdsEndpoint);
    if (profile.evictionPolicy !== 'Deallocate') {
      instance.provisioningState = 'Deleting';
      this.track(
        sleep(this.options.evictionDeleteDelayMs ?? 1000).then(() => {
          if (set.instances.delete(instanceId)) set.sku.capacity = Math.max(0, set.sku.capacity - 1);
        }),
      );
    }
  }

  /**
   * Simulates a Spot eviction as Azure's `simulateEviction` does: the instance's metadata
   * service shows a `Preempt` scheduled event at once, and the instance is evicted
   * `evictionNoticeMs` later (or as soon as it approves the event).
   */
  simulateEviction(resourceGroup: string, scaleSetName: string, instanceId: string): void {
    const set = this.getSet(this.findSubscription(resourceGroup, scaleSetName), resourceGroup, scaleSetName);
    const profile = (set.properties.virtualMachineProfile ?? {}) as Record<string, unknown>;
    if (profile.priority !== 'Spot')
      throw new HttpError(
        409,
        'OperationNotAllowed',
        `Simulate eviction is only supported for Spot VMs; scale set ${scaleSetName} is not Spot priority.`,
      );
    const instance = set.instances.get(instanceId);
    if (!instance || instance.provisioningState === 'Deleting' || instance.power === 'deallocated')
      throw new HttpError(404, 'NotFound', `instance ${instanceId} of ${scaleSetName} not found`);
    if (instance.eviction) return; // already under notice
    const noticeMs = this.options.evictionNoticeMs ?? 30_000;
    instance.eviction = setTimeout(() => this.evictAfterNotice(set, instance), noticeMs);
    this.imds.schedulePreempt(instance.imdsEndpoint, new Date(Date.now() + noticeMs));
    this.logger.info('spot eviction notice', { scaleSet: scaleSetName, instance: instanceId, noticeMs });
  }

  /** The notice is over (or the instance approved the event): evict it now. */
  private evictAfterNotice(set: ScaleSet, instance: Instance): void {
    if (!instance.eviction || this.closed) return;
    this.track(
      this.evict(set.resourceGroup, set.name, instance.instanceId).catch((err: unknown) =>
        this.logger.warn('eviction after notice failed', {
          instance: instance.instanceId,
          error: err instanceof Error ? err.message : String(err),
        }),
      ),
    );
  }

  /** Stops serving and ends every instance's process tree. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    const stops: Promise<void>[] = [];
    for (const set of this.sets.values())
      for (const i of set.instances.values()) {
        if (i.eviction) clearTimeout(i.eviction);
        i.eviction = undefined;
        if (i.process) stops.push(i.process.stop(this.options.killGraceMs ?? 2000));
      }
    await Promise.all(stops);
    await Promise.allSettled([...this.pending]);
    await this.imds.close();
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const clientRequestId =
      typeof req.headers['x-ms-client-request-id'] === 'string'
        ? req.headers['x-ms-client-request-id']
        : undefined;
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}): void => {
      this.requests.push({
        method: req.method ?? '',
        path: url.pathname,
        status,
        ...(clientRequestId ? { clientRequestId } : {}),
        time: Date.now(),
      });
      const text = body === undefined ? '' : JSON.stringify(body);
      res.writeHead(status, {
        ...(text ? { 'content-type': 'application/json; charset=utf-8' } : {}),
        'x-ms-request-id': randomUUID(),
        ...(clientRequestId ? { 'x-ms-client-request-id': clientRequestId } : {}),
        ...headers,
      });
      res.end(text);
    };
    try {
      const body = await readBody(req);
      const auth = req.headers.authorization ?? '';
      const token = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
      const accept = this.options.acceptToken ?? ((t: string) => t.length > 0);
      if (token === undefined) {
        throw new HttpError(
          401,
          'AuthenticationFailed',
          "Authentication failed. The 'Authorization' header is missing.",
        );
      }
      if (!accept(token))
        throw new HttpError(401, 'InvalidAuthenticationToken', 'The access token is invalid.');
      if (this.throttle && this.throttle.everyN > 0) {
        this.counted += 1;
        if (this.counted % this.throttle.everyN === 0) {
          const ms = this.throttle.retryAfterMs ?? 1000;
          send(
            429,
            {
              error: {
                code: 'TooManyRequests',
                message: 'The request is being throttled as the limit has been reached for operation type.',
              },
            },
            // ARM sends Retry-After in seconds; a sub-second wait (fast tests) also goes in x-ms-retry-after-ms.
            {
              'retry-after': String(Math.ceil(ms / 1000)),
              ...(ms % 1000 !== 0 ? { 'x-ms-retry-after-ms': String(ms) } : {}),
            },
          );
          return;
        }
      }
      if (!routes.evict.test(url.pathname) && !url.searchParams.get('api-version')) {
        throw new HttpError(
          400,
          'MissingApiVersionParameter',
          'The api-version query parameter (?api-version=) is required for all requests.',
        );
      }
      await this.route(req.method ?? 'GET', url, body, send);
    } catch (err) {
      if (err instanceof HttpError) {
        send(err.status, { error: { code: err.code, message: err.message } });
      } else {
        this.logger.error('arm emulator request failed', {
          path: url.pathname,
          error: err instanceof Error ? err.message : String(err),
        });
        send(500, { error: { code: 'InternalServerError', message: 'the emulator failed; see its log' } });
      }
    }
  }

  private async route(
    method: string,
    url: URL,
    body: unknown,
    send: (status: number, body?: unknown, headers?: Record<string, string>) => void,
  ): Promise<void> {
    const p = url.pathname;
    let m: RegExpExecArray | null;
    if (routes.evict.test(p) && method === 'POST') {
      const b = (body ?? {}) as { resourceGroup?: string; scaleSet?: string; instanceId?: string };
      await this.evict(String(b.resourceGroup), String(b.scaleSet), String(b.instanceId));
      return send(200, {});
    }
    if ((m = routes.operation.exec(p)) && method === 'GET') return this.getOperation(m[3]!, url, send);
    if ((m = routes.usages.exec(p)) && method === 'GET')
      return send(200, { value: this.usages(m[1]!, m[2]!) });
    if (routes.skus.test(p) && method === 'GET') {
      const location =
        /location eq '([^']+)'/i.exec(url.searchParams.get('$filter') ?? '')?.[1] ?? 'westeurope';
      return send(200, { value: resourceSkus(location) });
    }
    if ((m = routes.scaleSets.exec(p)) && method === 'GET') {
      const value = [...this.sets.values()]
        .filter((s) => !s.deleted && same(s.subscriptionId, m![1]!) && same(s.resourceGroup, m![2]!))
        .map((s) => this.scaleSetJson(s));
      return send(200, { value });
    }
    if ((m = routes.scaleSet.exec(p))) {
      const [, sub, rg, name] = m as unknown as [string, string, string, string];
      switch (method) {
        case 'GET':
          return send(200, this.scaleSetJson(this.getSet(sub, rg, name)));
        case 'PUT':
          return this.putScaleSet(sub, rg, name, body, url, send);
        case 'PATCH':
          return this.patchScaleSet(sub, rg, name, body, url, send);
        case 'DELETE':
          return this.deleteScaleSet(sub, rg, name, url, send);
      }
    }
    if ((m = routes.deleteInstances.exec(p)) && method === 'POST') {
      const [, sub, rg, name] = m as unknown as [string, string, string, string];
      return this.deleteInstances(sub, rg, name, body, url, send);
    }
    if ((m = routes.vms.exec(p)) && method === 'GET') {
      const set = this.getSet(m[1]!, m[2]!, m[3]!);
      const expand = url.searchParams.get('$expand') === 'instanceView';
      return send(200, { value: [...set.instances.values()].map((i) => this.vmJson(set, i, expand)) });
    }
    if ((m = routes.simulateEviction.exec(p)) && method === 'POST') {
      const [, sub, rg, name, id] = m as unknown as [string, string, string, string, string];
      this.getSet(sub, rg, name);
      this.simulateEviction(rg, name, id);
      return send(204);
    }
    if ((m = routes.vm.exec(p))) {
      const [, sub, rg, name, id] = m as unknown as [string, string, string, string, string];
      const set = this.getSet(sub, rg, name);
      const instance = set.instances.get(id);
      if (!instance)
        throw new HttpError(
          404,
          'NotFound',
          `The entity was not found in this Azure location: instance ${id} of ${name}.`,
        );
      if (method === 'GET')
        return send(200, this.vmJson(set, instance, url.searchParams.get('$expand') === 'instanceView'));
      if (method === 'PUT') return this.putVm(set, instance, body, url, send);
    }
    throw new HttpError(
      404,
      'NotFound',
      `no route for ${method} ${p} in the emulator's Microsoft.Compute subset`,
    );
  }

  /** vCPUs a scale set holds or was asked for, and whether they count as Spot. */
  private vcpus(
    set: ScaleSet,
    capacity = Math.max(set.sku.capacity, set.instances.size),
  ): { spot: boolean; n: number } {
    const profile = (set.properties.virtualMachineProfile ?? {}) as Record<string, unknown>;
    const spot = profile.priority === 'Spot' || profile.priority === 'Low';
    return { spot, n: capacity * (vmSizeCores(set.sku.name ?? '') ?? 1) };
  }

  /** Compute usages of a location, as `GET .../locations/{location}/usages` answers. */
  private usages(sub: string, location: string): unknown[] {
    const limits = { ...DEFAULT_USAGE_LIMITS, ...this.options.usageLimits };
    let regular = 0;
    let spot = 0;
    let sets = 0;
    for (const set of this.sets.values()) {
      if (set.deleted || !same(set.subscriptionId, sub) || !same(set.location, location)) continue;
      sets++;
      const v = this.vcpus(set);
      if (v.spot) spot += v.n;
      else regular += v.n;
    }
    const usage = (value: string, localizedValue: string, currentValue: number, limit: number): unknown => ({
      unit: 'Count',
      currentValue,
      limit,
      name: { value, localizedValue },
    });
    return [
      usage('cores', 'Total Regional vCPUs', regular, limits.cores),
      usage('lowPriorityCores', 'Total Regional Low-priority vCPUs', spot, limits.lowPriorityCores),
      usage('virtualMachineScaleSets', 'Virtual Machine Scale Sets', sets, 2500),
    ];
  }

  /** 409 `OperationNotAllowed` when growing a scale set to `capacity` goes beyond the region's vCPU limit. */
  private checkUsage(set: ScaleSet, capacity: number): void {
    const before = this.vcpus(set);
    const after = this.vcpus(set, capacity);
    if (after.n <= before.n) return;
    const limits = { ...DEFAULT_USAGE_LIMITS, ...this.options.usageLimits };
    const [name, limit, localized] = after.spot
      ? (['lowPriorityCores', limits.lowPriorityCores, 'Total Regional Low-priority vCPUs'] as const)
      : (['cores', limits.cores, 'Total Regional vCPUs'] as const);
    const current = (
      this.usages(set.subscriptionId, set.location) as { name: { value: string }; currentValue: number }[]
    ).find((u) => u.name.value === name)!.currentValue;
    const requested = after.n - before.n;
    if (current + requested > limit) {
      throw new HttpError(
        409,
        'OperationNotAllowed',
        `Operation could not be completed as it results in exceeding approved ${localized} quota. Location: ${set.location}, Current Limit: ${limit}, Current Usage: ${current}, Additional Required: ${requested}, (Minimum) New Limit Required: ${current + requested}.`,
      );
    }
  }

  private findSubscription(resourceGroup: string, name: string): string {
    for (const s of this.sets.values())
      if (same(s.resourceGroup, resourceGroup) && same(s.name, name) && !s.deleted) return s.subscriptionId;
    throw new HttpError(
      404,
      'ResourceNotFound',
      `The Resource 'Microsoft.Compute/virtualMachineScaleSets/${name}' under resource group '${resourceGroup}' was not found.`,
    );
  }

  private key(sub: string, rg: string, name: string): string {
    return `${sub}/${rg}/${name}`.toLowerCase();
  }

  private getSet(sub: string, rg: string, name: string): ScaleSet {
    const set = this.sets.get(this.key(sub, rg, name));
    if (!set || set.deleted) {
      throw new HttpError(
        404,
        'ResourceNotFound',
        `The Resource 'Microsoft.Compute/virtualMachineScaleSets/${name}' under resource group '${rg}' was not found.`,
      );
    }
    return set;
  }

  /** Runs `work` as a long-running operation on `set`'s queue; answers with the async-operation headers. */
  private operation(set: ScaleSet, url: URL, work: () => Promise<void>): Record<string, string> {
    const op: Operation = { id: randomUUID(), status: 'InProgress', startTime: new Date() };
    this.operations.set(op.id, op);
    const fault = this.nextFault;
    this.nextFault = undefined;
    const run = set.queue.then(async () => {
      await sleep(this.options.lroDelayMs ?? 500);
      try {
        if (fault) throw new HttpError(409, fault.code, fault.message);
        await work();
        op.status = 'Succeeded';
      } catch (err) {
        op.status = 'Failed';
        if (set.provisioningState !== 'Succeeded') set.provisioningState = 'Failed';
        op.error =
          err instanceof HttpError
            ? { code: err.code, message: err.message }
            : { code: 'InternalExecutionError', message: err instanceof Error ? err.message : String(err) };
      }
      op.endTime = new Date();
    });
    set.queue = run.catch(() => undefined);
    this.track(run);
    const apiVersion = url.searchParams.get('api-version') ?? '';
    const base = `${this.url}/subscriptions/${set.subscriptionId}/providers/Microsoft.Compute/locations/${set.location}/operations/${op.id}`;
    return {
      'azure-asyncoperation': `${base}?api-version=${encodeURIComponent(apiVersion)}`,
      'azure-asyncnotification': 'Enabled',
    };
  }

  private getOperation(
    id: string,
    url: URL,
    send: (status: number, body?: unknown, headers?: Record<string, string>) => void,
  ): void {
    const op = this.operations.get(id);
    if (!op) throw new HttpError(404, 'NotFound', `operation ${id} not found`);
    if (url.searchParams.get('monitor') === 'true') {
      // The Location URL: 202 while running, then the outcome.
      if (op.status === 'InProgress') return send(202, undefined, { location: url.toString() });
      if (op.status === 'Failed') throw new HttpError(400, op.error!.code, op.error!.message);
      return send(200);
    }
    return send(200, {
      name: op.id,
      status: op.status,
      startTime: op.startTime.toISOString(),
      ...(op.endTime ? { endTime: op.endTime.toISOString() } : {}),
      ...(op.error ? { error: op.error } : {}),
    });
  }

  private locationHeader(headers: Record<string, string>): Record<string, string> {
    return { ...headers, location: headers['azure-asyncoperation']!.replace('?', '?monitor=true&') };
  }

  private putScaleSet(
    sub: string,
    rg: string,
    name: string,
    body: unknown,
    url: URL,
    send: (status: number, body?: unknown, headers?: Record<string, string>) => void,
  ): void {
    const b = (body ?? {}) as {
      location?: unknown;
      tags?: Record<string, string>;
      sku?: { name?: string; tier?: string; capacity?: unknown };
      properties?: Record<string, unknown>;
    };
    if (typeof b.location !== 'string' || b.location === '')
      throw new HttpError(400, 'LocationRequired', 'The location property is required for this definition.');
    const capacity = b.sku?.capacity ?? 0;
    if (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity < 0) {
      throw new HttpError(
        400,
        'InvalidParameter',
        `The value ${JSON.stringify(capacity)} of parameter 'sku.capacity' is not valid.`,
      );
    }
    const properties = { ...(b.properties ?? {}) };
    const profile = { ...((properties.virtualMachineProfile ?? {}) as Record<string, unknown>) };
    const osProfile = { ...((profile.osProfile ?? {}) as Record<string, unknown>) };
    const customData = osProfile.customData;
    if (customData !== undefined) {
      if (typeof customData !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(customData)) {
        throw new HttpError(
          400,
          'InvalidParameter',
          "The value of parameter 'osProfile.customData' is not valid base64.",
        );
      }
      if (Buffer.from(customData, 'base64').length > CUSTOM_DATA_MAX_BYTES) {
        throw new HttpError(
          400,
          'InvalidParameter',
          `Custom data in OSProfile must be in Base64 encoding and with a maximum length of ${CUSTOM_DATA_MAX_BYTES} bytes.`,
        );
      }
    }
    if (
      profile.evictionPolicy !== undefined &&
      !['Delete', 'Deallocate'].includes(String(profile.evictionPolicy))
    ) {
      throw new HttpError(
        400,
        'InvalidParameter',
        `The value '${String(profile.evictionPolicy)}' of parameter 'evictionPolicy' is not valid.`,
      );
    }
    if (profile.priority !== undefined && !['Spot', 'Regular', 'Low'].includes(String(profile.priority))) {
      throw new HttpError(
        400,
        'InvalidParameter',
        `The value '${String(profile.priority)}' of parameter 'priority' is not valid.`,
      );
    }
    // ARM never returns custom data: keep it aside.
    delete osProfile.customData;
    profile.osProfile = osProfile;
    properties.virtualMachineProfile = profile;
    delete properties.provisioningState;

    const key = this.key(sub, rg, name);
    const existing = this.sets.get(key);
    const isNew = !existing || existing.deleted;
    const set: ScaleSet = isNew
      ? {
          subscriptionId: sub,
          resourceGroup: rg,
          name,
          location: b.location,
          tags: b.tags ?? {},
          sku: {
            ...(b.sku?.name ? { name: b.sku.name } : {}),
            ...(b.sku?.tier ? { tier: b.sku.tier } : {}),
            capacity: 0,
          },
          properties,
          ...(typeof customData === 'string' ? { customData } : {}),
          provisioningState: 'Creating',
          uniqueId: randomUUID(),
          timeCreated: new Date(),
          nextInstanceId: 0,
          instances: new Map(),
          queue: Promise.resolve(),
          deleted: false,
        }
      : existing!;
    if (!isNew) {
      set.provisioningState = 'Updating';
      set.tags = b.tags ?? {};
      set.properties = properties;
      if (typeof customData === 'string') set.customData = customData;
      if (b.sku?.name) set.sku.name = b.sku.name;
    }
    this.checkUsage(set, capacity);
    this.sets.set(key, set);
    const headers = this.operation(set, url, async () => {
      await this.reconcile(set, capacity);
      set.provisioningState = 'Succeeded';
    });
    send(isNew ? 201 : 200, this.scaleSetJson(set), headers);
  }

  private patchScaleSet(
    sub: string,
    rg: string,
    name: string,
    body: unknown,
    url: URL,
    send: (status: number, body?: unknown, headers?: Record<string, string>) => void,
  ): void {
    const set = this.getSet(sub, rg, name);
    const b = (body ?? {}) as { tags?: Record<string, string>; sku?: { capacity?: unknown } };
    const capacity = b.sku?.capacity;
    if (
      capacity !== undefined &&
      (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity < 0)
    ) {
      throw new HttpError(
        400,
        'InvalidParameter',
        `The value ${JSON.stringify(capacity)} of parameter 'sku.capacity' is not valid.`,
      );
    }
    if (typeof capacity === 'number') this.checkUsage(set, capacity);
    if (b.tags) set.tags = b.tags;
    set.provisioningState = 'Updating';
    const headers = this.operation(set, url, async () => {
      if (typeof capacity === 'number') await this.reconcile(set, capacity);
      set.provisioningState = 'Succeeded';
    });
    send(200, this.scaleSetJson(set), headers);
  }

  private deleteScaleSet(
    sub: string,
    rg: string,
    name: string,
    url: URL,
    send: (status: number, body?: unknown, headers?: Record<string, string>) => void,
  ): void {
    const set = this.sets.get(this.key(sub, rg, name));
    if (!set || set.deleted) return send(204);
    set.provisioningState = 'Deleting';
    const headers = this.operation(set, url, async () => {
      await Promise.all([...set.instances.values()].map((i) => this.removeInstance(set, i)));
      set.deleted = true;
      this.sets.delete(this.key(sub, rg, name));
    });
    send(202, undefined, this.locationHeader(headers));
  }

  private deleteInstances(
    sub: string,
    rg: string,
    name: string,
    body: unknown,
    url: URL,
    send: (status: number, body?: unknown, headers?: Record<string, string>) => void,
  ): void {
    const set = this.getSet(sub, rg, name);
    const ids = (body as { instanceIds?: unknown } | undefined)?.instanceIds;
    if (!Array.isArray(ids) || ids.length === 0)
      throw new HttpError(
        400,
        'InvalidParameter',
        "The parameter 'instanceIds' is required and cannot be empty.",
      );
    for (const id of ids) {
      if (typeof id !== 'string' || !set.instances.has(id)) {
        throw new HttpError(
          400,
          'InvalidParameter',
          `The value ${JSON.stringify(id)} of parameter 'instanceIds' is not a valid instance id of ${name}.`,
        );
      }
    }
    const headers = this.operation(set, url, async () => {
      const doomed = ids
        .map((id) => set.instances.get(id as string))
        .filter((i): i is Instance => i !== undefined);
      await Promise.all(doomed.map((i) => this.removeInstance(set, i)));
      set.sku.capacity = Math.max(0, set.sku.capacity - doomed.length);
    });
    send(202, undefined, this.locationHeader(headers));
  }

  private putVm(
    set: ScaleSet,
    instance: Instance,
    body: unknown,
    url: URL,
    send: (status: number, body?: unknown, headers?: Record<string, string>) => void,
  ): void {
    const policy = (
      (body as { properties?: { protectionPolicy?: { protectFromScaleIn?: unknown } } } | undefined)
        ?.properties ?? {}
    ).protectionPolicy;
    const protect = policy?.protectFromScaleIn;
    if (protect !== undefined && typeof protect !== 'boolean') {
      throw new HttpError(
        400,
        'InvalidParameter',
        `The value ${JSON.stringify(protect)} of parameter 'protectionPolicy.protectFromScaleIn' is not valid.`,
      );
    }
    const headers = this.operation(set, url, async () => {
      if (typeof protect === 'boolean') instance.protectFromScaleIn = protect;
    });
    send(200, this.vmJson(set, instance, false), headers);
  }

  /** Brings the instance count to `capacity`: new instances start their process; scale-in spares protected ones. */
  private async reconcile(set: ScaleSet, capacity: number): Promise<void> {
    const live = [...set.instances.values()].filter((i) => i.provisioningState !== 'Deleting');
    if (capacity > live.length) {
      for (let n = live.length; n < capacity; n++) this.createInstance(set);
      set.sku.capacity = capacity;
      return;
    }
    // Default scale-in policy: highest instance id first; instances protected from scale-in stay.
    const removable = live
      .filter((i) => !i.protectFromScaleIn)
      .sort((a, b) => Number(b.instanceId) - Number(a.instanceId))
      .slice(0, live.length - capacity);
    await Promise.all(removable.map((i) => this.removeInstance(set, i)));
    set.sku.capacity = live.length - removable.length;
  }

  private createInstance(set: ScaleSet): void {
    const instanceId = String(set.nextInstanceId++);
    const name = `${set.name}_${instanceId}`;
    const dir = path.join(this.workDir, 'instances', set.resourceGroup, set.name, instanceId);
    const osProfile = ((set.properties.virtualMachineProfile as Record<string, unknown>)?.osProfile ??
      {}) as Record<string, unknown>;
    const prefix = String(osProfile.computerNamePrefix ?? set.name);
    const instance: Instance = {
      instanceId,
      name,
      vmId: randomUUID(),
      provisioningState: 'Creating',
      power: 'starting',
      protectFromScaleIn: false,
      dir,
      timeCreated: new Date(),
      // Azure names a Uniform scale set's VMs <prefix><instance id in base 36, six digits>.
      computerName: `${prefix}${Number(instanceId).toString(36).padStart(6, '0')}`,
      imdsEndpoint: '',
    };
    instance.imdsEndpoint = this.imds.add({
      name,
      scaleSet: set.name,
      resourceGroup: set.resourceGroup,
      subscriptionId: set.subscriptionId,
      location: set.location,
      onApprove: () => this.evictAfterNotice(set, instance),
    });
    set.instances.set(instanceId, instance);
    const script = set.customData !== undefined ? Buffer.from(set.customData, 'base64').toString('utf8') : '';
    // As on Azure, the custom data runs once the VM is up (after `bootDelayMs`), not while it provisions.
    const ready = (): void => {
      if (instance.provisioningState !== 'Creating' || this.closed) return;
      instance.provisioningState = 'Succeeded';
      instance.power = 'running';
      if (script === '') return;
      const pathDirs = [path.join(this.workDir, 'vm-bin'), ...(this.options.imagePath ?? [])];
      instance.process = new InstanceProcess({
        dir,
        script,
        env: {
          ...this.options.instanceEnvironment,
          PATH: [...pathDirs, process.env.PATH ?? '/usr/bin:/bin'].join(path.delimiter),
          SPILLWAY_INSTANCE_NAME: name,
          SPILLWAY_INSTANCE_ID: instanceId,
          SPILLWAY_SCALE_SET: set.name,
          SPILLWAY_RESOURCE_GROUP: set.resourceGroup,
          SPILLWAY_IMDS_ENDPOINT: instance.imdsEndpoint,
          COMPUTERNAME: instance.computerName,
        },
      });
      this.logger.info('instance started', {
        scaleSet: set.name,
        instance: instanceId,
        pid: instance.process.pid,
      });
    };
    const boot = this.options.bootDelayMs ?? 0;
    if (boot > 0) this.track(sleep(boot).then(ready));
    else ready();
  }

  private async removeInstance(set: ScaleSet, instance: Instance): Promise<void> {
    instance.provisioningState = 'Deleting';
    if (instance.eviction) clearTimeout(instance.eviction);
    instance.eviction = undefined;
    await instance.process?.stop(this.options.killGraceMs ?? 2000);
    this.imds.remove(instance.imdsEndpoint);
    set.instances.delete(instance.instanceId);
    this.logger.info('instance deleted', { scaleSet: set.name, instance: instance.instanceId });
  }

  private scaleSetJson(set: ScaleSet): unknown {
    return {
      id: `/subscriptions/${set.subscriptionId}/resourceGroups/${set.resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/${set.name}`,
      name: set.name,
      type: 'Microsoft.Compute/virtualMachineScaleSets',
      location: set.location,
      tags: set.tags,
      sku: set.sku,
      properties: {
        ...set.properties,
        provisioningState: set.provisioningState,
        uniqueId: set.uniqueId,
        timeCreated: set.timeCreated.toISOString(),
      },
    };
  }

  private vmJson(set: ScaleSet, i: Instance, expand: boolean): unknown {
    const statuses = [
      {
        code: `ProvisioningState/${i.provisioningState.toLowerCase()}`,
        level: 'Info',
        displayStatus: `Provisioning ${i.provisioningState.toLowerCase()}`,
      },
      { code: `PowerState/${i.power}`, level: 'Info', displayStatus: `VM ${i.power}` },
    ];
    return {
      id: `/subscriptions/${set.subscriptionId}/resourceGroups/${set.resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/${set.name}/virtualMachines/${i.instanceId}`,
      name: i.name,
      type: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines',
      location: set.location,
      instanceId: i.instanceId,
      sku: set.sku.name ? { name: set.sku.name, tier: set.sku.tier } : undefined,
      properties: {
        latestModelApplied: true,
        vmId: i.vmId,
        provisioningState: i.provisioningState,
        timeCreated: i.timeCreated.toISOString(),
        protectionPolicy: { protectFromScaleIn: i.protectFromScaleIn, protectFromScaleSetActions: false },
        osProfile: { computerName: i.computerName },
        ...(expand ? { instanceView: { computerName: i.computerName, statuses } } : {}),
      },
    };
  }
}

function same(a: string, b: string): boolean {
  return a.toLowerCase() === decodeURIComponent(b).toLowerCase();
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 4 * 1024 * 1024)
      throw new HttpError(413, 'RequestEntityTooLarge', 'The request body is too large.');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(
      400,
      'InvalidRequestContent',
      'The request content was invalid and could not be deserialized.',
    );
  }
}

/** Starts an ARM emulator (HTTPS, self-signed CA written to `<workDir>/ca.pem`). */
export function startArmEmulator(options: ArmEmulatorOptions = {}): Promise<ArmEmulator> {
  return ArmEmulator.start(options);
}
