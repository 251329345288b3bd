/**
 * The cost ledger: what capacity and frames cost over any window (`spillway cost --since`).
 *
 * It keeps, in a journal beside the frame journal (`state/cost.journal`), what the frame
 * journal does not: each capacity group's allocated nodes (dedicated and spot) and prices
 * from each moment they changed, the priority of every node it saw, and every spot eviction.
 * A report integrates node time and spend per group over the window from those, and reads
 * the frame journal for the jobs: each attempt's run time (started to the event that ended
 * it), the cost the service priced it at, and the attempts that evictions took.
 */
import * as path from 'node:path';
import type { CapacityEvent, ComputeNode, GroupStatus } from '../../compute/backend';
import type { CostReport, GroupCost, JobCost } from '../../model/cost';
import type { FrameEvent } from '../../model/frames';
import type { Logger } from '../../logging';
import { Journal } from '../../state/journal';
import type { FrameStore } from '../frames/store';

/** What the ledger needs of the capacity manager. */
export interface LedgerCapacity {
  list(options?: { abortSignal?: AbortSignal }): Promise<
    readonly {
      readonly spec: {
        readonly name: string;
        readonly taskSlotsPerNode: number;
        readonly backend?: number;
        readonly cost?:
          { readonly dedicatedPerNodeHour: number; readonly spotPerNodeHour: number } | undefined;
      };
      readonly status: GroupStatus | undefined;
    }[]
  >;
  listNodes(group: string, options?: { abortSignal?: AbortSignal }): Promise<readonly ComputeNode[]>;
  eventsAfter(afterSeq: number): readonly (CapacityEvent & { readonly seq: number })[];
  readonly lastSeq: number;
  onEvents(listener: () => void): () => void;
  /**
   * Worker burst: the render work each eviction interrupted (the render manager's frames run on
   * the group's workers, not in the frame journal). @default none
   */
  onEvictedWork?(
    listener: (work: { group: string; at: Date; lostMs: number; lostCost: number }) => void,
  ): () => void;
}

type Record_ =
  /** From `at` on, the group holds these nodes at these prices (per node hour). */
  | { t: 'rate'; at: number; group: string; d: number; s: number; dp: number; sp: number; slots: number }
  /** A node's priority, when first seen. */
  | { t: 'node'; group: string; node: string; p: 'dedicated' | 'spot' }
  /** A spot node was evicted. */
  | { t: 'evict'; at: number; group: string; node: string }
  /** Worker burst: an eviction interrupted `ms` of a worker's render, which cost `cost`. */
  | { t: 'lost'; at: number; group: string; ms: number; cost: number };

/** Options of the ledger. */
export interface CostLedgerOptions {
  /** The state directory; the journal is `cost.journal` in it. */
  readonly dir: string;
  /** The capacity group of jobs that name none. @default 'default' */
  readonly defaultGroup?: string;
  /** The budget's currency. @default 'USD' */
  readonly currency?: string;
  /** How often the groups are looked at between capacity events. @default 10000 */
  readonly sampleMs?: number;
  readonly logger?: Logger;
}

const HOUR_MS = 3_600_000;

/** A report part while it is added up. */
type Tally<T> = { -readonly [K in keyof T]: T[K] extends object ? Tally<T[K]> : T[K] };

interface Rate {
  at: number;
  d: number;
  s: number;
  dp: number;
  sp: number;
  slots: number;
}

function noHours(): { dedicated: number; spot: number; unknown: number } {
  return { dedicated: 0, spot: 0, unknown: 0 };
}

function noEvictions(): { nodes: number; lostAttempts: number; lostNodeHours: number; lostCost: number } {
  return { nodes: 0, lostAttempts: 0, lostNodeHours: 0, lostCost: 0 };
}

/** Events that end a running attempt. */
const ENDS_ATTEMPT = new Set<FrameEvent['type']>([
  'succeeded',
  'failed',
  'preempted',
  'retrying',
  'recalled',
  'cancelled',
]);

