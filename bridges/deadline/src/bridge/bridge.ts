/**
 * The Deadline bridge, offload mode: the composition of its parts and its two loops.
 *
 * - `poll.ts`: every `pollIntervalMs`, read the farm, report it, carry out the plan
 *   (suspend exactly the chosen queued tasks and submit them; recall).
 * - `assets.ts`: a job's scene and listed files synced before its first offload.
 * - `returns.ts`: a cloud frame's final state settles its task (outputs placed, then Complete;
 *   or back to the local farm).
 * - `reconcile.ts`: at start, the state, the service and Deadline brought in line.
 * - the frame watch: the bridge kit's `FrameEventFollower` (cursor in the state file).
 *
 * The poll and the watch never run at once (one lock), so a task is never settled while it
 * is being offloaded.
 * - `workers.ts`: worker burst: the cloud workers of `workerGroups` reported each poll, and
 *   drained, re-enabled, requeued on eviction and removed as the service answers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Episodes, FrameEventFollower, isTransient } from '@spillway/bridge-kit';
import {
  BurstClient,
  silentLogger,
  sleep,
  TERMINAL_FRAME_STATES,
  type BurstPlan,
  type Logger,
} from '@spillway/sdk';
import { readSecretFile } from '@spillway/sdk/config';
import { DeadlineClient } from '../webservice';
import { JobAssetSync } from './assets';
import type { BridgeConfig } from './config';
import { BridgeContext, type BridgeCounters } from './context';
import { PollCycle } from './poll';
import { reconcile } from './reconcile';
import { Settler } from './returns';
import { BridgeStateStore, taskIdOf } from './state';
import { WorkerBurstCycle } from './workers';

export { ASSETS_EXTRA_INFO_KEY } from './assets';
export { parseTaskFrames } from './poll';
export type { BridgeCounters } from './context';

/** Options of `DeadlineBridge.start`. */
export interface DeadlineBridgeOptions {
  readonly logger?: Logger;
  /** Stops the bridge. */
  readonly abortSignal?: AbortSignal;
  /** Start the poll loop (tests may drive `runCycle` themselves). @default true */
  readonly loop?: boolean;
}

/** The bridge. */
export class DeadlineBridge {
  private readonly ctx: BridgeContext;
  private readonly poll: PollCycle;
  private readonly settler: Settler;
  /** The worker-burst part of the poll (cloud workers of `workerGroups`). */
  readonly workerBurst: WorkerBurstCycle;
  private readonly abort = new AbortController();
  private lock: Promise<unknown> = Promise.resolve();
  private loopDone: Promise<void> = Promise.resolve();
  private watchDone: Promise<void> = Promise.resolve();
  /** Settles when the bridge stops; rejects when its frame watch failed for good. */
  stopped: Promise<void> = Promise.resolve();
  /** The `source` of every frame: `deadline:<name>`. */
  readonly source: string;

  private constructor(
    /** The configuration it runs with. */
    readonly config: BridgeConfig,
    options: DeadlineBridgeOptions,
  ) {
    const log = options.logger ?? silentLogger;
    this.source = `deadline:${config.name}`;
    const password = config.passwordFile ? readSecretFile(config.passwordFile, 'passwordFile') : undefined;
    const ca = config.caFile ? fs.readFileSync(config.caFile) : undefined;
    const deadline = new DeadlineClient(config.webservice, {
      ...(config.user !== undefined ? { user: config.user } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(ca ? { ca } : {}),
    });
    const token = config.tokenFile ? readSecretFile(config.tokenFile, 'tokenFile') : undefined;
    const burst = new BurstClient(config.service, token ? { token } : {});
    const state = new BridgeStateStore(path.join(config.stateDir, `deadline-${config.name}.json`));
    this.ctx = new BridgeContext(
      config,
      deadline,
      burst,
      state,
      log,
      new Episodes(log),
      this.abort.signal,
      this.source,
    );
    this.settler = new Settler(this.ctx);
    this.workerBurst = new WorkerBurstCycle(this.ctx);
    this.poll = new PollCycle(this.ctx, new JobAssetSync(this.ctx), this.settler, this.workerBurst);
    options.abortSignal?.addEventListener('abort', () => void this.close(), { once: true });
  }

  /** Starts the bridge: reconcile, then the frame watch and the poll loop. */
  static async start(config: BridgeConfig, options: DeadlineBridgeOptions = {}): Promise<DeadlineBridge> {
    const bridge = new DeadlineBridge(config, options);
    try {
      await bridge.exclusive(() => reconcile(bridge.ctx, bridge.settler));
    } catch (err) {
      await bridge.close();
      throw err;
    }
    bridge.watchDone = bridge.watch();
    if (options.loop ?? true) bridge.loopDone = bridge.loop();
    bridge.stopped = Promise.all([bridge.watchDone, bridge.loopDone]).then(() => undefined);
    bridge.stopped.catch(() => undefined);
    return bridge;
  }

  /** The Deadline client the bridge uses. */
  get deadlineClient(): DeadlineClient {
    return this.ctx.deadline;
  }

  /** Running totals since start. */
  get counters(): BridgeCounters {
    return this.ctx.counters;
  }

  /** The last plan the service answered. */
  get lastPlan(): BurstPlan | undefined {
    return this.poll.lastPlan;
  }

  /** Stops the loop and the watch, and closes the clients. */
  async close(): Promise<void> {
    if (this.abort.signal.aborted) return;
    this.abort.abort();
    await Promise.allSettled([this.loopDone, this.watchDone, this.lock]);
    this.ctx.burst.close();
    this.ctx.deadline.close();
  }

  /** One poll: read the farm, report it, act on the plan. */
  runCycle(): Promise<void> {
    return this.exclusive(() => this.poll.run());
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async loop(): Promise<void> {
    const { episodes } = this.ctx;
    while (!this.abort.signal.aborted) {
      try {
        await this.runCycle();
        episodes.recovered('cycle', 'poll cycle succeeds again');
      } catch (err) {
        if (this.abort.signal.aborted) break;
        const e = err as Error & { code?: string; status?: number; problem?: string };
        // One warning per episode: the same fault every poll is logged once, at its start.
        const kind = `${e.name}:${e.code ?? ''}:${e.status ?? ''}:${e.problem ?? ''}`;
        episodes.problem('cycle', kind, 'cycle failed; retrying every interval', {
          error: e.message,
        });
      }
      await sleep(this.config.pollIntervalMs, this.abort.signal);
    }
  }

  private watch(): Promise<void> {
    const { state } = this.ctx;
    return new FrameEventFollower({
      client: this.ctx.burst,
      source: this.source,
      cursor: () => state.current.cursor,
      saveCursor: (cursor) => state.update((s) => (s.cursor = cursor)),
      handle: (ev) =>
        this.exclusive(async () => {
          this.ctx.log.debug('frame event', {
            task: ev.key.sourceTaskId,
            state: ev.state,
            cursor: ev.cursor,
          });
          if (!TERMINAL_FRAME_STATES.has(ev.state)) return;
          await this.settler.settle(
            ev.key.sourceJobId,
            taskIdOf(ev.key.sourceTaskId),
            ev.state,
            ev.frameId,
            ev.message ?? '',
            ev.outputs,
          );
        }),
      isRetryable: isTransient,
      logger: this.ctx.log,
      abortSignal: this.abort.signal,
    }).run();
  }
}
