/**
 * A typed, promise-based client of Cuebot's gRPC API (the subset Spillway needs), tolerant
 * of its quirks: its actions (kill, eat, retry) are asynchronous, so `waitForFrame` polls for
 * the outcome; frame queries need `page >= 1` and a limit under 1000, so `getFrames` pages
 * for you; memory is KB and subscription sizes are core units (x100).
 */
import * as grpc from '@grpc/grpc-js';
import { sleep, ValidationError } from '@spillway/sdk';
import {
  openCueServices,
  type BootReport,
  type CueAllocation,
  type CueFacility,
  type CueFrame,
  type CueFrameSearchCriteria,
  type CueHost,
  type CueJob,
  type CueJobSearchCriteria,
  type CueLayer,
  type CueProc,
  type CueShow,
  type CueSubscription,
  type FrameCompleteReport,
  type HostReport,
} from '../proto';
import { OpenCueCallError, unaryCall, type UnaryCallOptions } from './call';
import { coresToUnits, MAX_FRAME_PAGE } from './units';

/** Options of a `CuebotClient`. */
export interface CuebotClientOptions {
  /** Deadline of each call. @default 10000 */
  readonly callTimeoutMs?: number;
  /** Attempts of a call that failed with a retryable status. @default 4 */
  readonly maxAttempts?: number;
  /** Channel credentials. @default insecure (Cuebot's default) */
  readonly credentials?: grpc.ChannelCredentials;
}

/** Options every call takes. */
export interface CuebotCallOptions {
  readonly abortSignal?: AbortSignal;
  /** Overrides the client's call timeout. */
  readonly timeoutMs?: number;
}

/** Validates `host:port`. */
export function parseHostPort(field: string, value: string): { host: string; port: number } {
  const m = /^([A-Za-z0-9.\-_]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port > 0 && port < 65536)) {
    throw new ValidationError(field, value, 'must be HOST:PORT with a port from 1 to 65535');
  }
  return { host: m[1]!, port };
}

/** Client of one Cuebot. One channel serves every service. */
export class CuebotClient {
  private readonly clients = new Map<string, grpc.Client>();
  private readonly channel: grpc.Channel;

  constructor(
    /** `host:port` of Cuebot (8443 by default in a farm). */
    readonly address: string,
    private readonly options: CuebotClientOptions = {},
  ) {
    parseHostPort('cuebot', address);
    const credentials = options.credentials ?? grpc.credentials.createInsecure();
    this.channel = new grpc.Channel(address, credentials, {});
    const s = openCueServices();
    const all = {
      'cue.CueInterface': s.cue.CueInterface,
      'job.JobInterface': s.job.JobInterface,
      'job.LayerInterface': s.job.LayerInterface,
      'job.FrameInterface': s.job.FrameInterface,
      'host.HostInterface': s.host.HostInterface,
      'facility.FacilityInterface': s.facility.FacilityInterface,
      'facility.AllocationInterface': s.facility.AllocationInterface,
      'show.ShowInterface': s.show.ShowInterface,
      'subscription.SubscriptionInterface': s.subscription.SubscriptionInterface,
      'report.RqdReportInterface': s.report.RqdReportInterface,
    };
    for (const [name, svc] of Object.entries(all)) {
      this.clients.set(name, new svc.Client(address, credentials, { channelOverride: this.channel }));
    }
  }

  private call<Res>(
    service: string,
    method: string,
    request: unknown,
    options: CuebotCallOptions & { idempotent?: boolean } = {},
  ): Promise<Res> {
    const opts: UnaryCallOptions = {
      timeoutMs: options.timeoutMs ?? this.options.callTimeoutMs ?? 10_000,
      maxAttempts: this.options.maxAttempts ?? 4,
      idempotent: options.idempotent ?? false,
      abortSignal: options.abortSignal,
    };
    return unaryCall<Res>(this.clients.get(service)!, service, method, request, opts);
  }

  private read<Res>(
    service: string,
    method: string,
    request: unknown,
    options?: CuebotCallOptions,
  ): Promise<Res> {
    return this.call<Res>(service, method, request, { ...options, idempotent: true });
  }

  /** Cuebot's dispatch statistics; a cheap connection check. */
  async getSystemStats(options?: CuebotCallOptions): Promise<Record<string, number>> {
    const res = await this.read<{ stats: Record<string, number> | null }>(
      'cue.CueInterface',
      'GetSystemStats',
      {},
      options,
    );
    return res.stats ?? {};
  }

