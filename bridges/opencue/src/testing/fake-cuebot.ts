/**
 * A fake Cuebot for tests and demos: serves Spillway's OpenCue subset on a loopback port,
 * keeps jobs, layers, frames, hosts, allocations and subscriptions in memory, and runs a
 * small dispatcher that books waiting frames onto hosts with idle cores (respecting layer
 * tags, allocations and subscriptions) and launches them on the host's RQD, dialled back by
 * host name on the RQD port. It follows Cuebot where Spillway depends on it: frames go
 * RUNNING when booked; kills are asynchronous (the frame is requeued when the host reports
 * it finished); a report listing a frame under a resource id that now belongs to another
 * frame gets that frame killed (fencing); a booked frame missing from
 * `lostProcReports` consecutive status reports of its host is lost and requeued; a host
 * reporting `locked_cores >= total_cores`
 * is LOCKED, else OPEN; cores are core units (x100) and memory KB on the wire.
 *
 * Exit statuses follow Cuebot's dispatcher: a frame given back with `SKIP_RETRY` (286) goes
 * WAITING whatever its retries and is not retry-counted, nor are frames cleared from a host
 * that went down (399), whose kill failed because its RQD is gone (302), or that failed to
 * launch (256). A host locked through `HostInterface.Lock` stays LOCKED until `Unlock`,
 * whatever its RQD reports. A host whose RQD advertises `spillway_rqd_address` in its
 * attributes (the testing farm's RQD, which binds any free port) is dialled there.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { framesOf, parseFrameRange, silentLogger, sleep, type Logger } from '@spillway/sdk';
import { frameTokens, renderCommand } from '@spillway/sdk/template';
import { unaryCall } from '../cuebot/call';
import { coresToUnits, hostCoreUnits, unitsToCores } from '../cuebot/units';
import {
  openCueServices,
  type CueAllocation,
  type CueFrame,
  type CueFrameSearchCriteria,
  type CueHost,
  type CueJob,
  type CueLayer,
  type CueShow,
  type CueSubscription,
  type FrameCompleteReport,
  type FrameStateName,
  type HostReport,
  type BootReport,
  type RunFrame,
} from '../proto';
import { bookFrames } from './booking';

/** Options of `FakeCuebot.start`. */
export interface FakeCuebotOptions {
  /** Port to listen on (127.0.0.1). @default 0 (any free port) */
  readonly port?: number;
  /** Port Cuebot dials every host's RQD on. @default 8444 */
  readonly rqdPort?: number;
  /** How often the dispatcher books waiting frames. @default 200 */
  readonly dispatchIntervalMs?: number;
  /** A host silent this long is DOWN. @default 30000 */
  readonly hostTimeoutMs?: number;
  /**
   * A booked frame missing from this many consecutive status reports of its host (after the
   * first second) is lost and requeued, as Cuebot clears procs no host answers for.
   * @default 3
   */
  readonly lostProcReports?: number;
  /** Failed attempts before a frame is DEAD. @default 1 */
  readonly maxRetries?: number;
  /**
   * Frames booked on a host silent this long are cleared back to WAITING (exit status 399,
   * not retry-counted), as Cuebot clears the procs of a host that went down. @default hostTimeoutMs
   */
  readonly downHostClearMs?: number;
  /** Facility and allocation that hosts with no matching allocation join. @default 'local', 'general' */
  readonly defaultFacility?: string;
  readonly defaultAllocation?: string;
  readonly logger?: Logger;
}

/** A layer to launch. */
export interface FakeLayerSpec {
  readonly name: string;
  /** OpenCue frame range: `1-24`, `1-10x2`, `1,3,5`. */
  readonly range: string;
  /** Command with OpenCue tokens (`#IFRAME#`, `#ZFRAME#`, ...). */
  readonly command: string;
  /** @default ['general'] */
  readonly tags?: readonly string[];
  /** @default 1 */
  readonly minCores?: number;
  /** KB. @default 256 MB */
  readonly minMemoryKb?: number;
  /** @default 1 */
  readonly chunkSize?: number;
}

/** A job to launch (what a job spec submitted to Cuebot holds). */
export interface FakeJobSpec {
  readonly name: string;
  readonly show: string;
  /** @default 'shot' */
  readonly shot?: string;
  /** @default 'spillway' */
  readonly user?: string;
  /** @default 50 */
  readonly priority?: number;
  /** Environment every frame gets. */
  readonly environment?: Readonly<Record<string, string>>;
  readonly layers: readonly FakeLayerSpec[];
}

/** One completion report the fake received. */
export interface CompletionRecord {
  readonly frameId: string;
  readonly frameName: string;
  readonly resourceId: string;
  readonly host: string;
  readonly exitStatus: number;
  readonly exitSignal: number;
  /** False when the report named no current booking (ignored, as Cuebot does). */
  readonly accepted: boolean;
  /** The frame's state after the report. */
  readonly state: FrameStateName;
}

interface Frame {
  id: string;
  name: string;
  jobId: string;
  layerId: string;
  number: number;
  end: number;
  state: FrameStateName;
  retryCount: number;
  exitStatus: number;
  order: number;
  startTime: number;
  stopTime: number;
  lastResource: string;
}
interface Layer {
  id: string;
  jobId: string;
  spec: FakeLayerSpec;
  tags: string[];
  minUnits: number;
  minMemoryKb: number;
}
interface Job {
  id: string;
  spec: FakeJobSpec;
  state: CueJob['state'];
  startTime: number;
  stopTime: number;
  layers: Layer[];
  frames: Frame[];
}
interface Host {
  id: string;
  name: string;
  facility: string;
  allocation: string;
  tags: string[];
  totalUnits: number;
  memoryKb: number;
  freeMemKb: number;
  state: 'UP' | 'DOWN';
  /** From the RQD's reports (all cores locked: NIMBY). */
  lock: 'OPEN' | 'LOCKED';
  /** Locked through `HostInterface.Lock` (until `Unlock`). */
  adminLock: boolean;
  lastReport: number;
  bootTime: number;
}
interface Proc {
  resourceId: string;
  frameId: string;
  host: string;
  units: number;
  memoryKb: number;
  bookedAt: number;
  /** When the host answered its LaunchFrame: a report sent before it cannot list the frame. */
  launchedAt?: number;
  missedReports: number;
  kill?: 'kill' | 'eat';
}

