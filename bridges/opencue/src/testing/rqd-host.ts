/**
 * A simulated render host: a real RQD gRPC server on 127.0.0.1 that runs each launched
 * frame's command as a real child process (`/bin/sh -c`, its own process group), reports
 * start-up, status on a timer (with its running frames) and each completion (with the real
 * exit status) to Cuebot, and kills frames on request. It advertises its RQD address in its
 * attributes (`spillway_rqd_address`), so the fake Cuebot dials it wherever it listens.
 * `shutdown` is what RQD does when stopped: its cores are locked, its frames are killed and
 * reported, then it reports itself DOWN.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { type Logger, retry, silentLogger } from '@spillway/sdk';
import { RENDER_NICENESS, shellCommand } from '@spillway/sdk/compute';
import { CuebotClient } from '../cuebot/client';
import { renderHostCores } from '../cuebot/units';
import {
  openCueServices,
  type CoreDetail,
  type RenderHost,
  type RunFrame,
  type RunningFrameInfo,
} from '../proto';
import { serveRqd } from '../rqd';

/** Options of `SimulatedRqdHost.start`. */
export interface SimulatedRqdHostOptions {
  /** Host name Cuebot knows it by. */
  readonly name: string;
  /** `host:port` of Cuebot. */
  readonly cuebot: string;
  /** @default 1 */
  readonly cores?: number;
  /** @default 8 GiB, in KB */
  readonly memoryKb?: number;
  /** @default 'local' */
  readonly facility?: string;
  /** @default ['general'] */
  readonly tags?: readonly string[];
  /** @default 1000 */
  readonly reportIntervalMs?: number;
  /** RQD port on 127.0.0.1. @default 0 (any free port) */
  readonly port?: number;
  /** Where frame logs go. @default a new temporary folder */
  readonly workDir?: string;
  readonly logger?: Logger;
}

interface Running {
  readonly run: RunFrame;
  readonly child: ChildProcess;
  readonly startedAt: number;
}

/** A simulated RQD host. */
export class SimulatedRqdHost {
  private readonly running = new Map<string, Running>();
  private readonly cuebot: CuebotClient;
  private timer: NodeJS.Timeout | undefined;
  private readonly bootTime = Math.floor(Date.now() / 1000);
  private readonly log: Logger;
  /** Frames launched on this host, by frame name, in order. */
  readonly launched: string[] = [];
  private down = false;
  /** Shutting down: every core locked, launches refused (as RQD's shutdown locks all first). */
  private stopping = false;
  private readonly completions = new Set<Promise<void>>();

  private constructor(
    private readonly server: grpc.Server,
    /** `127.0.0.1:port` of this host's RQD. */
    readonly rqdAddress: string,
    private readonly options: SimulatedRqdHostOptions,
    private readonly workDir: string,
  ) {
    this.cuebot = new CuebotClient(options.cuebot, { callTimeoutMs: 5000 });
    this.log = options.logger ?? silentLogger;
  }