  /** Jobs matching `criteria` (unfinished ones unless `include_finished`). */
  async getJobs(criteria: CueJobSearchCriteria = {}, options?: CuebotCallOptions): Promise<CueJob[]> {
    const res = await this.read<{ jobs: { jobs: CueJob[] } | null }>(
      'job.JobInterface',
      'GetJobs',
      { r: criteria },
      options,
    );
    return res.jobs?.jobs ?? [];
  }

  /** A job by id. */
  async getJob(id: string, options?: CuebotCallOptions): Promise<CueJob> {
    return (await this.read<{ job: CueJob }>('job.JobInterface', 'GetJob', { id }, options)).job;
  }

  /** A job by name, or undefined. */
  async findJob(name: string, options?: CuebotCallOptions): Promise<CueJob | undefined> {
    return orUndefined(
      async () => (await this.read<{ job: CueJob }>('job.JobInterface', 'FindJob', { name }, options)).job,
    );
  }

  /** A job's layers. */
  async getLayers(job: Pick<CueJob, 'id'>, options?: CuebotCallOptions): Promise<CueLayer[]> {
    const res = await this.read<{ layers: { layers: CueLayer[] } | null }>(
      'job.JobInterface',
      'GetLayers',
      { job: { id: job.id } },
      options,
    );
    return res.layers?.layers ?? [];
  }

  /**
   * A job's frames matching `criteria`, every page of them: Cuebot answers one page per call
   * (page from 1, limit under 1000), so this asks page after page until a short one.
   */
  async getFrames(
    job: Pick<CueJob, 'id'>,
    criteria: Omit<CueFrameSearchCriteria, 'page' | 'limit'> = {},
    options?: CuebotCallOptions & { pageSize?: number },
  ): Promise<CueFrame[]> {
    const limit = Math.min(MAX_FRAME_PAGE, Math.max(1, options?.pageSize ?? 500));
    const out: CueFrame[] = [];
    for (let page = 1; ; page++) {
      const res = await this.read<{ frames: { frames: CueFrame[] } | null }>(
        'job.JobInterface',
        'GetFrames',
        { job: { id: job.id }, req: { ...criteria, page, limit } },
        options,
      );
      const frames = res.frames?.frames ?? [];
      out.push(...frames);
      if (frames.length < limit) return out;
    }
  }

  /** A frame by id. */
  async getFrame(id: string, options?: CuebotCallOptions): Promise<CueFrame> {
    return (await this.read<{ frame: CueFrame }>('job.FrameInterface', 'GetFrame', { id }, options)).frame;
  }

  /** Asks Cuebot to kill a frame. Asynchronous: use `waitForFrame` for the outcome. */
  async killFrame(
    frame: Pick<CueFrame, 'id'>,
    options?: CuebotCallOptions & { reason?: string; username?: string },
  ): Promise<void> {
    await this.call(
      'job.FrameInterface',
      'Kill',
      {
        frame: { id: frame.id },
        username: options?.username ?? 'spillway',
        pid: String(process.pid),
        host_kill: '',
        reason: options?.reason ?? 'killed through Spillway',
      },
      { ...options, idempotent: true },
    );
  }

  /** Marks a frame EATEN (never SUCCEEDED: no RPC does that). Asynchronous. */
  async eatFrame(frame: Pick<CueFrame, 'id'>, options?: CuebotCallOptions): Promise<void> {
    await this.call(
      'job.FrameInterface',
      'Eat',
      { frame: { id: frame.id } },
      { ...options, idempotent: true },
    );
  }

  /** Sends a frame back to WAITING. Asynchronous. */
  async retryFrame(frame: Pick<CueFrame, 'id'>, options?: CuebotCallOptions): Promise<void> {
    await this.call('job.FrameInterface', 'Retry', { frame: { id: frame.id } }, options);
  }

  /**
   * Polls a frame until `until` holds (Cuebot's actions land asynchronously).
   * @throws OpenCueCallError DEADLINE_EXCEEDED after `timeoutMs` (default 30000)
   */
  async waitForFrame(
    id: string,
    until: (frame: CueFrame) => boolean,
    options: CuebotCallOptions & { pollMs?: number } = {},
  ): Promise<CueFrame> {
    const end = Date.now() + (options.timeoutMs ?? 30_000);
    for (;;) {
      const frame = await this.getFrame(id, { abortSignal: options.abortSignal });
      if (until(frame)) return frame;
      if (Date.now() > end) {
        throw new OpenCueCallError(
          'job.FrameInterface/GetFrame',
          grpc.status.DEADLINE_EXCEEDED,
          `frame ${id} did not reach the expected state in time (last: ${frame.state})`,
          undefined,
        );
      }
      await sleep(options.pollMs ?? 250, options.abortSignal);
    }
  }

