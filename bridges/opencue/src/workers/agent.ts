/**
 * Worker burst in the OpenCue bridge: the RQD hosts of the worker-burst capacity groups it
 * serves (`workerGroups`) joined Cuebot from their instances' start-up. On a timer it tells
 * the service how Cuebot sees them (booked? open to booking? since when?) and carries out
 * what it answers:
 * - `drain`: lock the host (Cuebot books nothing new on it; its frames finish), so the
 *   service deletes the instance only once it is idle;
 * - `serve`: unlock it, if the agent was the one that locked it;
 * - `evicted`: its instance was evicted: kill the frames still booked there (Cuebot cannot
 *   reach the RQD, so they are stopped without counting as a retry) instead of waiting for
 *   Cuebot to give up on the host, then delete the host once nothing is booked on it;
 * - `remove`: its instance is gone: delete the host's record once nothing is booked on it.
 */
import {
  BurstClient,
  silentLogger,
  type Logger,
  type WorkerOrderInfo,
  type WorkerReportInput,
} from '@spillway/sdk';
import { readSecretFile } from '@spillway/sdk/config';
import { Episodes } from '@spillway/bridge-kit';
import { CuebotClient } from '../cuebot/client';
import type { CueHost, CueProc } from '../proto';

/** Options of the agent. */
export interface CloudWorkersOptions {
  /** `host:port` of Cuebot. */
  readonly cuebot: string;
  /** `host:port` of the Spillway service. */
  readonly service: string;
  /** File holding the service's bearer token. @default none */
  readonly tokenFile?: string;
  /** The worker-burst capacity groups whose hosts join this Cuebot. */
  readonly groups: readonly string[];
  /** How often the groups are reported. @default 5000 */
  readonly intervalMs?: number;
  /** The reporting source, for the service's logs. @default 'opencue' */
  readonly source?: string;
  readonly logger?: Logger;
}

/** The cloud workers' side of the OpenCue bridge. */
export class CloudWorkers {
  private readonly cuebot: CuebotClient;
  private readonly burst: BurstClient;
  private readonly log: Logger;
  private readonly episodes: Episodes;
  private readonly abort = new AbortController();
  /** Hosts the agent locked to drain them (only those are unlocked again). */
  private readonly lockedByUs = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Counters, for logs and tests. */
  readonly counters = { locked: 0, unlocked: 0, killedOnEviction: 0, deleted: 0 };

  constructor(private readonly options: CloudWorkersOptions) {
    this.log = options.logger ?? silentLogger;
    this.episodes = new Episodes(this.log);
    this.cuebot = new CuebotClient(options.cuebot, { callTimeoutMs: 10_000 });
    const token = options.tokenFile ? readSecretFile(options.tokenFile, 'tokenFile') : undefined;
    this.burst = new BurstClient(options.service, token ? { token } : {});
  }

  /** Starts reporting on the timer. */
  start(): this {
    const every = this.options.intervalMs ?? 5000;
    this.timer = setInterval(() => void this.cycle(), every);
    void this.cycle();
    return this;
  }

  /** One round over every group (skipped while the previous one runs). */
  cycle(): Promise<void> {
    if (this.running || this.abort.signal.aborted) return this.running ?? Promise.resolve();
    this.running = (async () => {
      for (const group of this.options.groups) {
        try {
          await this.runGroup(group);
          this.episodes.recovered(`workers:${group}`, 'worker-burst group reported again');
        } catch (err) {
          if (this.abort.signal.aborted) return;
          const e = err as Error & { code?: string };
          this.episodes.problem(
            `workers:${group}`,
            `${e.name}:${e.code ?? ''}`,
            'worker-burst group not reported',
            {
              group,
              error: e.message,
            },
          );
        }
      }
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  private get sig(): { abortSignal: AbortSignal } {
    return { abortSignal: this.abort.signal };
  }

  private async runGroup(group: string): Promise<void> {
    const nodes = await this.burst.capacity.nodes(group, this.sig);
    const names = nodes.flatMap((n) => (n.workerName ? [n.workerName] : []));
    const hosts = names.length > 0 ? await this.cuebot.getHosts({ hosts: names }, this.sig) : [];
    const byName = new Map(hosts.map((h) => [h.name, h]));
    const procs = new Map<string, CueProc[]>();
    const reports: WorkerReportInput[] = [];
    for (const h of hosts) {
      const booked = await this.cuebot.getProcs(h, this.sig);
      procs.set(h.name, booked);
      const since = Math.min(...booked.map((p) => p.dispatch_time).filter((t) => t > 0));
      reports.push({
        workerName: h.name,
        busy: booked.length > 0,
        acceptingWork: h.state === 'UP' && h.lock_state === 'OPEN',
        ...(Number.isFinite(since) ? { busySince: new Date(since * 1000) } : {}),
      });
    }
    const orders = await this.burst.capacity.reportWorkers(group, reports, {
      ...this.sig,
      source: this.options.source ?? 'opencue',
    });
    for (const order of orders) {
      const host = byName.get(order.workerName) ?? (await this.cuebot.findHost(order.workerName, this.sig));
      if (host) await this.carryOut(group, order, host, procs.get(host.name));
    }
  }

  private async carryOut(
    group: string,
    order: WorkerOrderInfo,
    host: CueHost,
    booked: readonly CueProc[] | undefined,
  ): Promise<void> {
    switch (order.disposition) {
      case 'drain':
        if (host.lock_state === 'OPEN') {
          await this.cuebot.lockHost(host, this.sig);
          this.lockedByUs.add(host.name);
          this.counters.locked += 1;
          this.log.info('cloud host draining: locked, its instance leaves once it is idle', {
            group,
            host: host.name,
            instance: order.nodeId,
          });
        }
        return;
      case 'serve':
        if (host.lock_state === 'LOCKED' && this.lockedByUs.has(host.name)) {
          await this.cuebot.unlockHost(host, this.sig);
          this.lockedByUs.delete(host.name);
          this.counters.unlocked += 1;
          this.log.info('cloud host kept: unlocked again', { group, host: host.name });
        }
        return;
      case 'evicted':
      case 'remove': {
        const still = booked ?? (await this.cuebot.getProcs(host, this.sig));
        if (still.length === 0) {
          await this.cuebot.deleteHost(host, this.sig);
          this.lockedByUs.delete(host.name);
          this.counters.deleted += 1;
          this.log.info('cloud host removed from Cuebot', { group, host: host.name, why: order.disposition });
          return;
        }
        // Frames still booked on a host whose instance is gone: stopped now rather than
        // when Cuebot gives up on the host (its RQD cannot answer: not a retry).
        for (const p of still) await this.killProc(group, host, p, order.disposition);
        return;
      }
    }
  }

  private async killProc(group: string, host: CueHost, proc: CueProc, why: string): Promise<void> {
    const job = await this.cuebot.findJob(proc.job_name, this.sig);
    if (!job) return;
    const [frame] = await this.cuebot.getFrames(job, { frames: [proc.frame_name] }, this.sig);
    if (!frame || frame.state !== 'RUNNING') return;
    await this.cuebot.killFrame(frame, {
      ...this.sig,
      reason: `spillway: the cloud host's instance is gone (${why})`,
    });
    if (why === 'evicted') this.counters.killedOnEviction += 1;
    this.log.warn('frame of a cloud host whose instance is gone stopped for requeue', {
      group,
      host: host.name,
      frame: proc.frame_name,
      job: proc.job_name,
    });
  }

  /** Stops the timer and closes the clients. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.abort.abort();
    await this.running?.catch(() => undefined);
    this.cuebot.close();
    this.burst.close();
  }
}
