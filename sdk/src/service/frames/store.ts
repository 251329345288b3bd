import { createHash } from 'node:crypto';
import * as path from 'node:path';
import {
  TERMINAL_FRAME_STATES,
  type Frame,
  type FrameCounts,
  type FrameEvent,
  type FrameEventType,
  type FrameKey,
  type FrameSpec,
  type FrameState,
  type FrameSubmission,
  type Job,
  type JobSpec,
  type OutputFile,
} from '../../model/frames';
import { Journal } from '../../state/journal';
import { dropUndefined } from '../../model/defined';

/** What a state change carries besides its type and state. */
export interface FrameChange {
  readonly type: FrameEventType;
  readonly state: FrameState;
  readonly attempt?: number;
  readonly nodeId?: string;
  readonly exitCode?: number;
  readonly message?: string;
  readonly outputs?: readonly OutputFile[];
  readonly cost?: number;
}

/**
 * Prices a frame's run time. A frame's cost is the sum over its attempts of
 * `run time × slotPricePerHour`: the node-time × price of its group, apportioned by slot
 * time (a node with 4 slots costs each running frame a quarter of its price).
 */
export interface FramePricing {
  /** What one task slot of `nodeId` in the group costs per hour (the job's group; undefined: the default group). */
  slotPricePerHour(capacityGroup: string | undefined, nodeId: string | undefined): Promise<number>;
}

/** Options of `FrameStore.open`. */
export interface FrameStoreOptions {
  /** Prices run time into frame and job cost. @default none (cost stays 0) */
  readonly pricing?: FramePricing;
}

/** Filter of an event query. */
export interface EventFilter {
  readonly jobId?: string;
  readonly source?: string;
}

type JournalRecord =
  | { t: 'job'; jobId: string; spec: JobSpecJson; at: number }
  | { t: 'frame'; frameId: string; jobId: string; key: FrameKey; spec: FrameSpec; at: number }
  | { t: 'event'; seq: number; frameId: string; at: number; change: FrameChange }
  | { t: 'dispatched'; frameIds: string[]; attempt: number }
  | { t: 'cancel'; jobId: string; at: number };

type JobSpecJson = Omit<JobSpec, 'deadline'> & { deadline?: number };

interface FrameRecord {
  frameId: string;
  jobId: string;
  key: FrameKey;
  spec: FrameSpec;
  state: FrameState;
  attempts: number;
  preemptions: number;
  nodeId?: string;
  exitCode?: number;
  message?: string;
  submittedAt: number;
  startedAt?: number;
  finishedAt?: number;
  outputs: readonly OutputFile[];
  cost: number;
  /** The attempt generation last handed to the backend (0: never). */
  dispatched: number;
  /** The highest generation that must never be reused (its task was ended by a recall). */
  burned: number;
}

interface JobRecord {
  jobId: string;
  spec: JobSpec;
  createdAt: number;
  updatedAt: number;
  cancelled: boolean;
  frameIds: string[];
  /** Kept as frames change, so a job's view costs nothing however many frames it has. */
  counts: FrameCounts;
  cost: number;
}

/** The bucket of FrameCounts a state counts in. */
function bucketOf(state: FrameState): keyof FrameCounts {
  return state === 'preparing' || state === 'running' ? 'running' : state;
}

/** Deterministic ids, so a key always maps to the same frame and backend task. */
export function jobIdOf(source: string, sourceJobId: string): string {
  return 'j-' + createHash('sha256').update(`${source}\0${sourceJobId}`).digest('hex').slice(0, 20);
}

export function frameIdOf(key: FrameKey): string {
  return (
    'f-' +
    createHash('sha256')
      .update(`${key.source}\0${key.sourceJobId}\0${key.sourceTaskId}`)
      .digest('hex')
      .slice(0, 24)
  );
}

const keyString = (k: FrameKey): string => `${k.source}\0${k.sourceJobId}\0${k.sourceTaskId}`;

/**
 * The service's durable record of jobs, frames and frame events. Every change is in the
 * journal before anyone is told of it: a watcher never sees an event that a crash could
 * take back, and a restarted service resumes every cursor exactly.
 */
export class FrameStore {
  private readonly jobs = new Map<string, JobRecord>();
  private readonly frames = new Map<string, FrameRecord>();
  private readonly byKey = new Map<string, string>();
  /** events[i] has seq i + 1. */
  private readonly events: FrameEvent[] = [];
  private durableSeq = 0;
  private readonly listeners = new Set<() => void>();