/** The cost ledger (see the module's comment). */
export class CostLedger {
  private readonly journal: Journal<Record_>;
  private readonly rates = new Map<string, Rate[]>();
  private readonly priorities = new Map<string, 'dedicated' | 'spot'>();
  private readonly evictions: { at: number; group: string; node: string }[] = [];
  private readonly lostWork: { at: number; group: string; ms: number; cost: number }[] = [];
  private unsubscribeLost: (() => void) | undefined;
  private readonly since: number;
  private capacitySeq: number;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private sampling: Promise<void> | undefined;
  private again = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly capacity: LedgerCapacity,
    private readonly store: FrameStore,
    private readonly options: CostLedgerOptions,
  ) {
    const { journal, records } = Journal.open<Record_>(path.join(options.dir, 'cost.journal'));
    this.journal = journal;
    let first: number | undefined;
    for (const r of records) {
      if (r.t === 'rate') {
        first ??= r.at;
        this.pushRate(r.group, r);
      } else if (r.t === 'node') this.priorities.set(`${r.group}/${r.node}`, r.p);
      else if (r.t === 'lost') {
        first ??= r.at;
        this.lostWork.push(r);
      } else {
        first ??= r.at;
        this.evictions.push(r);
      }
    }
    this.since = first ?? Date.now();
    this.capacitySeq = capacity.lastSeq;
  }

  private pushRate(group: string, r: Rate): void {
    const list = this.rates.get(group) ?? [];
    list.push({ at: r.at, d: r.d, s: r.s, dp: r.dp, sp: r.sp, slots: r.slots });
    this.rates.set(group, list);
  }

  /** Starts following capacity: a look now, at every capacity event, and every `sampleMs`. */
  async start(): Promise<void> {
    this.unsubscribe = this.capacity.onEvents(() => this.sample());
    this.unsubscribeLost = this.capacity.onEvictedWork?.((work) => {
      const r = {
        t: 'lost' as const,
        at: work.at.getTime(),
        group: work.group,
        ms: work.lostMs,
        cost: work.lostCost,
      };
      this.lostWork.push(r);
      void this.journal.append(r).catch((err: unknown) =>
        this.options.logger?.warn('cost ledger: recording lost work failed', {
          error: err instanceof Error ? err.message : String(err),
        }),
      );
    });
    const every = this.options.sampleMs ?? 10_000;
    if (every > 0) {
      this.timer = setInterval(() => this.sample(), every);
      this.timer.unref();
    }
    await this.sample();
  }

  /** Looks at every group (one look at a time; a request during a look runs one more after it). */
  sample(): Promise<void> {
    if (this.sampling) {
      this.again = true;
      return this.sampling;
    }
    this.sampling = (async () => {
      do {
        this.again = false;
        try {
          await this.look();
        } catch (err) {
          if (!this.abort.signal.aborted) {
            this.options.logger?.debug('cost ledger: looking at capacity failed', {
              error: err instanceof Error ? err.message : String(err),
            });
          }
        }
      } while (this.again && !this.abort.signal.aborted);
    })().finally(() => (this.sampling = undefined));
    return this.sampling;
  }

  private async look(): Promise<void> {
    const at = Date.now();
    const records: Record_[] = [];
    for (const e of this.capacity.eventsAfter(this.capacitySeq)) {
      this.capacitySeq = Math.max(this.capacitySeq, e.seq);
      if (e.type === 'nodePreempted' && e.nodeId) {
        const r = { t: 'evict' as const, at: e.time.getTime(), group: e.group, node: e.nodeId };
        this.evictions.push(r);
        records.push(r);
        this.learn(records, e.group, e.nodeId, 'spot');
      }
    }
    const signal = { abortSignal: this.abort.signal };
    for (const v of await this.capacity.list(signal)) {
      const group = v.spec.name;
      const d = v.status?.currentDedicatedNodes ?? 0;
      const s = v.status?.currentSpotNodes ?? 0;
      const dp = v.spec.cost?.dedicatedPerNodeHour ?? 0;
      const sp = v.spec.cost?.spotPerNodeHour ?? 0;
      const slots = v.spec.taskSlotsPerNode || 1;
      const last = this.rates.get(group)?.at(-1);
      if (!last || last.d !== d || last.s !== s || last.dp !== dp || last.sp !== sp || last.slots !== slots) {
        const r = { t: 'rate' as const, at, group, d, s, dp, sp, slots };
        this.pushRate(group, r);
        records.push(r);
      }
      if (d + s > 0) {
        for (const n of await this.capacity.listNodes(group, signal))
          this.learn(records, group, n.id, n.priority);
      }
    }
    await this.journal.append(...records);
  }

  private learn(records: Record_[], group: string, node: string, p: 'dedicated' | 'spot'): void {
    const key = `${group}/${node}`;
    if (this.priorities.has(key)) return;
    this.priorities.set(key, p);
    records.push({ t: 'node', group, node, p });
  }

  /** What capacity and frames cost from `since` (default: since metering began) to now. */
  async report(options: { since?: Date } = {}): Promise<CostReport> {
    await this.sample();
    const until = Date.now();
    const since = Math.max(options.since?.getTime() ?? this.since, 0);
    const defaultGroup = this.options.defaultGroup ?? 'default';

    const groups = new Map<string, Tally<GroupCost>>();
    const groupOf = (name: string): Tally<GroupCost> => {
      let g = groups.get(name);
      if (!g) {
        g = {
          capacityGroup: name,
          nodeHours: noHours(),
          evictions: noEvictions(),
          spend: 0,
          cloudFrames: 0,
          costPerCloudFrame: 0,
        };
        groups.set(name, g);
      }
      return g;
    };
    // Node time and spend: each rate holds from its time to the next one's (or now).
    for (const [name, list] of this.rates) {
      const g = groupOf(name);
      list.forEach((r, i) => {
        const from = Math.max(r.at, since);
        const to = Math.min(list[i + 1]?.at ?? until, until);
        if (to <= from) return;
        const hours = (to - from) / HOUR_MS;
        g.nodeHours.dedicated += r.d * hours;
        g.nodeHours.spot += r.s * hours;
        g.spend += hours * (r.d * r.dp + r.s * r.sp);
      });
    }
    const slotsOf = (group: string): number => this.rates.get(group)?.at(-1)?.slots ?? 1;
    const evictedNodes = new Map<string, Set<string>>();
    const evicted = (group: string, node: string): void => {
      const set = evictedNodes.get(group) ?? new Set<string>();
      set.add(node);
      evictedNodes.set(group, set);
    };
    for (const e of this.evictions) if (e.at >= since && e.at <= until) evicted(e.group, e.node);
    // Worker burst: the renders evictions interrupted on the group's workers.
    for (const l of this.lostWork) {
      if (l.at < since || l.at > until) continue;
      const ev = groupOf(l.group).evictions;
      ev.lostAttempts += 1;
      ev.lostNodeHours += l.ms / HOUR_MS;
      ev.lostCost += l.cost;
    }

    // Jobs, from the frame journal.
    const jobs = new Map<string, Tally<JobCost> & { nodes: Set<string> }>();
    const jobOf = (jobId: string): Tally<JobCost> & { nodes: Set<string> } => {
      let j = jobs.get(jobId);
      if (!j) {
        const spec = this.store.getJob(jobId)?.spec;
        j = {
          jobId,
          name: spec?.name ?? spec?.sourceJobId ?? jobId,
          source: spec?.source ?? '',
          sourceJobId: spec?.sourceJobId ?? '',
          capacityGroup: spec?.capacityGroup ?? defaultGroup,
          nodeHours: noHours(),
          evictions: noEvictions(),
          spend: 0,
          cloudFrames: 0,
          failedFrames: 0,
          recalledFrames: 0,
          costPerCloudFrame: 0,
          nodes: new Set<string>(),
        };
        jobs.set(jobId, j);
      }
      return j;
    };
    const open = new Map<string, { at: number; node: string | undefined }>();
    const account = (e: FrameEvent, attempt: { at: number; node: string | undefined } | undefined): void => {
      const end = e.time.getTime();
      if (end < since || end > until) return;
      const j = jobOf(e.jobId);
      const g = groupOf(j.capacityGroup);
      const runHours = attempt ? Math.max(0, end - Math.max(attempt.at, since)) / HOUR_MS : 0;
      const nodeHours = runHours / slotsOf(j.capacityGroup);
      const p = attempt?.node ? this.priorities.get(`${j.capacityGroup}/${attempt.node}`) : undefined;
      j.nodeHours[p ?? 'unknown'] += nodeHours;
      j.spend += e.cost ?? 0;
      if (e.type === 'preempted') {
        for (const ev of [j.evictions, g.evictions]) {
          ev.lostAttempts += 1;
          ev.lostNodeHours += nodeHours;
          ev.lostCost += e.cost ?? 0;
        }
        const node = e.nodeId ?? attempt?.node;
        if (node) {
          j.nodes.add(node);
          evicted(j.capacityGroup, node);
        }
      }
    };
    let cursor = 0;
    for (;;) {
      const { events, scannedTo } = this.store.eventsAfter(cursor, {}, 10_000);
      cursor = scannedTo;
      for (const e of events) {
        if (e.type === 'started') {
          const previous = open.get(e.frameId);
          if (previous) account(e, previous); // a new attempt ends the one the service never saw end
          open.set(e.frameId, { at: e.time.getTime(), node: e.nodeId });
          continue;
        }
        if (ENDS_ATTEMPT.has(e.type)) {
          account(e, open.get(e.frameId));
          open.delete(e.frameId);
        }
        const at = e.time.getTime();
        if (at < since || at > until) continue;
        if (e.type === 'succeeded') {
          const j = jobOf(e.jobId);
          j.cloudFrames += 1;
          groupOf(j.capacityGroup).cloudFrames += 1;
        } else if (e.type === 'failed') jobOf(e.jobId).failedFrames += 1;
        else if (e.type === 'recalled') jobOf(e.jobId).recalledFrames += 1;
      }
      if (events.length === 0 || scannedTo >= this.store.lastSeq) break;
    }
    // Attempts still running: their node time so far (they are priced when they end).
    for (const [frameId, attempt] of open) {
      const frame = this.store.getFrame(frameId);
      if (!frame) continue;
      const j = jobOf(frame.jobId);
      const hours = Math.max(0, until - Math.max(attempt.at, since)) / HOUR_MS / slotsOf(j.capacityGroup);
      const p = attempt.node ? this.priorities.get(`${j.capacityGroup}/${attempt.node}`) : undefined;
      j.nodeHours[p ?? 'unknown'] += hours;
    }
    for (const [name, nodes] of evictedNodes) groupOf(name).evictions.nodes = nodes.size;

    const perFrame = (spend: number, frames: number): number => (frames > 0 ? spend / frames : 0);
    const groupList = [...groups.values()]
      .map((g) => ({ ...g, costPerCloudFrame: perFrame(g.spend, g.cloudFrames) }))
      .sort((a, b) => a.capacityGroup.localeCompare(b.capacityGroup));
    const jobList = [...jobs.values()]
      .map(({ nodes, ...j }) => ({
        ...j,
        evictions: { ...j.evictions, nodes: nodes.size },
        costPerCloudFrame: perFrame(j.spend, j.cloudFrames),
      }))
      .sort((a, b) => b.spend - a.spend || a.jobId.localeCompare(b.jobId));
    const sum = (f: (g: (typeof groupList)[number]) => number): number =>
      groupList.reduce((n, g) => n + f(g), 0);
    const spend = sum((g) => g.spend);
    const cloudFrames = sum((g) => g.cloudFrames);
    return {
      since: new Date(since),
      until: new Date(until),
      currency: this.options.currency ?? 'USD',
      groups: groupList,
      jobs: jobList,
      nodeHours: {
        dedicated: sum((g) => g.nodeHours.dedicated),
        spot: sum((g) => g.nodeHours.spot),
        unknown: sum((g) => g.nodeHours.unknown),
      },
      evictions: {
        nodes: sum((g) => g.evictions.nodes),
        lostAttempts: sum((g) => g.evictions.lostAttempts),
        lostNodeHours: sum((g) => g.evictions.lostNodeHours),
        lostCost: sum((g) => g.evictions.lostCost),
      },
      spend,
      cloudFrames,
      costPerCloudFrame: perFrame(spend, cloudFrames),
    };
  }

  /**
   * Stops following capacity. Groups of the embedded engine hold no nodes once the service
   * is gone (Batch pools and scale sets keep theirs, and Azure bills them): their rate drops
   * to nothing now.
   */
  async close(localGroups: readonly string[] = []): Promise<void> {
    this.abort.abort();
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    this.unsubscribeLost?.();
    await this.sampling;
    const at = Date.now();
    const records: Record_[] = [];
    for (const group of localGroups) {
      const last = this.rates.get(group)?.at(-1);
      if (last && last.d + last.s > 0)
        records.push({ t: 'rate', at, group, d: 0, s: 0, dp: last.dp, sp: last.sp, slots: last.slots });
    }
    await this.journal.append(...records).catch(() => undefined);
    await this.journal.close();
  }
}