class Status extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

/** The fake Cuebot. Start with `FakeCuebot.start`; `close` when done. */
export class FakeCuebot {
  private readonly jobs = new Map<string, Job>();
  private readonly frames = new Map<string, { job: Job; frame: Frame }>();
  private readonly hosts = new Map<string, Host>();
  private readonly allocations = new Map<string, CueAllocation>();
  private readonly facilities = new Map<string, { id: string; name: string }>();
  private readonly shows = new Map<string, CueShow>();
  private readonly subscriptions = new Map<string, CueSubscription>();
  private readonly procs = new Map<string, Proc>();
  private readonly hostAddresses = new Map<string, string>();
  private readonly rqdClients = new Map<string, grpc.Client>();
  private readonly timer: NodeJS.Timeout;
  private readonly log: Logger;
  /** Every completion report, in arrival order. */
  readonly completions: CompletionRecord[] = [];
  /** Frames requeued because their host stopped reporting them. */
  lostFrames = 0;
  /** Frames killed because a report named them under another frame's resource id. */
  fencingKills = 0;
  /** LaunchFrame calls that failed (the frame went back to WAITING). */
  launchFailures = 0;
  /** Frames cleared because their host went down (stopped reporting). */
  downHostClears = 0;

  private constructor(
    private readonly server: grpc.Server,
    /** `127.0.0.1:port` of the fake. */
    readonly address: string,
    private readonly options: FakeCuebotOptions,
  ) {
    this.log = options.logger ?? silentLogger;
    this.ensureAllocation(
      options.defaultFacility ?? 'local',
      options.defaultAllocation ?? 'general',
      'general',
    );
    this.timer = setInterval(() => this.tick(), options.dispatchIntervalMs ?? 200);
    this.timer.unref();
  }

  /** Starts a fake Cuebot on 127.0.0.1. */
  static async start(options: FakeCuebotOptions = {}): Promise<FakeCuebot> {
    const server = new grpc.Server();
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    const cue = new FakeCuebot(server, `127.0.0.1:${port}`, options);
    cue.register();
    return cue;
  }

  /** Makes Cuebot dial host `name`'s RQD at `address` (`host:port`) instead of `name:rqdPort`. */
  mapHost(name: string, address: string): void {
    this.hostAddresses.set(name, address);
    this.rqdClients.get(name)?.close();
    this.rqdClients.delete(name);
  }

  /** Creates a show (or returns it). */
  createShow(name: string): CueShow {
    let show = this.shows.get(name);
    if (!show) {
      show = {
        id: randomUUID(),
        name,
        default_min_cores: 1,
        default_max_cores: 100,
        booking_enabled: true,
        dispatch_enabled: true,
        active: true,
      };
      this.shows.set(name, show);
    }
    return show;
  }

  /** Creates allocation `facility.name` with `tag` (or returns it). */
  ensureAllocation(facility: string, name: string, tag: string): CueAllocation {
    if (!this.facilities.has(facility)) this.facilities.set(facility, { id: randomUUID(), name: facility });
    const full = `${facility}.${name}`;
    let alloc = this.allocations.get(full);
    if (!alloc) {
      alloc = { id: randomUUID(), name: full, tag, facility, billable: false, stats: null };
      this.allocations.set(full, alloc);
    }
    return alloc;
  }

  /** Subscribes a show to an allocation; sizes in cores (stored x100, as Cuebot does). */
  subscribe(show: string, allocation: string, sizeCores: number, burstCores: number): CueSubscription {
    const s = this.createShow(show);
    const alloc = this.allocations.get(allocation);
    if (!alloc)
      throw new Status(grpc.status.NOT_FOUND, `allocation ${JSON.stringify(allocation)} does not exist`);
    const name = `${alloc.name}.${s.name}`;
    let sub = this.subscriptions.get(name);
    if (!sub) {
      sub = {
        id: randomUUID(),
        name,
        show_name: s.name,
        facility: alloc.facility,
        allocation_name: alloc.name,
        size: coresToUnits(sizeCores),
        burst: coresToUnits(burstCores),
        reserved_cores: 0,
        reserved_gpus: 0,
      };
      this.subscriptions.set(name, sub);
    }
    return sub;
  }

  /** Launches a job: its layers' frames start WAITING. */
  launchJob(spec: FakeJobSpec): CueJob {
    this.createShow(spec.show);
    const job: Job = {
      id: randomUUID(),
      spec,
      state: 'PENDING',
      startTime: Math.floor(Date.now() / 1000),
      stopTime: 0,
      layers: [],
      frames: [],
    };
    let order = 0;
    for (const ls of spec.layers) {
      const layer: Layer = {
        id: randomUUID(),
        jobId: job.id,
        spec: ls,
        tags: [...(ls.tags ?? ['general'])],
        minUnits: coresToUnits(ls.minCores ?? 1),
        minMemoryKb: ls.minMemoryKb ?? 256 * 1024,
      };
      job.layers.push(layer);
      const numbers = framesOf(parseFrameRange(ls.range, 'layer.range'));
      const chunk = Math.max(1, ls.chunkSize ?? 1);
      for (let i = 0; i < numbers.length; i += chunk) {
        const n = numbers[i]!;
        const end = numbers[Math.min(numbers.length, i + chunk) - 1]!;
        const frame: Frame = {
          id: randomUUID(),
          name: frameTokens({ frameStart: n, layer: ls.name }).FRAME ?? String(n),
          jobId: job.id,
          layerId: layer.id,
          number: n,
          end,
          state: 'WAITING',
          retryCount: 0,
          exitStatus: -1,
          order: order++,
          startTime: 0,
          stopTime: 0,
          lastResource: '',
        };
        job.frames.push(frame);
        this.frames.set(frame.id, { job, frame });
      }
    }
    this.jobs.set(job.id, job);
    return this.toJob(job);
  }