  private constructor(
    private readonly journal: Journal<JournalRecord>,
    private readonly pricing: FramePricing | undefined,
  ) {}

  /** Opens the store kept in `dir` (created if needed), replaying its journal. */
  static open(dir: string, options: FrameStoreOptions = {}): FrameStore {
    const { journal, records } = Journal.open<JournalRecord>(path.join(dir, 'frames.journal'));
    const store = new FrameStore(journal, options.pricing);
    for (const r of records) store.replay(r);
    store.durableSeq = store.events.length;
    return store;
  }

  private replay(r: JournalRecord): void {
    switch (r.t) {
      case 'job':
        this.addJob(r.jobId, reviveSpec(r.spec), r.at);
        break;
      case 'frame':
        this.addFrame(r.frameId, r.jobId, r.key, r.spec, r.at);
        break;
      case 'event':
        this.applyChange(r.frameId, r.change, r.at, r.seq);
        break;
      case 'dispatched':
        for (const id of r.frameIds) {
          const f = this.frames.get(id);
          if (f) f.dispatched = r.attempt;
        }
        break;
      case 'cancel': {
        const j = this.jobs.get(r.jobId);
        if (j) j.cancelled = true;
        break;
      }
    }
  }

  private addJob(jobId: string, spec: JobSpec, at: number): JobRecord {
    const job: JobRecord = {
      jobId,
      spec,
      createdAt: at,
      updatedAt: at,
      cancelled: false,
      frameIds: [],
      counts: { queued: 0, running: 0, succeeded: 0, failed: 0, recalled: 0, cancelled: 0 },
      cost: 0,
    };
    this.jobs.set(jobId, job);
    return job;
  }

  private addFrame(frameId: string, jobId: string, key: FrameKey, spec: FrameSpec, at: number): FrameRecord {
    const frame: FrameRecord = {
      frameId,
      jobId,
      key,
      spec,
      state: 'queued',
      attempts: 0,
      preemptions: 0,
      submittedAt: at,
      outputs: [],
      cost: 0,
      dispatched: 0,
      burned: 0,
    };
    this.frames.set(frameId, frame);
    this.byKey.set(keyString(key), frameId);
    const job = this.jobs.get(jobId);
    if (job) {
      job.frameIds.push(frameId);
      job.counts.queued++;
    }
    return frame;
  }

  private applyChange(frameId: string, change: FrameChange, at: number, seq: number): FrameEvent {
    const f = this.frames.get(frameId)!;
    const job = this.jobs.get(f.jobId);
    if (job) {
      job.counts[bucketOf(f.state)]--;
      job.counts[bucketOf(change.state)]++;
      job.updatedAt = at;
      if (change.cost !== undefined) job.cost += change.cost;
    }
    f.state = change.state;
    if (change.type === 'started') {
      f.attempts = change.attempt ?? f.attempts + 1;
      f.startedAt = at;
    }
    if (change.type === 'preempted') f.preemptions += 1;
    if (change.type === 'recalled') f.burned = f.dispatched;
    if (change.nodeId !== undefined) f.nodeId = change.nodeId;
    if (change.exitCode !== undefined) f.exitCode = change.exitCode;
    if (change.message !== undefined) f.message = change.message;
    if (change.outputs !== undefined) f.outputs = change.outputs;
    if (change.cost !== undefined) f.cost += change.cost;
    if (TERMINAL_FRAME_STATES.has(change.state)) f.finishedAt = at;
    const event: FrameEvent = dropUndefined({
      cursor: String(seq),
      time: new Date(at),
      type: change.type,
      key: f.key,
      frameId,
      jobId: f.jobId,
      state: change.state,
      attempt: f.attempts,
      nodeId: change.nodeId,
      exitCode: change.exitCode,
      message: change.message,
      outputs: change.outputs,
      cost: change.cost,
    });
    this.events[seq - 1] = event;
    return event;
  }