  /** Starts the RQD server and reports start-up to Cuebot. */
  static async start(options: SimulatedRqdHostOptions): Promise<SimulatedRqdHost> {
    const server = new grpc.Server();
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    const workDir = options.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `rqd-${options.name}-`));
    const host = new SimulatedRqdHost(server, `127.0.0.1:${port}`, options, workDir);
    serveRqd(server, openCueServices(), {
      launchFrame: (run) => host.launch(run),
      killRunningFrame: (frameId) => host.kill(frameId),
      runningFrame: (frameId) => host.info(frameId),
      hostReport: () => ({ host: host.renderHost(), frames: host.frames(), core_info: host.cores() }),
    });
    await host.cuebot.reportRqdStartup({ host: host.renderHost(), core_info: host.cores() });
    host.timer = setInterval(() => void host.report(), options.reportIntervalMs ?? 1000);
    host.timer.unref();
    return host;
  }

  private totalUnits(): number {
    return (this.options.cores ?? 1) * 100;
  }

  private bookedUnits(): number {
    let n = 0;
    for (const r of this.running.values()) n += r.run.num_cores;
    return n;
  }

  private cores(): CoreDetail {
    const booked = this.bookedUnits();
    return {
      total_cores: this.totalUnits(),
      idle_cores: this.stopping ? 0 : this.totalUnits() - booked,
      locked_cores: this.stopping ? this.totalUnits() : 0,
      booked_cores: booked,
    };
  }

  private renderHost(): RenderHost {
    const mem = this.options.memoryKb ?? 8 * 1024 * 1024;
    return {
      name: this.options.name,
      nimby_enabled: false,
      nimby_locked: false,
      facility: this.options.facility ?? 'local',
      ...renderHostCores(this.options.cores ?? 1),
      total_swap: 0,
      total_mem: mem,
      total_mcp: 100 * 1024 * 1024,
      free_swap: 0,
      free_mem: mem,
      free_mcp: 100 * 1024 * 1024,
      load: 0,
      boot_time: this.bootTime,
      tags: [...(this.options.tags ?? ['general'])],
      state: this.down ? 'DOWN' : 'UP',
      attributes: { SP_OS: 'linux', spillway_rqd_address: this.rqdAddress },
      num_gpus: 0,
      free_gpu_mem: 0,
      total_gpu_mem: 0,
    };
  }

  private info(frameId: string): RunningFrameInfo | undefined {
    const r = this.running.get(frameId);
    return r ? runningInfo(r.run, r.startedAt) : undefined;
  }

  private frames(): RunningFrameInfo[] {
    return [...this.running.values()].map((r) => runningInfo(r.run, r.startedAt));
  }

  private async report(): Promise<void> {
    try {
      await this.cuebot.reportStatus({
        host: this.renderHost(),
        frames: this.frames(),
        core_info: this.cores(),
      });
    } catch (err) {
      this.log.warn('status report failed', { host: this.options.name, err: (err as Error).message });
    }
  }

  private async launch(run: RunFrame): Promise<void> {
    if (this.stopping) {
      throw Object.assign(new Error(`not launching ${run.frame_name}: rqd is shutting down`), {
        code: grpc.status.FAILED_PRECONDITION,
      });
    }
    if (this.running.has(run.frame_id)) {
      throw Object.assign(new Error(`frame ${run.frame_name} is already running here`), {
        code: grpc.status.ALREADY_EXISTS,
      });
    }
    if (this.bookedUnits() + run.num_cores > this.totalUnits()) {
      throw Object.assign(new Error(`not enough idle cores for ${run.frame_name}`), {
        code: grpc.status.RESOURCE_EXHAUSTED,
      });
    }
    const logPath = path.join(this.workDir, `${run.job_name}.${run.frame_name}.rqlog`);
    const out = fs.openSync(logPath, 'a');
    // At the niceness of every simulated render node (see `shellCommand`).
    const [file, args] = shellCommand(run.command, RENDER_NICENESS);
    const child = spawn(file, args, {
      detached: true,
      stdio: ['ignore', out, out],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        ...run.environment,
      },
    });
    fs.closeSync(out);
    const startedAt = Date.now();
    this.running.set(run.frame_id, { run, child, startedAt });
    this.launched.push(run.frame_name);
    child.on('exit', (code, signal) => {
      this.running.delete(run.frame_id);
      const signum = signal ? (os.constants.signals[signal] ?? 0) : 0;
      const done = this.complete(run, startedAt, code ?? 128 + signum, signum);
      this.completions.add(done);
      void done.finally(() => this.completions.delete(done));
    });
    child.on('error', (err) =>
      this.log.error('frame did not start', { frame: run.frame_name, err: err.message }),
    );
  }

  private async complete(
    run: RunFrame,
    startedAt: number,
    exitStatus: number,
    exitSignal: number,
  ): Promise<void> {
    const report = (): Promise<unknown> =>
      this.cuebot.reportRunningFrameCompletion({
        host: this.renderHost(),
        frame: runningInfo(run, startedAt),
        exit_status: exitStatus,
        exit_signal: exitSignal,
        run_time: Math.round((Date.now() - startedAt) / 1000),
      });
    const warn = (err: unknown): void =>
      this.log.warn('completion report failed', { frame: run.frame_name, err: (err as Error).message });
    // A test host: any failure is tried again, five times at most.
    await retry(report, {
      maxAttempts: 5,
      initialIntervalMs: 200,
      retryable: () => true,
      onRetry: warn,
    }).catch(warn);
  }

  private async kill(frameId: string): Promise<void> {
    const r = this.running.get(frameId);
    if (!r || r.child.pid === undefined) return;
    try {
      process.kill(-r.child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }

  /**
   * Stops as RQD does when it is shut down: every core is locked first (a status report says
   * so, and launches are refused), so Cuebot books nothing more here; then running frames are
   * killed and their completions reported (Cuebot requeues them elsewhere), then a last status
   * report says the host is DOWN.
   */
  async shutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.stopping = true;
    await this.report();
    for (const r of this.running.values()) {
      try {
        if (r.child.pid !== undefined) process.kill(-r.child.pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
    const deadline = Date.now() + 5000;
    while ((this.running.size > 0 || this.completions.size > 0) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    this.down = true;
    await this.report();
    await this.close();
  }

  /** Stops reporting, kills running frames and the server. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const r of this.running.values()) {
      try {
        if (r.child.pid !== undefined) process.kill(-r.child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    this.cuebot.close();
    this.server.forceShutdown();
  }
}

/** The `RunningFrameInfo` of a launched frame, echoing its `resource_id`. */
export function runningInfo(run: RunFrame, startedAt: number): RunningFrameInfo {
  return {
    resource_id: run.resource_id,
    job_id: run.job_id,
    job_name: run.job_name,
    frame_id: run.frame_id,
    frame_name: run.frame_name,
    layer_id: run.layer_id,
    num_cores: run.num_cores,
    start_time: startedAt,
    max_rss: 0,
    rss: 0,
    max_vsize: 0,
    vsize: 0,
    attributes: {},
    llu_time: Math.floor(Date.now() / 1000),
    num_gpus: run.num_gpus,
  };
}

/** The `[Override]` settings of an rqd.conf that the testing RQD reads (RQD's own keys). */
export interface RqdConf {
  readonly cuebotHost?: string;
  readonly cuebotPort?: number;
  readonly facility?: string;
  readonly tags?: readonly string[];
  readonly hostname?: string;
  readonly cores?: number;
}

/** Reads the `[Override]` section of an rqd.conf: OVERRIDE_CUEBOT, CUEBOT_GRPC_PORT, DEFAULT_FACILITY, RQD_TAGS, OVERRIDE_HOSTNAME, OVERRIDE_CORES. */
export function parseRqdConf(text: string): RqdConf {
  const values: Record<string, string> = {};
  let section = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const at = line.indexOf('=');
    if (section === 'Override' && at > 0) values[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  const num = (v: string | undefined): number | undefined =>
    v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
  return {
    ...(values.OVERRIDE_CUEBOT ? { cuebotHost: values.OVERRIDE_CUEBOT } : {}),
    ...(num(values.CUEBOT_GRPC_PORT) !== undefined ? { cuebotPort: num(values.CUEBOT_GRPC_PORT)! } : {}),
    ...(values.DEFAULT_FACILITY ? { facility: values.DEFAULT_FACILITY } : {}),
    ...(values.RQD_TAGS ? { tags: values.RQD_TAGS.split(/[\s,|]+/).filter(Boolean) } : {}),
    ...(values.OVERRIDE_HOSTNAME ? { hostname: values.OVERRIDE_HOSTNAME } : {}),
    ...(num(values.OVERRIDE_CORES) !== undefined ? { cores: num(values.OVERRIDE_CORES)! } : {}),
  };
}

/**
 * `rqd -c rqd.conf` of the testing farm: a `SimulatedRqdHost` named after the machine's
 * host name (`hostname`, or OVERRIDE_HOSTNAME), joining the Cuebot the conf names, until
 * SIGTERM/SIGINT, when it shuts down as RQD does.
 */
export async function testingRqdMain(argv: readonly string[]): Promise<void> {
  const { execFileSync } = await import('node:child_process');
  const at = argv.indexOf('-c');
  const file = at >= 0 ? argv[at + 1] : (process.env.RQD_CONFIG_FILE ?? '/etc/opencue/rqd.conf');
  if (!file) throw new Error('rqd: -c FILE needs a file');
  const conf = parseRqdConf(fs.readFileSync(file, 'utf8'));
  const name = conf.hostname ?? execFileSync('hostname', { encoding: 'utf8' }).trim();
  const host = await SimulatedRqdHost.start({
    name,
    cuebot: `${conf.cuebotHost ?? 'localhost'}:${conf.cuebotPort ?? 8443}`,
    ...(conf.cores !== undefined ? { cores: conf.cores } : {}),
    ...(conf.facility ? { facility: conf.facility } : {}),
    ...(conf.tags ? { tags: conf.tags } : {}),
    workDir: process.cwd(),
    reportIntervalMs: Number(process.env.SPILLWAY_RQD_REPORT_MS ?? 500),
  });
  process.stderr.write(`rqd (testing): host ${name} joined ${conf.cuebotHost}:${conf.cuebotPort}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => void host.shutdown().then(resolve, resolve);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