  /** A job's frames, in dispatch order. */
  getFrames(jobId: string): CueFrame[] {
    return (this.jobs.get(jobId)?.frames ?? []).map((f) => this.toFrame(f));
  }

  /** A frame by id. */
  getFrame(id: string): CueFrame | undefined {
    const e = this.frames.get(id);
    return e ? this.toFrame(e.frame) : undefined;
  }

  /** Every host. */
  getHosts(): CueHost[] {
    return [...this.hosts.values()].map((h) => this.toHost(h));
  }

  /** The host a frame is booked on, if running. */
  hostOf(frameId: string): string | undefined {
    for (const p of this.procs.values()) if (p.frameId === frameId) return p.host;
    return undefined;
  }

  /** Kills a frame (asynchronous, as in Cuebot): it is requeued once its host reports it finished. */
  killFrame(frameId: string, reason = 'killed'): void {
    this.stopFrame(frameId, 'kill', reason);
  }

  /** Resolves when `predicate` holds, polling every 100 ms; rejects after `timeoutMs`. */
  async waitFor(
    predicate: () => boolean,
    options: { timeoutMs?: number; what?: string } = {},
  ): Promise<void> {
    const end = Date.now() + (options.timeoutMs ?? 60_000);
    while (!predicate()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${options.what ?? 'a condition'}`);
      await sleep(100);
    }
  }

  /** Stops serving and dispatching. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const c of this.rqdClients.values()) c.close();
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.server.forceShutdown();
  }

  // ---- dispatcher -------------------------------------------------------------------

  private tick(): void {
    const now = Date.now();
    for (const h of this.hosts.values()) {
      if (h.state === 'UP' && now - h.lastReport > (this.options.hostTimeoutMs ?? 30_000)) h.state = 'DOWN';
    }
    const clearAfter = this.options.downHostClearMs ?? this.options.hostTimeoutMs ?? 30_000;
    for (const p of [...this.procs.values()]) {
      const h = this.hosts.get(p.host);
      if (h && now - h.lastReport > clearAfter && now - p.bookedAt > clearAfter) {
        const e = this.frames.get(p.frameId);
        this.log.warn('frame cleared: its host went down', { frame: e?.frame.name, host: p.host });
        this.downHostClears += 1;
        this.procs.delete(p.resourceId);
        if (e && e.frame.state === 'RUNNING') {
          e.frame.state = 'WAITING';
          e.frame.exitStatus = EXIT_STATUS_DOWN_HOST;
        }
        continue;
      }
      if (p.missedReports >= (this.options.lostProcReports ?? 3)) {
        const e = this.frames.get(p.frameId);
        this.log.warn('frame lost: its host stopped reporting it', { frame: e?.frame.name, host: p.host });
        this.lostFrames += 1;
        this.procs.delete(p.resourceId);
        if (e && e.frame.state === 'RUNNING') {
          e.frame.state = 'WAITING';
          e.frame.retryCount += 1;
        }
      }
    }
    this.dispatch();
  }

  private dispatch(): void {
    const waiting = [...this.jobs.values()]
      .filter((j) => j.state === 'PENDING')
      .flatMap((j) =>
        j.frames
          .filter((f) => f.state === 'WAITING')
          .map((f) => {
            const layer = j.layers.find((l) => l.id === f.layerId)!;
            return {
              frameId: f.id,
              jobId: j.id,
              show: j.spec.show,
              priority: j.spec.priority ?? 50,
              order: f.order,
              layerTags: layer.tags,
              minUnits: layer.minUnits,
              minMemoryKb: layer.minMemoryKb,
            };
          }),
      );
    if (waiting.length === 0) return;
    const hosts = [...this.hosts.values()].map((h) => ({
      name: h.name,
      allocation: h.allocation,
      tags: [...h.tags, this.allocations.get(h.allocation)?.tag ?? ''],
      up: h.state === 'UP',
      open: lockOf(h) === 'OPEN',
      idleUnits: h.totalUnits - this.bookedUnits(h.name),
      idleMemoryKb: h.memoryKb - this.bookedMemory(h.name),
    }));
    const subs = [...this.subscriptions.values()].map((s) => ({
      show: s.show_name,
      allocation: s.allocation_name,
      burstUnits: s.burst,
      reservedUnits: this.reservedUnits(s.show_name, s.allocation_name),
    }));
    for (const b of bookFrames(hosts, waiting, subs)) this.launch(b.frameId, b.host, b.units, b.memoryKb);
  }

  private launch(frameId: string, hostName: string, units: number, memoryKb: number): void {
    const { job, frame } = this.frames.get(frameId)!;
    const layer = job.layers.find((l) => l.id === frame.layerId)!;
    const now = Date.now();
    const proc: Proc = {
      resourceId: randomUUID(),
      frameId,
      host: hostName,
      units,
      memoryKb,
      bookedAt: now,
      missedReports: 0,
    };
    this.procs.set(proc.resourceId, proc);
    frame.state = 'RUNNING';
    frame.startTime = Math.floor(now / 1000);
    frame.lastResource = `${hostName}/${unitsToCores(units)}`;
    const runFrame: RunFrame = {
      resource_id: proc.resourceId,
      job_id: job.id,
      job_name: job.spec.name,
      frame_id: frame.id,
      frame_name: frame.name,
      layer_id: layer.id,
      command: renderCommand(layer.spec.command, {
        frameStart: frame.number,
        frameEnd: frame.end,
        layer: layer.spec.name,
        job: job.spec.name,
      }),
      user_name: job.spec.user ?? 'spillway',
      log_dir: '',
      show: job.spec.show,
      shot: job.spec.shot ?? 'shot',
      frame_temp_dir: '',
      start_time: now,
      num_cores: units,
      gid: 0,
      ignore_nimby: false,
      environment: {
        ...(job.spec.environment ?? {}),
        CUE_JOB: job.spec.name,
        CUE_LAYER: layer.spec.name,
        CUE_FRAME: frame.name,
        CUE_IFRAME: String(frame.number),
        CUE_SHOW: job.spec.show,
        CUE_SHOT: job.spec.shot ?? 'shot',
        CUE_USER: job.spec.user ?? 'spillway',
        CUE_THREADS: String(Math.max(1, Math.floor(unitsToCores(units)))),
        CUE_MEMORY: String(memoryKb),
        CUE_RESOURCE_ID: proc.resourceId,
      },
      attributes: {},
      num_gpus: 0,
      os: 'linux',
      soft_memory_limit: 0,
      hard_memory_limit: 0,
    };
    this.rqdCall(hostName, 'LaunchFrame', { run_frame: runFrame })
      .then(() => {
        proc.launchedAt = Date.now();
      })
      .catch((err: Error) => {
        this.launchFailures += 1;
        this.log.warn('LaunchFrame failed; frame back to WAITING', {
          frame: frame.name,
          host: hostName,
          err: err.message,
        });
        if (this.procs.get(proc.resourceId)) {
          this.procs.delete(proc.resourceId);
          if (frame.state === 'RUNNING') frame.state = 'WAITING';
        }
      });
  }

  private rqdCall(hostName: string, method: string, request: unknown): Promise<unknown> {
    let client = this.rqdClients.get(hostName);
    if (!client) {
      const address = this.hostAddresses.get(hostName) ?? `${hostName}:${this.options.rqdPort ?? 8444}`;
      client = new (openCueServices().rqd.RqdInterface.Client)(address, grpc.credentials.createInsecure());
      this.rqdClients.set(hostName, client);
    }
    return unaryCall(client, 'rqd.RqdInterface', method, request, { timeoutMs: 10_000, maxAttempts: 3 });
  }

  private stopFrame(frameId: string, how: 'kill' | 'eat', reason: string): void {
    const e = this.frames.get(frameId);
    if (!e) throw new Status(grpc.status.NOT_FOUND, `frame ${JSON.stringify(frameId)} does not exist`);
    const proc = [...this.procs.values()].find((p) => p.frameId === frameId);
    if (!proc) {
      if (how === 'eat' && e.frame.state !== 'SUCCEEDED') e.frame.state = 'EATEN';
      this.updateJobState(e.job);
      return;
    }
    proc.kill = how;
    this.rqdCall(proc.host, 'KillRunningFrame', { frame_id: frameId, message: reason }).catch(
      (err: Error) => {
        this.log.warn('KillRunningFrame failed', { frame: e.frame.name, err: err.message });
        // Its RQD is gone: the proc is released and the frame stopped with EXIT_STATUS_FAILED_KILL.
        if (this.procs.get(proc.resourceId) !== proc) return;
        this.procs.delete(proc.resourceId);
        if (e.frame.state !== 'RUNNING') return;
        e.frame.exitStatus = EXIT_STATUS_FAILED_KILL;
        e.frame.state = how === 'eat' ? 'EATEN' : 'WAITING';
        this.updateJobState(e.job);
      },
    );
  }

  // ---- reports ----------------------------------------------------------------------

  private upsertHost(report: HostReport | BootReport, boot: boolean): Host {
    const rh = report.host;
    if (!rh || !rh.name) throw new Status(grpc.status.INVALID_ARGUMENT, 'host.name: is required');
    let host = this.hosts.get(rh.name);
    if (!host) {
      // A new host joins the allocation of its facility tagged with its first matching tag.
      const byTag = rh.tags
        .map((t) => [...this.allocations.values()].find((a) => a.facility === rh.facility && a.tag === t))
        .find((a) => a !== undefined);
      const alloc =
        byTag ??
        this.allocations.get(
          `${this.options.defaultFacility ?? 'local'}.${this.options.defaultAllocation ?? 'general'}`,
        )!;
      host = {
        id: randomUUID(),
        name: rh.name,
        facility: rh.facility || alloc.facility,
        allocation: alloc.name,
        tags: [...rh.tags],
        totalUnits: hostCoreUnits(rh),
        memoryKb: rh.total_mem,
        freeMemKb: rh.free_mem,
        state: 'UP',
        lock: 'OPEN',
        adminLock: false,
        lastReport: Date.now(),
        bootTime: rh.boot_time,
      };
      this.hosts.set(rh.name, host);
    } else if (boot) {
      // Resources and tags are only taken at boot, as Cuebot does.
      host.totalUnits = hostCoreUnits(rh);
      host.memoryKb = rh.total_mem;
      host.tags = [...rh.tags];
      host.bootTime = rh.boot_time;
    }
    const advertised = rh.attributes?.spillway_rqd_address;
    if (advertised && this.hostAddresses.get(rh.name) !== advertised) this.mapHost(rh.name, advertised);
    host.freeMemKb = rh.free_mem;
    host.lastReport = Date.now();
    host.state = rh.state === 'DOWN' ? 'DOWN' : 'UP';
    const core = report.core_info;
    if (core) {
      if (host.lock === 'LOCKED' && core.locked_cores < core.total_cores) host.lock = 'OPEN';
      else if (host.lock === 'OPEN' && core.total_cores > 0 && core.locked_cores >= core.total_cores)
        host.lock = 'LOCKED';
    }
    return host;
  }

  private onStatus(report: HostReport): void {
    const host = this.upsertHost(report, false);
    const now = Date.now();
    const listed = new Set<string>();
    for (const rf of report.frames) {
      const proc = this.procs.get(rf.resource_id);
      if (proc && proc.frameId === rf.frame_id && proc.host === host.name) {
        listed.add(proc.resourceId);
      } else if (proc && proc.frameId !== rf.frame_id) {
        this.fencingKills += 1;
        this.log.warn("fencing: report names a frame under another frame's resource", {
          frame: rf.frame_name,
        });
        this.rqdCall(host.name, 'KillRunningFrame', {
          frame_id: rf.frame_id,
          message: 'FrameFencingError',
        }).catch(() => undefined);
      }
    }
    for (const p of this.procs.values()) {
      // Missed reports count from a second after the host took the launch (not from the
      // booking: a host whose launch is still on its way cannot list the frame yet).
      if (p.host !== host.name || p.launchedAt === undefined || now - p.launchedAt < 1000) continue;
      p.missedReports = listed.has(p.resourceId) ? 0 : p.missedReports + 1;
    }
  }

  private onCompletion(report: FrameCompleteReport): void {
    const rf = report.frame;
    const hostName = report.host?.name ?? '';
    if (!rf) throw new Status(grpc.status.INVALID_ARGUMENT, 'frame: is required');
    const proc = this.procs.get(rf.resource_id);
    const e = this.frames.get(rf.frame_id);
    const accepted = !!proc && !!e && proc.frameId === rf.frame_id;
    if (accepted && proc && e) {
      this.procs.delete(proc.resourceId);
      const f = e.frame;
      f.stopTime = Math.floor(Date.now() / 1000);
      f.exitStatus = report.exit_status;
      if (proc.kill === 'eat') f.state = 'EATEN';
      else if (report.exit_status === 0 && report.exit_signal === 0 && proc.kill === undefined)
        f.state = 'SUCCEEDED';
      else if (NOT_RETRY_COUNTED.has(report.exit_status)) {
        // Given back, not failed (SKIP_RETRY, failed launch...): waiting again, retries untouched.
        f.state = 'WAITING';
      } else if (proc.kill === 'kill') {
        f.state = 'WAITING';
        f.retryCount += 1;
      } else {
        f.retryCount += 1;
        f.state = f.retryCount > (this.options.maxRetries ?? 1) ? 'DEAD' : 'WAITING';
      }
      this.updateJobState(e.job);
    }
    this.completions.push({
      frameId: rf.frame_id,
      frameName: rf.frame_name,
      resourceId: rf.resource_id,
      host: hostName,
      exitStatus: report.exit_status,
      exitSignal: report.exit_signal,
      accepted,
      state: e?.frame.state ?? 'WAITING',
    });
  }

  private updateJobState(job: Job): void {
    if (job.frames.every((f) => f.state === 'SUCCEEDED' || f.state === 'EATEN')) {
      job.state = 'FINISHED';
      job.stopTime = Math.floor(Date.now() / 1000);
    }
  }

  // ---- views ------------------------------------------------------------------------

  private bookedUnits(host: string): number {
    let n = 0;
    for (const p of this.procs.values()) if (p.host === host) n += p.units;
    return n;
  }

  private bookedMemory(host: string): number {
    let n = 0;
    for (const p of this.procs.values()) if (p.host === host) n += p.memoryKb;
    return n;
  }

  private reservedUnits(show: string, allocation: string): number {
    let n = 0;
    for (const p of this.procs.values()) {
      const h = this.hosts.get(p.host);
      const e = this.frames.get(p.frameId);
      if (h?.allocation === allocation && e?.job.spec.show === show) n += p.units;
    }
    return n;
  }

  private toFrame(f: Frame): CueFrame {
    const job = this.jobs.get(f.jobId)!;
    return {
      id: f.id,
      name: f.name,
      layer_name: job.layers.find((l) => l.id === f.layerId)!.spec.name,
      number: f.number,
      state: f.state,
      retry_count: f.retryCount,
      exit_status: f.exitStatus,
      dispatch_order: f.order,
      start_time: f.startTime,
      stop_time: f.stopTime,
      max_rss: 0,
      used_memory: 0,
      reserved_memory: 0,
      last_resource: f.lastResource,
      total_core_time: 0,
      submission_time: job.startTime,
    };
  }

  private toJob(j: Job): CueJob {
    const count = (s: FrameStateName): number => j.frames.filter((f) => f.state === s).length;
    return {
      id: j.id,
      state: j.state,
      name: j.spec.name,
      shot: j.spec.shot ?? 'shot',
      show: j.spec.show,
      user: j.spec.user ?? 'spillway',
      facility: this.options.defaultFacility ?? 'local',
      priority: j.spec.priority ?? 50,
      min_cores: 1,
      max_cores: 100,
      is_paused: false,
      start_time: j.startTime,
      stop_time: j.stopTime,
      job_stats: {
        total_layers: j.layers.length,
        total_frames: j.frames.length,
        waiting_frames: count('WAITING'),
        running_frames: count('RUNNING'),
        dead_frames: count('DEAD'),
        eaten_frames: count('EATEN'),
        depend_frames: count('DEPEND'),
        succeeded_frames: count('SUCCEEDED'),
        pending_frames: count('WAITING') + count('DEPEND'),
        avg_frame_sec: 0,
        reserved_cores: unitsToCores(
          [...this.procs.values()]
            .filter((p) => this.frames.get(p.frameId)?.job === j)
            .reduce((a, p) => a + p.units, 0),
        ),
      },
    };
  }

  private toLayer(l: Layer): CueLayer {
    return {
      id: l.id,
      name: l.spec.name,
      range: l.spec.range,
      tags: [...l.tags],
      min_cores: unitsToCores(l.minUnits),
      max_cores: unitsToCores(l.minUnits),
      is_threadable: false,
      min_memory: l.minMemoryKb,
      chunk_size: l.spec.chunkSize ?? 1,
      dispatch_order: 0,
      type: 'RENDER',
      services: [],
      parent_id: l.jobId,
      timeout: 0,
      command: l.spec.command,
    };
  }

  private toHost(h: Host): CueHost {
    const idle = h.totalUnits - this.bookedUnits(h.name);
    return {
      id: h.id,
      name: h.name,
      alloc_name: h.allocation,
      nimby_enabled: false,
      cores: unitsToCores(h.totalUnits),
      idle_cores: unitsToCores(idle),
      memory: h.memoryKb,
      idle_memory: h.memoryKb - this.bookedMemory(h.name),
      total_memory: h.memoryKb,
      free_memory: h.freeMemKb,
      boot_time: h.bootTime,
      ping_time: Math.floor(h.lastReport / 1000),
      os: 'linux',
      tags: [...h.tags],
      state: h.state,
      lock_state: lockOf(h),
      thread_mode: 'AUTO',
    };
  }

  private toAllocation(a: CueAllocation): CueAllocation {
    const hosts = [...this.hosts.values()].filter((h) => h.allocation === a.name);
    const sum = (f: (h: Host) => number): number => hosts.reduce((n, h) => n + f(h), 0);
    return {
      ...a,
      stats: {
        cores: unitsToCores(sum((h) => h.totalUnits)),
        available_cores: unitsToCores(
          sum((h) => (h.state === 'UP' && lockOf(h) === 'OPEN' ? h.totalUnits : 0)),
        ),
        idle_cores: unitsToCores(sum((h) => h.totalUnits - this.bookedUnits(h.name))),
        running_cores: unitsToCores(sum((h) => this.bookedUnits(h.name))),
        locked_cores: unitsToCores(sum((h) => (lockOf(h) === 'LOCKED' ? h.totalUnits : 0))),
        hosts: hosts.length,
        locked_hosts: hosts.filter((h) => lockOf(h) === 'LOCKED').length,
        down_hosts: hosts.filter((h) => h.state === 'DOWN').length,
      },
    };
  }

  private toSubscription(s: CueSubscription): CueSubscription {
    return { ...s, reserved_cores: this.reservedUnits(s.show_name, s.allocation_name) };
  }

  // ---- gRPC -------------------------------------------------------------------------

  private register(): void {
    const s = openCueServices();
    type Handler = (req: Record<string, unknown>) => unknown;
    const serve = (def: grpc.ServiceDefinition, handlers: Record<string, Handler>): void => {
      const impl: grpc.UntypedServiceImplementation = {};
      for (const method of Object.keys(def)) {
        const h = handlers[method];
        impl[method] = (
          call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>,
          cb: grpc.sendUnaryData<unknown>,
        ) => {
          if (!h)
            return cb({
              code: grpc.status.UNIMPLEMENTED,
              details: `${method} is not implemented by the fake`,
            });
          try {
            cb(null, h(call.request) ?? {});
          } catch (err) {
            const e = err as Status;
            cb({ code: e instanceof Status ? e.code : grpc.status.INTERNAL, details: e.message });
          }
        };
      }
      this.server.addService(def, impl);
    };
    const str = (v: unknown): string => (typeof v === 'string' ? v : '');
    const obj = (v: unknown): Record<string, unknown> =>
      v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
    const job = (id: string): Job => {
      const j = this.jobs.get(id);
      if (!j) throw new Status(grpc.status.NOT_FOUND, `job ${JSON.stringify(id)} does not exist`);
      return j;
    };
    const host = (pred: (h: Host) => boolean, what: string): Host => {
      const h = [...this.hosts.values()].find(pred);
      if (!h) throw new Status(grpc.status.NOT_FOUND, `host ${what} does not exist`);
      return h;
    };
    const alloc = (pred: (a: CueAllocation) => boolean, what: string): CueAllocation => {
      const a = [...this.allocations.values()].find(pred);
      if (!a) throw new Status(grpc.status.NOT_FOUND, `allocation ${what} does not exist`);
      return a;
    };
    const frameQuery = (frames: Frame[], c: CueFrameSearchCriteria): CueFrame[] => {
      const page = c.page ?? 0;
      const limit = c.limit ?? 0;
      if (page < 1) throw new Status(grpc.status.INVALID_ARGUMENT, `page must be >= 1 (got ${page})`);
      if (limit < 1 || limit >= 1000)
        throw new Status(grpc.status.INVALID_ARGUMENT, `limit must be 1-999 (got ${limit})`);
      const states = c.states?.frame_states ?? [];
      const picked = frames.filter(
        (f) =>
          (!c.ids?.length || c.ids.includes(f.id)) &&
          (!c.frames?.length || c.frames.includes(f.name)) &&
          (!c.layers?.length || c.layers.includes(this.toFrame(f).layer_name)) &&
          (states.length === 0 || states.includes(f.state)),
      );
      return picked.slice((page - 1) * limit, page * limit).map((f) => this.toFrame(f));
    };

    serve(s.cue.CueInterface.definition, {
      GetSystemStats: () => ({
        stats: {
          dispatch_threads: 1,
          dispatch_executed: 0,
          booked_procs: this.procs.size,
          unbooked_procs: 0,
        },
      }),
    });
    serve(s.job.JobInterface.definition, {
      GetJobs: (req) => {
        const r = obj(req.r) as {
          ids?: string[];
          jobs?: string[];
          shows?: string[];
          include_finished?: boolean;
        };
        const jobs = [...this.jobs.values()].filter(
          (j) =>
            (r.include_finished || j.state !== 'FINISHED') &&
            (!r.ids?.length || r.ids.includes(j.id)) &&
            (!r.jobs?.length || r.jobs.includes(j.spec.name)) &&
            (!r.shows?.length || r.shows.includes(j.spec.show)),
        );
        return { jobs: { jobs: jobs.map((j) => this.toJob(j)) } };
      },
      GetJob: (req) => ({ job: this.toJob(job(str(req.id))) }),
      FindJob: (req) => {
        const j = [...this.jobs.values()].find(
          (x) => x.spec.name === str(req.name) && x.state !== 'FINISHED',
        );
        if (!j) throw new Status(grpc.status.NOT_FOUND, `job ${JSON.stringify(req.name)} does not exist`);
        return { job: this.toJob(j) };
      },
      GetLayers: (req) => ({
        layers: { layers: job(str(obj(req.job).id)).layers.map((l) => this.toLayer(l)) },
      }),
      GetFrames: (req) => ({
        frames: {
          frames: frameQuery(job(str(obj(req.job).id)).frames, obj(req.req) as CueFrameSearchCriteria),
        },
      }),
      KillFrames: (req) => {
        const j = job(str(obj(req.job).id));
        const c = obj(req.req) as CueFrameSearchCriteria;
        const states = c.states?.frame_states ?? [];
        for (const f of j.frames) {
          if ((!c.ids?.length || c.ids.includes(f.id)) && (states.length === 0 || states.includes(f.state))) {
            if (f.state === 'RUNNING') this.stopFrame(f.id, 'kill', str(req.reason) || 'killed');
          }
        }
        return {};
      },
    });
    serve(s.job.LayerInterface.definition, {
      GetFrames: (req) => {
        const layerId = str(obj(req.layer).id);
        const j = [...this.jobs.values()].find((x) => x.layers.some((l) => l.id === layerId));
        if (!j) throw new Status(grpc.status.NOT_FOUND, `layer ${JSON.stringify(layerId)} does not exist`);
        return {
          frames: {
            frames: frameQuery(
              j.frames.filter((f) => f.layerId === layerId),
              obj(req.s) as CueFrameSearchCriteria,
            ),
          },
        };
      },
    });
    serve(s.job.FrameInterface.definition, {
      GetFrame: (req) => {
        const f = this.getFrame(str(req.id));
        if (!f) throw new Status(grpc.status.NOT_FOUND, `frame ${JSON.stringify(req.id)} does not exist`);
        return { frame: f };
      },
      Kill: (req) => this.stopFrame(str(obj(req.frame).id), 'kill', str(req.reason) || 'killed'),
      Eat: (req) => this.stopFrame(str(obj(req.frame).id), 'eat', 'eaten'),
      Retry: (req) => {
        const e = this.frames.get(str(obj(req.frame).id));
        if (!e)
          throw new Status(
            grpc.status.NOT_FOUND,
            `frame ${JSON.stringify(obj(req.frame).id)} does not exist`,
          );
        if (e.frame.state !== 'RUNNING') {
          e.frame.state = 'WAITING';
          e.job.state = 'PENDING';
        }
        return {};
      },
    });
    serve(s.host.HostInterface.definition, {
      FindHost: (req) => ({
        host: this.toHost(host((h) => h.name === str(req.name), JSON.stringify(req.name))),
      }),
      GetHosts: (req) => {
        const r = obj(req.r) as { hosts?: string[]; ids?: string[]; allocs?: string[] };
        const hosts = [...this.hosts.values()].filter(
          (h) =>
            (!r.hosts?.length || r.hosts.includes(h.name)) &&
            (!r.ids?.length || r.ids.includes(h.id)) &&
            (!r.allocs?.length || r.allocs.includes(h.allocation)),
        );
        return { hosts: { hosts: hosts.map((h) => this.toHost(h)) } };
      },
      Lock: (req) => {
        const id = str(obj(req.host).id);
        host((x) => x.id === id, JSON.stringify(id)).adminLock = true;
        return {};
      },
      Unlock: (req) => {
        const id = str(obj(req.host).id);
        host((x) => x.id === id, JSON.stringify(id)).adminLock = false;
        return {};
      },
      Delete: (req) => {
        const id = str(obj(req.host).id);
        const h = host((x) => x.id === id, JSON.stringify(id));
        if ([...this.procs.values()].some((p) => p.host === h.name))
          throw new Status(
            grpc.status.FAILED_PRECONDITION,
            `host ${h.name} has frames booked; it cannot be deleted`,
          );
        this.hosts.delete(h.name);
        this.rqdClients.get(h.name)?.close();
        this.rqdClients.delete(h.name);
        this.hostAddresses.delete(h.name);
        return {};
      },
      GetProcs: (req) => {
        const id = str(obj(req.host).id);
        const h = host((x) => x.id === id, JSON.stringify(id));
        const procs = [...this.procs.values()]
          .filter((p) => p.host === h.name)
          .map((p) => {
            const e = this.frames.get(p.frameId)!;
            return {
              id: p.resourceId,
              name: `${h.name}/${unitsToCores(p.units)}`,
              show_name: e.job.spec.show,
              job_name: e.job.spec.name,
              frame_name: e.frame.name,
              group_name: '',
              ping_time: Math.floor(h.lastReport / 1000),
              bookedTime: Math.floor(p.bookedAt / 1000),
              dispatch_time: Math.floor(p.bookedAt / 1000),
              reserved_cores: unitsToCores(p.units),
            };
          });
        return { procs: { procs } };
      },
      SetAllocation: (req) => {
        const id = str(obj(req.host).id);
        const h = host((x) => x.id === id, JSON.stringify(id));
        h.allocation = alloc((a) => a.id === str(req.allocation_id), JSON.stringify(req.allocation_id)).name;
        return {};
      },
    });
    serve(s.facility.FacilityInterface.definition, {
      Get: (req) => {
        const f = this.facilities.get(str(req.name));
        if (!f)
          throw new Status(grpc.status.NOT_FOUND, `facility ${JSON.stringify(req.name)} does not exist`);
        return { facility: f };
      },
      Create: (req) => {
        const name = str(req.name);
        if (!this.facilities.has(name)) this.facilities.set(name, { id: randomUUID(), name });
        return { facility: this.facilities.get(name) };
      },
      GetAllocations: (req) => ({
        allocations: {
          allocations: [...this.allocations.values()]
            .filter((a) => a.facility === str(obj(req.facility).name))
            .map((a) => this.toAllocation(a)),
        },
      }),
    });
    serve(s.facility.AllocationInterface.definition, {
      Create: (req) => {
        const facility = str(obj(req.facility).name);
        if (!this.facilities.has(facility)) {
          throw new Status(grpc.status.NOT_FOUND, `facility ${JSON.stringify(facility)} does not exist`);
        }
        if (this.allocations.has(`${facility}.${str(req.name)}`)) {
          throw new Status(grpc.status.ALREADY_EXISTS, `allocation ${facility}.${str(req.name)} exists`);
        }
        return {
          allocation: this.toAllocation(this.ensureAllocation(facility, str(req.name), str(req.tag))),
        };
      },
      Find: (req) => ({
        allocation: this.toAllocation(alloc((a) => a.name === str(req.name), JSON.stringify(req.name))),
      }),
      Get: (req) => ({
        allocation: this.toAllocation(alloc((a) => a.id === str(req.id), JSON.stringify(req.id))),
      }),
      GetAll: () => ({
        allocations: { allocations: [...this.allocations.values()].map((a) => this.toAllocation(a)) },
      }),
      GetHosts: (req) => {
        const a = alloc((x) => x.id === str(obj(req.allocation).id), JSON.stringify(obj(req.allocation).id));
        return {
          hosts: {
            hosts: [...this.hosts.values()].filter((h) => h.allocation === a.name).map((h) => this.toHost(h)),
          },
        };
      },
      GetSubscriptions: (req) => {
        const a = alloc((x) => x.id === str(obj(req.allocation).id), JSON.stringify(obj(req.allocation).id));
        return {
          subscriptions: {
            subscriptions: [...this.subscriptions.values()]
              .filter((x) => x.allocation_name === a.name)
              .map((x) => this.toSubscription(x)),
          },
        };
      },
    });
    serve(s.show.ShowInterface.definition, {
      CreateShow: (req) => ({ show: this.createShow(str(req.name)) }),
      FindShow: (req) => {
        const show = this.shows.get(str(req.name));
        if (!show) throw new Status(grpc.status.NOT_FOUND, `show ${JSON.stringify(req.name)} does not exist`);
        return { show };
      },
      GetShows: () => ({ shows: { shows: [...this.shows.values()] } }),
      GetSubscriptions: (req) => {
        const id = str(obj(req.show).id);
        const show = [...this.shows.values()].find((x) => x.id === id);
        if (!show) throw new Status(grpc.status.NOT_FOUND, `show ${JSON.stringify(id)} does not exist`);
        return {
          subscriptions: {
            subscriptions: [...this.subscriptions.values()]
              .filter((x) => x.show_name === show.name)
              .map((x) => this.toSubscription(x)),
          },
        };
      },
      CreateSubscription: (req) => {
        const id = str(obj(req.show).id);
        const show = [...this.shows.values()].find((x) => x.id === id);
        if (!show) throw new Status(grpc.status.NOT_FOUND, `show ${JSON.stringify(id)} does not exist`);
        const a = alloc((x) => x.id === str(req.allocation_id), JSON.stringify(req.allocation_id));
        const size = Number(req.size);
        const burst = Number(req.burst);
        return { subscription: this.toSubscription(this.subscribe(show.name, a.name, size, burst)) };
      },
    });
    serve(s.subscription.SubscriptionInterface.definition, {
      Find: (req) => {
        const sub = this.subscriptions.get(str(req.name));
        if (!sub)
          throw new Status(grpc.status.NOT_FOUND, `subscription ${JSON.stringify(req.name)} does not exist`);
        return { subscription: this.toSubscription(sub) };
      },
      Get: (req) => {
        const sub = [...this.subscriptions.values()].find((x) => x.id === str(req.id));
        if (!sub)
          throw new Status(grpc.status.NOT_FOUND, `subscription ${JSON.stringify(req.id)} does not exist`);
        return { subscription: this.toSubscription(sub) };
      },
      SetBurst: (req) => {
        const sub = [...this.subscriptions.values()].find((x) => x.id === str(obj(req.subscription).id));
        if (!sub) throw new Status(grpc.status.NOT_FOUND, 'subscription does not exist');
        sub.burst = Number(req.burst);
        return {};
      },
      SetSize: (req) => {
        const sub = [...this.subscriptions.values()].find((x) => x.id === str(obj(req.subscription).id));
        if (!sub) throw new Status(grpc.status.NOT_FOUND, 'subscription does not exist');
        sub.size = Number(req.new_size);
        return {};
      },
    });
    serve(s.report.RqdReportInterface.definition, {
      ReportRqdStartup: (req) => {
        this.upsertHost(obj(req.boot_report) as unknown as BootReport, true);
        return {};
      },
      ReportStatus: (req) => {
        this.onStatus(obj(req.host_report) as unknown as HostReport);
        return {};
      },
      ReportRunningFrameCompletion: (req) => {
        this.onCompletion(obj(req.frame_complete_report) as unknown as FrameCompleteReport);
        return {};
      },
    });
  }
}

/** Cuebot's `FrameExitStatus.SKIP_RETRY`: a frame given back, not failed. */
export const EXIT_STATUS_SKIP_RETRY = 286;
/** Cuebot's `FrameExitStatus.FAILED_LAUNCH`. */
export const EXIT_STATUS_FAILED_LAUNCH = 256;
/** Cuebot's `Dispatcher.EXIT_STATUS_FRAME_CLEARED`. */
export const EXIT_STATUS_FRAME_CLEARED = 299;
/** Cuebot's `Dispatcher.EXIT_STATUS_FRAME_ORPHAN`. */
export const EXIT_STATUS_FRAME_ORPHAN = 301;
/** Cuebot's `Dispatcher.EXIT_STATUS_FAILED_KILL`: the kill failed because RQD did not answer. */
export const EXIT_STATUS_FAILED_KILL = 302;
/** Cuebot's `Dispatcher.EXIT_STATUS_DOWN_HOST`: cleared from a host that went down. */
export const EXIT_STATUS_DOWN_HOST = 399;

/** Exit statuses Cuebot does not count as a retry (`FrameDaoJdbc.UPDATE_FRAME_RETRIES`). */
const NOT_RETRY_COUNTED: ReadonlySet<number> = new Set([
  EXIT_STATUS_SKIP_RETRY,
  EXIT_STATUS_FAILED_LAUNCH,
  EXIT_STATUS_FRAME_CLEARED,
  EXIT_STATUS_FRAME_ORPHAN,
  EXIT_STATUS_FAILED_KILL,
  EXIT_STATUS_DOWN_HOST,
]);

/** What booking sees: locked through Cuebot, or all cores locked by the RQD (NIMBY). */
function lockOf(h: { lock: 'OPEN' | 'LOCKED'; adminLock: boolean }): 'OPEN' | 'LOCKED' {
  return h.adminLock ? 'LOCKED' : h.lock;
}