  /**
   * Creates the job if new and the frames not yet known; known frames are reported with
   * `created: false` and left alone. Resolves once everything is durable.
   */
  async submit(
    spec: JobSpec,
    frames: readonly FrameSpec[],
  ): Promise<{ jobId: string; frames: FrameSubmission[] }> {
    const now = Date.now();
    const jobId = jobIdOf(spec.source, spec.sourceJobId);
    const records: JournalRecord[] = [];
    let job = this.jobs.get(jobId);
    if (!job) {
      job = this.addJob(jobId, spec, now);
      records.push({ t: 'job', jobId, spec: specJson(spec), at: now });
    }
    const results: FrameSubmission[] = [];
    for (const fs of frames) {
      const key: FrameKey = {
        source: spec.source,
        sourceJobId: spec.sourceJobId,
        sourceTaskId: fs.sourceTaskId,
      };
      const existing = this.byKey.get(keyString(key));
      if (existing !== undefined) {
        const frame = this.frames.get(existing)!;
        if (frame.state !== 'recalled') {
          results.push({ key, frameId: existing, created: false, state: frame.state });
          continue;
        }
        // Offloaded again after a recall: it runs again, as a new generation.
        const seq = this.events.length + 1;
        const change: FrameChange = {
          type: 'queued',
          state: 'queued',
          message: 'offloaded again after a recall',
        };
        this.applyChange(existing, change, now, seq);
        records.push({ t: 'event', seq, frameId: existing, at: now, change });
        results.push({ key, frameId: existing, created: true, state: 'queued' });
        continue;
      }
      const frameId = frameIdOf(key);
      this.addFrame(frameId, jobId, key, fs, now);
      records.push({ t: 'frame', frameId, jobId, key, spec: fs, at: now });
      const seq = this.events.length + 1;
      const change: FrameChange = { type: 'queued', state: 'queued' };
      this.applyChange(frameId, change, now, seq);
      records.push({ t: 'event', seq, frameId, at: now, change });
      results.push({ key, frameId, created: true, state: 'queued' });
    }
    await this.commit(records);
    return { jobId, frames: results };
  }

  /**
   * Records a change of one frame; resolves once durable (and watchers were told). A change
   * that ends a running attempt (it succeeded, failed, was preempted, retried, recalled or
   * cancelled, or a new attempt started) carries the attempt's cost: the time since the
   * attempt started, as the service saw it, × the slot price of the node it ran on. The cost
   * is journalled with the change, so a restart never prices an attempt twice.
   */
  async change(frameId: string, change: FrameChange): Promise<FrameEvent> {
    const cost = change.cost ?? (await this.attemptCost(frameId, change));
    if (cost !== undefined) change = { ...change, cost };
    const now = Date.now();
    const seq = this.events.length + 1;
    const event = this.applyChange(frameId, change, now, seq);
    await this.commit([{ t: 'event', seq, frameId, at: now, change }]);
    return event;
  }

  private async attemptCost(frameId: string, change: FrameChange): Promise<number | undefined> {
    const f = this.frames.get(frameId);
    if (!this.pricing || !f || f.startedAt === undefined) return undefined;
    const running = (s: FrameState): boolean => s === 'running' || s === 'preparing';
    if (!running(f.state) || (running(change.state) && change.type !== 'started')) return undefined;
    const { startedAt, nodeId } = f;
    const price = await this.pricing.slotPricePerHour(this.jobs.get(f.jobId)?.spec.capacityGroup, nodeId);
    return price > 0 ? (Math.max(0, Date.now() - startedAt) / 3_600_000) * price : undefined;
  }

  /**
   * Records that these frames are being handed to the backend as generation `attempt`.
   * Called before the backend call, so events of the new tasks are never taken for stale.
   */
  async markDispatched(frameIds: readonly string[], attempt: number): Promise<void> {
    for (const id of frameIds) this.frames.get(id)!.dispatched = attempt;
    await this.journal.append({ t: 'dispatched', frameIds: [...frameIds], attempt });
  }