  /** Hosts matching `criteria`. */
  async getHosts(
    criteria: { hosts?: string[]; allocs?: string[]; ids?: string[] } = {},
    options?: CuebotCallOptions,
  ): Promise<CueHost[]> {
    const res = await this.read<{ hosts: { hosts: CueHost[] } | null }>(
      'host.HostInterface',
      'GetHosts',
      { r: criteria },
      options,
    );
    return res.hosts?.hosts ?? [];
  }

  /** A host by name, or undefined. */
  async findHost(name: string, options?: CuebotCallOptions): Promise<CueHost | undefined> {
    return orUndefined(
      async () =>
        (await this.read<{ host: CueHost }>('host.HostInterface', 'FindHost', { name }, options)).host,
    );
  }

  /** Moves a host into an allocation. */
  async setAllocation(
    host: Pick<CueHost, 'id'>,
    allocationId: string,
    options?: CuebotCallOptions,
  ): Promise<void> {
    await this.call(
      'host.HostInterface',
      'SetAllocation',
      { host: { id: host.id }, allocation_id: allocationId },
      { ...options, idempotent: true },
    );
  }

  /** Locks a host: Cuebot books nothing new on it; what runs there finishes. */
  async lockHost(host: Pick<CueHost, 'id'>, options?: CuebotCallOptions): Promise<void> {
    await this.call(
      'host.HostInterface',
      'Lock',
      { host: { id: host.id } },
      { ...options, idempotent: true },
    );
  }

  /** Unlocks a host locked with `lockHost`. */
  async unlockHost(host: Pick<CueHost, 'id'>, options?: CuebotCallOptions): Promise<void> {
    await this.call(
      'host.HostInterface',
      'Unlock',
      { host: { id: host.id } },
      { ...options, idempotent: true },
    );
  }

  /** Removes a host's record from Cuebot. */
  async deleteHost(host: Pick<CueHost, 'id'>, options?: CuebotCallOptions): Promise<void> {
    await this.call(
      'host.HostInterface',
      'Delete',
      { host: { id: host.id } },
      { ...options, idempotent: true },
    );
  }

  /** The procs (booked frames) of a host. */
  async getProcs(host: Pick<CueHost, 'id'>, options?: CuebotCallOptions): Promise<CueProc[]> {
    const res = await this.read<{ procs: { procs: CueProc[] } | null }>(
      'host.HostInterface',
      'GetProcs',
      { host: { id: host.id } },
      options,
    );
    return res.procs?.procs ?? [];
  }

  /** A facility by name, created when missing. */
  async ensureFacility(name: string, options?: CuebotCallOptions): Promise<CueFacility> {
    const found = await orUndefined(
      async () =>
        (await this.read<{ facility: CueFacility }>('facility.FacilityInterface', 'Get', { name }, options))
          .facility,
    );
    if (found) return found;
    return (
      await this.call<{ facility: CueFacility }>('facility.FacilityInterface', 'Create', { name }, options)
    ).facility;
  }

  /** Every allocation. */
  async getAllocations(options?: CuebotCallOptions): Promise<CueAllocation[]> {
    const res = await this.read<{ allocations: { allocations: CueAllocation[] } | null }>(
      'facility.AllocationInterface',
      'GetAll',
      {},
      options,
    );
    return res.allocations?.allocations ?? [];
  }

  /** An allocation by full name (`facility.name`), or undefined. */
  async findAllocation(name: string, options?: CuebotCallOptions): Promise<CueAllocation | undefined> {
    return orUndefined(
      async () =>
        (
          await this.read<{ allocation: CueAllocation }>(
            'facility.AllocationInterface',
            'Find',
            { name },
            options,
          )
        ).allocation,
    );
  }

  /**
   * The allocation `facility.name` with `tag`, created (with its facility) when missing.
   * Cuebot names allocations `facility.name`; create takes the short name.
   */
  async ensureAllocation(
    facility: string,
    name: string,
    tag: string,
    options?: CuebotCallOptions,
  ): Promise<CueAllocation> {
    const full = `${facility}.${name}`;
    const found = await this.findAllocation(full, options);
    if (found) return found;
    const fac = await this.ensureFacility(facility, options);
    try {
      return (
        await this.call<{ allocation: CueAllocation }>(
          'facility.AllocationInterface',
          'Create',
          { name, tag, facility: fac },
          options,
        )
      ).allocation;
    } catch (err) {
      // Someone else created it between our find and create: use theirs.
      const again = await this.findAllocation(full, options);
      if (again) return again;
      throw err;
    }
  }

