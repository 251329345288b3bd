/**
 * Prometheus metrics of the service (prom-client, in a registry of its own): frames by
 * state and source, nodes by group and state, offloads, recalls and evictions, what the
 * plan costs per hour, spend and budget left, frame-event latency, storage bytes and
 * backend call errors. Gauges are read from the domain when scraped; counters follow the
 * frame journal (so they count from the journal's start, across restarts) or are counted
 * where the thing happens (backend calls, storage transfers).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ComputeBackend, TaskEvent } from '../../compute/backend';
import type { AssetServiceServer, FetchOutputResponse } from '../../gen/spillway/v1/assets';
import type { FrameEvent } from '../../model/frames';
import type { FrameStore } from '../frames/store';
import type { CapacitySource } from './status';

/** Where the metrics read from. */
export interface MetricsSources {
  readonly store: FrameStore;
  readonly capacity: CapacitySource;
  /** The budget's currency when the capacity manager has no budget. @default 'USD' */
  readonly currency?: string;
  /** The budget cap per hour when the capacity manager has no budget (0: uncapped). @default 0 */
  readonly maxSpendPerHour?: number;
}

/** Options of the metrics. */
export interface ServiceMetricsOptions {
  /** Also export Node.js process metrics (`process_*`, `nodejs_*`). @default true */
  readonly processMetrics?: boolean;
}

/** Directions of storage transfers. */
export type StorageDirection = 'up' | 'down';

const FRAME_STATES = ['queued', 'running', 'succeeded', 'failed', 'recalled', 'cancelled'] as const;

/** Latency buckets, seconds: the journal's fsync and a poll interval or two. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The frame events whose latency is measured, by the backend task event that causes them. */
const CAUSED_BY: Readonly<Partial<Record<FrameEvent['type'], readonly TaskEvent['type'][]>>> = {
  started: ['started'],
  succeeded: ['completed'],
  failed: ['completed'],
  retrying: ['retrying', 'completed'],
  preempted: ['preempted'],
};

/** The frame id of a backend task id (`<frame>` or `<frame>-g<generation>`). */
function frameOfTask(taskId: string): string {
  return taskId.replace(/-g\d+$/, '');
}

/** The service's metrics. */
export class ServiceMetrics {
  /** The registry `/metrics` serves. */
  readonly registry = new Registry();
  private readonly offloaded: Counter<'source'>;
  private readonly recalled: Counter<'source'>;
  private readonly evictions: Counter<'source'>;
  private readonly latency: Histogram;
  private readonly storageBytes: Counter<'direction' | 'kind'>;
  private readonly backendErrors: Counter<'backend' | 'operation' | 'code'>;
  private readonly backendCalls: Counter<'backend' | 'operation'>;
  private cursor = 0;
  private sources: MetricsSources | undefined;
  private readonly unsubscribes: (() => void)[] = [];
  /** When the backend last reported something about a frame's task, by frame id. */
  private readonly taskEventAt = new Map<string, { type: TaskEvent['type']; at: number }>();