  /** Marks a job cancelled; its frames are changed separately. */
  async markCancelled(jobId: string): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job || job.cancelled) return;
    job.cancelled = true;
    await this.journal.append({ t: 'cancel', jobId, at: Date.now() });
  }

  private async commit(records: JournalRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.journal.append(...records);
    // Events become visible in seq order, only once everything before them is durable too.
    const lastSeq = records.reduce((m, r) => (r.t === 'event' ? Math.max(m, r.seq) : m), 0);
    if (lastSeq > this.durableSeq) {
      this.durableSeq = lastSeq;
      for (const l of this.listeners) l();
    }
  }

  /** Durable events after `afterSeq` matching the filter, at most `limit`; and the seq scanned to. */
  eventsAfter(
    afterSeq: number,
    filter: EventFilter,
    limit: number,
  ): { events: FrameEvent[]; scannedTo: number } {
    const out: FrameEvent[] = [];
    let seq = afterSeq;
    while (seq < this.durableSeq && out.length < limit) {
      const e = this.events[seq]!;
      seq += 1;
      if (filter.jobId && e.jobId !== filter.jobId) continue;
      if (filter.source && e.key.source !== filter.source) continue;
      out.push(e);
    }
    return { events: out, scannedTo: seq };
  }

  /** The seq of the last durable event. */
  get lastSeq(): number {
    return this.durableSeq;
  }

  /** Calls `listener` whenever new durable events exist; returns the unsubscribe function. */
  onEvents(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  getJob(jobId: string): Job | undefined {
    const j = this.jobs.get(jobId);
    return j && this.jobView(j);
  }

  /** Jobs, newest first. */
  listJobs(): Job[] {
    return [...this.jobs.values()].sort((a, b) => b.createdAt - a.createdAt).map((j) => this.jobView(j));
  }

  /** A job's frames in submission order. */
  framesOf(jobId: string): Frame[] {
    return (this.jobs.get(jobId)?.frameIds ?? []).map((id) => this.frameView(this.frames.get(id)!));
  }

  getFrame(frameId: string): Frame | undefined {
    const f = this.frames.get(frameId);
    return f && this.frameView(f);
  }

  frameIdByKey(key: FrameKey): string | undefined {
    return this.byKey.get(keyString(key));
  }

  /** The attempt generation last dispatched for a frame (0: never). */
  dispatchedGeneration(frameId: string): number {
    return this.frames.get(frameId)?.dispatched ?? 0;
  }

  /**
   * The generation to dispatch a frame as: the one already recorded (a re-send is then
   * recognised by the backend), unless a recall ended it, then the next one.
   */
  nextGeneration(frameId: string): number {
    const f = this.frames.get(frameId);
    if (!f) return 1;
    return f.dispatched > f.burned ? f.dispatched : f.burned + 1;
  }

  /** The frame's spec and its job's spec, for building its task. */
  specsOf(frameId: string): { job: JobSpec; frame: FrameSpec; jobId: string } | undefined {
    const f = this.frames.get(frameId);
    const j = f && this.jobs.get(f.jobId);
    return f && j ? { job: j.spec, frame: f.spec, jobId: f.jobId } : undefined;
  }

  /** Frames not in a terminal state, in submission order. */
  unfinishedFrames(): Frame[] {
    const out: Frame[] = [];
    for (const f of this.frames.values())
      if (!TERMINAL_FRAME_STATES.has(f.state)) out.push(this.frameView(f));
    return out;
  }

  isCancelled(jobId: string): boolean {
    return this.jobs.get(jobId)?.cancelled ?? false;
  }

  private jobView(j: JobRecord): Job {
    const unfinished = j.counts.queued + j.counts.running;
    return {
      jobId: j.jobId,
      spec: j.spec,
      state: j.cancelled ? 'cancelled' : unfinished > 0 ? 'active' : 'completed',
      counts: { ...j.counts },
      createdAt: new Date(j.createdAt),
      updatedAt: new Date(j.updatedAt),
      cost: j.cost,
    };
  }

  private frameView(f: FrameRecord): Frame {
    return dropUndefined({
      key: f.key,
      frameId: f.frameId,
      jobId: f.jobId,
      state: f.state,
      frameStart: f.spec.frameStart,
      frameEnd: f.spec.frameEnd,
      attempts: f.attempts,
      preemptions: f.preemptions,
      nodeId: f.nodeId,
      exitCode: f.exitCode,
      message: f.message,
      submittedAt: new Date(f.submittedAt),
      startedAt: f.startedAt === undefined ? undefined : new Date(f.startedAt),
      finishedAt: f.finishedAt === undefined ? undefined : new Date(f.finishedAt),
      outputs: f.outputs,
      cost: f.cost,
    });
  }

  /** Flushes and closes the journal. */
  close(): Promise<void> {
    this.listeners.clear();
    return this.journal.close();
  }
}

function specJson(spec: JobSpec): JobSpecJson {
  return { ...spec, deadline: spec.deadline?.getTime() };
}

function reviveSpec(json: JobSpecJson): JobSpec {
  const { deadline, ...rest } = json;
  return deadline === undefined ? rest : { ...rest, deadline: new Date(deadline) };
}
