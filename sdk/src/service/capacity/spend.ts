import * as fs from 'node:fs';
import { writeFileAtomic } from '../../state/atomic-file';

/** What the meter has counted. */
export interface SpendSnapshot {
  /** When metering began (the first start of the service on this data directory). */
  readonly since: Date;
  /** Everything every group has cost since then, in the budget's currency. */
  readonly total: number;
  /** By group (deleted groups stay in `total` only). */
  readonly byGroup: ReadonlyMap<string, number>;
  /** What the groups cost per hour now, as last observed. */
  readonly perHour: number;
  /** Worker burst: evictions and the render time they interrupted, by group. */
  readonly evictionsByGroup: ReadonlyMap<string, EvictedWork>;
}

/** Evictions of a group and the render work they interrupted (part of its spend, not added to it). */
export interface EvictedWork {
  readonly evictions: number;
  /** Render time of the frames the evictions interrupted. */
  readonly lostMs: number;
  /** What that time cost at the group's price. */
  readonly lostCost: number;
}

interface Rate {
  perHour: number;
  /** Batch pools and scale sets keep running (and billing) while the service is down; the local engine's nodes do not. */
  whileDown: boolean;
}

interface Stored {
  since: number;
  total: number;
  byGroup: Record<string, number>;
  lastAt: number;
  rates: Record<string, Rate>;
  /** Absent in files written before evictions were metered. */
  evictions?: Record<string, EvictedWork>;
}

/** Options of the meter. */
export interface SpendMeterOptions {
  /** Where the meter is kept across restarts (written atomically). @default none (in memory) */
  readonly file?: string;
  /** The clock. @default Date.now */
  readonly now?: () => number;
  /** Least time between two writes of the file while observing. @default 10000 */
  readonly saveEveryMs?: number;
}

/**
 * Spend so far: the integral of each group's cost per hour (its allocated nodes × its
 * prices) over time. The rate of a group changes only when it is observed (a listing, a
 * resize, a capacity event, the manager's periodic look); between observations the last
 * rate holds. After a restart the time the service was down is counted at the last rate
 * for groups whose nodes keep running without it (Batch, scale sets): Azure bills them.
 */
export class SpendMeter {
  private readonly state: Stored;
  private readonly now: () => number;
  private lastSavedAt = 0;

  constructor(private readonly options: SpendMeterOptions = {}) {
    this.now = options.now ?? Date.now;
    const at = this.now();
    let stored: Stored | undefined;
    if (options.file && fs.existsSync(options.file)) {
      stored = JSON.parse(fs.readFileSync(options.file, 'utf8')) as Stored;
    }
    this.state = stored ?? { since: at, total: 0, byGroup: {}, lastAt: at, rates: {} };
    // The service was down: only what keeps running without it went on costing.
    for (const [group, rate] of Object.entries(this.state.rates)) {
      if (!rate.whileDown) this.state.rates[group] = { ...rate, perHour: 0 };
    }
    this.accrue(at);
  }

  private accrue(at: number): void {
    const hours = Math.max(0, at - this.state.lastAt) / 3_600_000;
    for (const [group, rate] of Object.entries(this.state.rates)) {
      const spent = rate.perHour * hours;
      if (spent === 0) continue;
      this.state.byGroup[group] = (this.state.byGroup[group] ?? 0) + spent;
      this.state.total += spent;
    }
    this.state.lastAt = Math.max(this.state.lastAt, at);
  }

  /** A group's cost per hour from now on. */
  observe(group: string, perHour: number, whileDown: boolean): void {
    const at = this.now();
    this.accrue(at);
    const old = this.state.rates[group];
    this.state.rates[group] = { perHour, whileDown };
    if (!old || old.perHour !== perHour || at - this.lastSavedAt >= (this.options.saveEveryMs ?? 10_000)) {
      this.save();
    }
  }

  /** An eviction in a group, with the render time it interrupted and what that cost. */
  recordEviction(group: string, lostMs: number, lostCost: number): void {
    const all = (this.state.evictions ??= {});
    const was = all[group] ?? { evictions: 0, lostMs: 0, lostCost: 0 };
    all[group] = {
      evictions: was.evictions + 1,
      lostMs: was.lostMs + lostMs,
      lostCost: was.lostCost + lostCost,
    };
    this.save();
  }

  /** A deleted group: it costs nothing from now on; what it cost stays in the total. */
  forget(group: string): void {
    this.accrue(this.now());
    delete this.state.rates[group];
    delete this.state.byGroup[group];
    delete this.state.evictions?.[group];
    this.save();
  }

  /** What has been spent up to now. */
  snapshot(): SpendSnapshot {
    this.accrue(this.now());
    return {
      since: new Date(this.state.since),
      total: this.state.total,
      byGroup: new Map(Object.entries(this.state.byGroup)),
      perHour: Object.values(this.state.rates).reduce((sum, r) => sum + r.perHour, 0),
      evictionsByGroup: new Map(Object.entries(this.state.evictions ?? {})),
    };
  }

  /** Writes the meter to its file (if any). */
  save(): void {
    if (!this.options.file) return;
    this.accrue(this.now());
    this.lastSavedAt = this.now();
    // No fsync: the meter survives the process being killed; a power loss costs a few seconds of it.
    writeFileAtomic(this.options.file, JSON.stringify(this.state), { fsync: false });
  }
}