  /** The metrics, in a registry of their own; they read the domain once `attach`ed. */
  constructor(options: ServiceMetricsOptions = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    // The collectors read the domain through these: nothing until `attach`.
    const sources = (): MetricsSources | undefined => this.sources;
    const store = {
      listJobs: () => sources()?.store.listJobs() ?? [],
    };
    const capacity = {
      list: async () => (await sources()?.capacity.list()) ?? [],
    };

    new Gauge({
      name: 'spillway_frames',
      help: 'Cloud frames by state and source (the bridge or tool that submitted them).',
      labelNames: ['state', 'source'] as const,
      registers,
      collect() {
        this.reset();
        const bySource = new Map<string, Record<(typeof FRAME_STATES)[number], number>>();
        for (const j of store.listJobs()) {
          const c =
            bySource.get(j.spec.source) ??
            (Object.fromEntries(FRAME_STATES.map((s) => [s, 0])) as Record<
              (typeof FRAME_STATES)[number],
              number
            >);
          for (const s of FRAME_STATES) c[s] += j.counts[s];
          bySource.set(j.spec.source, c);
        }
        for (const [source, c] of bySource)
          for (const s of FRAME_STATES) this.set({ state: s, source }, c[s]);
      },
    });
    new Gauge({
      name: 'spillway_jobs',
      help: 'Jobs by state.',
      labelNames: ['state'] as const,
      registers,
      collect() {
        const counts = { active: 0, completed: 0, cancelled: 0 };
        for (const j of store.listJobs()) counts[j.state] += 1;
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    // A backend that fails to answer costs the scrape those gauges, not the whole scrape.
    const groupViews = async (): Promise<Awaited<ReturnType<CapacitySource['list']>>> =>
      capacity.list().catch(() => []);
    new Gauge({
      name: 'spillway_nodes',
      help: 'Nodes of each capacity group by state and priority (dedicated or spot).',
      labelNames: ['group', 'state', 'priority'] as const,
      registers,
      async collect() {
        this.reset();
        for (const v of await groupViews()) {
          for (const [state, c] of Object.entries(v.status?.nodeCounts ?? {})) {
            if (!c) continue;
            this.set({ group: v.spec.name, state, priority: 'dedicated' }, c.dedicated);
            this.set({ group: v.spec.name, state, priority: 'spot' }, c.spot);
          }
          // A group with no nodes still shows, at 0.
          if (Object.keys(v.status?.nodeCounts ?? {}).length === 0) {
            this.set({ group: v.spec.name, state: 'idle', priority: 'dedicated' }, 0);
            this.set({ group: v.spec.name, state: 'idle', priority: 'spot' }, 0);
          }
        }
      },
    });
    new Gauge({
      name: 'spillway_group_target_nodes',
      help: 'Target nodes of each capacity group, as the plan or a person set them.',
      labelNames: ['group', 'priority'] as const,
      registers,
      async collect() {
        this.reset();
        for (const v of await groupViews()) {
          this.set({ group: v.spec.name, priority: 'dedicated' }, v.status?.targetDedicatedNodes ?? 0);
          this.set({ group: v.spec.name, priority: 'spot' }, v.status?.targetSpotNodes ?? 0);
        }
      },
    });

    const budget = async () => {
      const own = sources()?.capacity;
      if (own?.budget) {
        try {
          return await own.budget();
        } catch {
          // A backend that does not answer: the figures the groups' listing still gives.
        }
      }
      const views = await groupViews();
      const at = (v: (typeof views)[number], d: number, s: number): number =>
        d * (v.spec.cost?.dedicatedPerNodeHour ?? 0) + s * (v.spec.cost?.spotPerNodeHour ?? 0);
      return {
        maxSpendPerHour: sources()?.maxSpendPerHour ?? 0,
        currency: sources()?.currency ?? 'USD',
        costPerHour: views.reduce((n, v) => n + v.costPerHour, 0),
        projectedCostPerHour: views.reduce(
          (n, v) => n + at(v, v.status?.targetDedicatedNodes ?? 0, v.status?.targetSpotNodes ?? 0),
          0,
        ),
        spentTotal: undefined,
      };
    };
    new Gauge({
      name: 'spillway_cost_per_hour',
      help: 'What the nodes allocated now cost per hour, in the budget currency.',
      labelNames: ['currency'] as const,
      registers,
      async collect() {
        const b = await budget();
        this.reset();
        this.set({ currency: b.currency }, b.costPerHour);
      },
    });
    new Gauge({
      name: 'spillway_plan_cost_per_hour',
      help: "What the capacity groups cost per hour at their targets (the plan's, within pins, maxima and budget).",
      labelNames: ['currency'] as const,
      registers,
      async collect() {
        const b = await budget();
        this.reset();
        this.set({ currency: b.currency }, b.projectedCostPerHour);
      },
    });
    new Gauge({
      name: 'spillway_budget_per_hour',
      help: 'The spend cap per hour (budget.maxSpendPerHour); +Inf when uncapped.',
      labelNames: ['currency'] as const,
      registers,
      async collect() {
        const b = await budget();
        this.reset();
        this.set({ currency: b.currency }, b.maxSpendPerHour > 0 ? b.maxSpendPerHour : Infinity);
      },
    });
    new Gauge({
      name: 'spillway_budget_left_per_hour',
      help: 'The spend cap per hour less what the groups cost at their targets; +Inf when uncapped.',
      labelNames: ['currency'] as const,
      registers,
      async collect() {
        const b = await budget();
        this.reset();
        this.set(
          { currency: b.currency },
          b.maxSpendPerHour > 0 ? b.maxSpendPerHour - b.projectedCostPerHour : Infinity,
        );
      },
    });
    let spentSeen = 0;
    new Counter({
      name: 'spillway_spend_total',
      help: 'What capacity has cost since the service began metering (node time x price), in the budget currency.',
      labelNames: ['currency'] as const,
      registers,
      async collect() {
        const b = await budget();
        const spent = b.spentTotal ?? 0;
        if (spent > spentSeen) this.inc({ currency: b.currency }, spent - spentSeen);
        else this.inc({ currency: b.currency }, 0);
        spentSeen = Math.max(spentSeen, spent);
      },
    });

    this.offloaded = new Counter({
      name: 'spillway_frames_offloaded_total',
      help: 'Frames offloaded to the cloud (accepted by SubmitFrames), by source.',
      labelNames: ['source'] as const,
      registers,
    });
    this.recalled = new Counter({
      name: 'spillway_frames_recalled_total',
      help: 'Frames recalled to the local farm before they started in the cloud, by source.',
      labelNames: ['source'] as const,
      registers,
    });
    this.evictions = new Counter({
      name: 'spillway_frame_evictions_total',
      help: 'Frame attempts lost to spot eviction (the frame was queued again), by source.',
      labelNames: ['source'] as const,
      registers,
    });
    this.latency = new Histogram({
      name: 'spillway_frame_event_latency_seconds',
      help: 'From the backend reporting a task change (started, completed, preempted, retrying) to the frame event it causes being durable and sent to watchers.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.storageBytes = new Counter({
      name: 'spillway_storage_bytes_total',
      help: 'Bytes moved to (up) and from (down) Blob Storage: frame outputs and logs the nodes uploaded, assets uploaded and outputs and logs read through the service.',
      labelNames: ['direction', 'kind'] as const,
      registers,
    });
    this.backendCalls = new Counter({
      name: 'spillway_backend_calls_total',
      help: 'Calls to the compute backends (Azure Batch, scale sets, the local engine), by operation.',
      labelNames: ['backend', 'operation'] as const,
      registers,
    });
    this.backendErrors = new Counter({
      name: 'spillway_backend_errors_total',
      help: 'Compute backend calls that failed (after their retries), by operation and error code.',
      labelNames: ['backend', 'operation', 'code'] as const,
      registers,
    });
    for (const [direction, kind] of [
      ['up', 'outputs'],
      ['up', 'assets'],
      ['down', 'outputs'],
      ['down', 'logs'],
    ] as const) {
      this.storageBytes.inc({ direction, kind }, 0);
    }
  }

  /**
   * Reads the domain from now on: gauges at each scrape, and the counters that follow the
   * frame journal (everything recorded so far, then each new event).
   */
  attach(sources: MetricsSources): void {
    this.sources = sources;
    this.follow();
    this.unsubscribes.push(sources.store.onEvents(() => this.follow()));
  }

  /** Counts journal events not yet counted. */
  private follow(): void {
    const store = this.sources?.store;
    if (!store) return;
    for (;;) {
      const { events, scannedTo } = store.eventsAfter(this.cursor, {}, 1000);
      this.cursor = scannedTo;
      for (const e of events) this.count(e);
      if (events.length < 1000) return;
    }
  }

  private count(e: FrameEvent): void {
    const source = e.key.source;
    if (e.type === 'queued') this.offloaded.inc({ source });
    else if (e.type === 'recalled') this.recalled.inc({ source });
    else if (e.type === 'preempted') this.evictions.inc({ source });
    if (e.type === 'succeeded' && e.outputs) {
      const bytes = e.outputs.reduce((n, o) => n + o.sizeBytes, 0);
      this.storageBytes.inc({ direction: 'up', kind: 'outputs' }, bytes);
    }
    const cause = this.taskEventAt.get(e.frameId);
    if (cause && CAUSED_BY[e.type]?.includes(cause.type)) {
      this.latency.observe(Math.max(0, e.time.getTime() - cause.at) / 1000);
      this.taskEventAt.delete(e.frameId);
    }
  }

  /** Measures frame-event latency from this backend's task events. */
  watchTaskEvents(backend: Pick<ComputeBackend, 'onTaskEvent'>): void {
    this.unsubscribes.push(
      backend.onTaskEvent((e) => {
        this.taskEventAt.set(frameOfTask(e.task.taskId), { type: e.type, at: e.time.getTime() });
        if (this.taskEventAt.size > 100_000) this.taskEventAt.clear(); // events the service ignored (stale attempts)
      }),
    );
  }

  /** Counts bytes moved to or from storage. */
  countStorage(direction: StorageDirection, kind: string, bytes: number): void {
    if (bytes > 0) this.storageBytes.inc({ direction, kind }, bytes);
  }

  /**
   * The AssetService's handlers, with the bytes they move counted: content uploaded (up,
   * `assets`: what was stored, not what was already there) and outputs fetched (down,
   * `outputs`).
   */
  meterAssetHandlers(handlers: AssetServiceServer): AssetServiceServer {
    const bytes = this.storageBytes;
    return {
      ...handlers,
      uploadContent: (call, callback) =>
        handlers.uploadContent(call, (err, res, ...rest) => {
          if (!err && res) bytes.inc({ direction: 'up', kind: 'assets' }, Number(res.bytesStored) || 0);
          callback(err, res, ...rest);
        }),
      fetchOutput: (call) => {
        const write = call.write.bind(call) as (message: FetchOutputResponse, ...rest: unknown[]) => boolean;
        call.write = ((message: FetchOutputResponse, ...rest: unknown[]) => {
          if (message.payload?.$case === 'chunk') {
            bytes.inc({ direction: 'down', kind: 'outputs' }, message.payload.value.length);
          }
          return write(message, ...rest);
        }) as typeof call.write;
        handlers.fetchOutput(call);
      },
    };
  }

  /**
   * The backend, with every promise-returning call counted and its failures counted by
   * error code (`ComputeError` codes: `TaskExists`, `ServerBusy`, `NetworkError`...).
   */
  instrumentBackend<T extends object>(backend: T, kind: string): T {
    const calls = this.backendCalls;
    const errors = this.backendErrors;
    return new Proxy(backend, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function' || typeof property !== 'string') return value;
        if (property.startsWith('on') || property === 'close') return value.bind(target);
        return (...args: unknown[]) => {
          const result = (value as (...a: unknown[]) => unknown).apply(target, args);
          if (!(result instanceof Promise)) return result;
          calls.inc({ backend: kind, operation: property });
          return result.catch((err: unknown) => {
            const code = (err as { code?: unknown }).code;
            errors.inc({
              backend: kind,
              operation: property,
              code:
                typeof code === 'string' || typeof code === 'number'
                  ? String(code)
                  : ((err as Error)?.name ?? 'Error'),
            });
            throw err;
          });
        };
      },
    });
  }

  /** The text `/metrics` serves. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** Stops following the journal and the backends. */
  close(): void {
    for (const u of this.unsubscribes) u();
    this.unsubscribes.length = 0;
  }
}