  /** The hosts of an allocation. */
  async getAllocationHosts(
    allocation: Pick<CueAllocation, 'id'>,
    options?: CuebotCallOptions,
  ): Promise<CueHost[]> {
    const res = await this.read<{ hosts: { hosts: CueHost[] } | null }>(
      'facility.AllocationInterface',
      'GetHosts',
      { allocation: { id: allocation.id } },
      options,
    );
    return res.hosts?.hosts ?? [];
  }

  /** The subscriptions to an allocation (sizes in core units). */
  async getAllocationSubscriptions(
    allocation: Pick<CueAllocation, 'id'>,
    options?: CuebotCallOptions,
  ): Promise<CueSubscription[]> {
    const res = await this.read<{ subscriptions: { subscriptions: CueSubscription[] } | null }>(
      'facility.AllocationInterface',
      'GetSubscriptions',
      { allocation: { id: allocation.id } },
      options,
    );
    return res.subscriptions?.subscriptions ?? [];
  }

  /** A show by name, or undefined. */
  async findShow(name: string, options?: CuebotCallOptions): Promise<CueShow | undefined> {
    return orUndefined(
      async () =>
        (await this.read<{ show: CueShow }>('show.ShowInterface', 'FindShow', { name }, options)).show,
    );
  }

  /** A show's subscriptions (sizes in core units). */
  async getSubscriptions(show: Pick<CueShow, 'id'>, options?: CuebotCallOptions): Promise<CueSubscription[]> {
    const res = await this.read<{ subscriptions: { subscriptions: CueSubscription[] } | null }>(
      'show.ShowInterface',
      'GetSubscriptions',
      { show: { id: show.id } },
      options,
    );
    return res.subscriptions?.subscriptions ?? [];
  }

  /**
   * Subscribes a show to an allocation. `sizeCores` and `burstCores` are cores; Cuebot
   * stores and returns them in core units (x100).
   */
  async createSubscription(
    show: Pick<CueShow, 'id'>,
    allocation: Pick<CueAllocation, 'id'>,
    sizeCores: number,
    burstCores: number,
    options?: CuebotCallOptions,
  ): Promise<CueSubscription> {
    if (!(sizeCores >= 0)) throw new ValidationError('sizeCores', sizeCores, 'must be >= 0 cores');
    if (!(burstCores >= sizeCores)) {
      throw new ValidationError('burstCores', burstCores, `must be >= sizeCores (${sizeCores})`);
    }
    return (
      await this.call<{ subscription: CueSubscription }>(
        'show.ShowInterface',
        'CreateSubscription',
        { show: { id: show.id }, allocation_id: allocation.id, size: sizeCores, burst: burstCores },
        options,
      )
    ).subscription;
  }

  /** Sets a subscription's burst, in cores (sent as core units). */
  async setSubscriptionBurst(
    sub: Pick<CueSubscription, 'id'>,
    burstCores: number,
    options?: CuebotCallOptions,
  ): Promise<void> {
    await this.call(
      'subscription.SubscriptionInterface',
      'SetBurst',
      { subscription: { id: sub.id }, burst: coresToUnits(burstCores) },
      { ...options, idempotent: true },
    );
  }

  /** RQD's start-up report. */
  async reportRqdStartup(boot: BootReport, options?: CuebotCallOptions): Promise<void> {
    await this.call(
      'report.RqdReportInterface',
      'ReportRqdStartup',
      { boot_report: boot },
      { ...options, idempotent: true },
    );
  }

  /** RQD's periodic status report. */
  async reportStatus(report: HostReport, options?: CuebotCallOptions): Promise<void> {
    await this.call(
      'report.RqdReportInterface',
      'ReportStatus',
      { host_report: report },
      { ...options, idempotent: true },
    );
  }

  /** RQD's report that a frame finished. */
  async reportRunningFrameCompletion(
    report: FrameCompleteReport,
    options?: CuebotCallOptions,
  ): Promise<void> {
    await this.call(
      'report.RqdReportInterface',
      'ReportRunningFrameCompletion',
      { frame_complete_report: report },
      options,
    );
  }

  /** Closes the channel. */
  close(): void {
    for (const c of this.clients.values()) c.close();
    this.channel.close();
  }
}

async function orUndefined<T>(f: () => Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof OpenCueCallError && err.notFound) return undefined;
    throw err;
  }
}
