/**
 * A seeded, deterministic, event-driven simulator of one local farm bursting to one cloud
 * capacity group. Every controller (Spillway's policy or a baseline) runs under the same
 * rules: boot time (billed), per-interval billing, transfer time per cloud frame, spot
 * evictions (Poisson per running node-hour; the frame in progress is lost and requeued),
 * the node quota and the spend cap.
 */
import { SeededRandom } from '../random';
import type { Scenario, ScenarioJob } from './scenario';

/** One cloud node as controllers see it. */
export interface SimNode {
  /** Sequence number of the node in the run. */
  readonly id: number;
  /** Capacity kind. */
  readonly kind: 'spot' | 'dedicated';
  /** Booting (billed, not yet taking work), idle or busy. */
  readonly state: 'booting' | 'idle' | 'busy';
  /** When it was requested (billing starts). */
  readonly requestedAtSeconds: number;
  /** When it takes (or took) work. */
  readonly readyAtSeconds: number;
  /** Idle nodes: since when. */
  readonly idleSinceSeconds: number;
  /** Asked to stop taking work (scale-in drains). */
  readonly draining: boolean;
}

/** A job's state as controllers see it. */
export interface SimJobView {
  readonly job: ScenarioJob;
  readonly arrived: boolean;
  readonly queuedLocal: number;
  readonly renderingLocal: number;
  /** When each of its frames rendering locally started (one entry per busy worker on it). */
  readonly renderingLocalStartedAtSeconds: readonly number[];
  /**
   * Its frames rendering locally: when each started and how long it will take in all (what
   * a render manager's progress report approximates; controllers must not read the
   * duration except to model such reports).
   */
  readonly renderingLocalFrames: readonly {
    readonly startedAtSeconds: number;
    readonly durationSeconds: number;
  }[];
  /** When each of its frames running in the cloud started. */
  readonly runningCloudStartedAtSeconds: readonly number[];
  readonly queuedCloud: number;
  readonly runningCloud: number;
  readonly completed: number;
  /** Mean local frame time of the frames done locally so far (local seconds), or undefined. */
  readonly observedLocalFrameSeconds?: number;
  /** Standard deviation of those local frame times (two or more frames), or undefined. */
  readonly observedLocalFrameStdev?: number;
  /** Frames done locally so far. */
  readonly localFramesDone: number;
  /** Since when the job's oldest queued frame has waited (its submission). */
  readonly waitingSinceSeconds: number;
}

/** What a controller sees at a decision. */
export interface SimView {
  readonly nowSeconds: number;
  readonly scenario: Scenario;
  readonly jobs: readonly SimJobView[];
  readonly idleWorkers: number;
  readonly busyWorkers: number;
  /** Alive nodes (booting, idle, busy). */
  readonly nodes: readonly SimNode[];
}

/** What a controller decides. */
export interface SimAction {
  /** Queued local frames to move to the cloud queue, by job id (offload mode). */
  readonly offload?: ReadonlyMap<string, number>;
  /** Cloud-queued frames to take back, by job id. */
  readonly recall?: ReadonlyMap<string, number>;
  /** Target spot nodes alive. */
  readonly spotNodes: number;
  /** Target dedicated nodes alive. */
  readonly dedicatedNodes: number;
}

/**
 * A burst controller. `offload` mode: frames move to a cloud queue only when the
 * controller says so. `worker` mode (how worker-burst tools behave): cloud nodes join the
 * farm and take queued frames that no local worker is free for.
 */
export interface Controller {
  /** Name in reports, e.g. `spillway`. */
  readonly name: string;
  /** One sentence on what it does. */
  readonly description: string;
  readonly mode: 'offload' | 'worker';
  /** Called at every decision point. */
  decide(view: SimView): SimAction;
}

/** Per-job result. */
export interface JobResult {
  readonly id: string;
  /** When its last frame finished; null when unfinished at the horizon. */
  readonly finishedAtSeconds: number | null;
  readonly deadlineAtSeconds: number | null;
  /** True when it finished by its deadline; null when it has none. */
  readonly deadlineMet: boolean | null;
}

/** One run's figures. */
export interface SimResult {
  readonly policy: string;
  /** When the last frame finished (the horizon if some never did). */
  readonly makespanSeconds: number;
  /** False when frames were left at the horizon. */
  readonly completed: boolean;
  readonly cost: number;
  readonly deadlinesMet: number;
  readonly deadlinesTotal: number;
  readonly spotNodeHours: number;
  readonly dedicatedNodeHours: number;
  readonly framesOffloaded: number;
  readonly framesRecalled: number;
  readonly evictions: number;
  readonly jobs: readonly JobResult[];
}

/** Simulator options. */
export interface SimulateOptions {
  /**
   * Seconds between decision points (also made at every job arrival).
   * @default 60
   */
  readonly decisionIntervalSeconds?: number;
}

/**
 * Reference frame times of every frame of every job, drawn from the scenario's seed:
 * normal, clipped at 10% of the mean. The same for every controller.
 */
export function sampleFrameTimes(scenario: Scenario): number[][] {
  const rng = new SeededRandom(scenario.seed);
  return scenario.jobs.map((j) =>
    Array.from({ length: j.frames }, () =>
      Math.max(0.1 * j.frameSeconds.mean, rng.normal(j.frameSeconds.mean, j.frameSeconds.stdev)),
    ),
  );
}

const enum Ev {
  Arrive,
  LocalDone,
  CloudDone,
  Ready,
  Evict,
  Tick,
}

interface Event {
  t: number;
  seq: number;
  kind: Ev;
  a: number; // job index / node id
  b: number; // frame index / node generation
}

class EventQueue {
  private readonly h: Event[] = [];
  private seq = 0;
  get size(): number {
    return this.h.length;
  }
  push(t: number, kind: Ev, a = 0, b = 0): void {
    const e: Event = { t, seq: this.seq++, kind, a, b };
    const h = this.h;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(e, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }
  pop(): Event {
    const h = this.h;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && less(h[r]!, h[l]!) ? r : l;
        if (!less(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
  peek(): Event | undefined {
    return this.h[0];
  }
}
const less = (x: Event, y: Event): boolean => x.t < y.t || (x.t === y.t && x.seq < y.seq);

interface Node {
  id: number;
  kind: 'spot' | 'dedicated';
  state: 'booting' | 'idle' | 'busy' | 'gone';
  requestedAt: number;
  readyAt: number;
  idleSince: number;
  draining: boolean;
  job: number;
  frame: number;
  startedAt: number;
  gen: number;
}

interface JobState {
  arrived: boolean;
  local: number[]; // queued frame indices, in order
  cloud: number[];
  renderingLocal: number;
  /** Frame index -> start time, for frames rendering locally. */
  localStarts: Map<number, number>;
  runningCloud: number;
  completed: number;
  localTimeSum: number;
  localTimeSq: number;
  localDone: number;
  waitingSince: number;
  finishedAt: number | null;
}

/**
 * Runs one scenario with one controller.
 * @returns the run's figures; the same scenario (seed) and controller give the same result
 */
export function simulate(
  scenario: Scenario,
  controller: Controller,
  options: SimulateOptions = {},
): SimResult {
  const interval = options.decisionIntervalSeconds ?? 60;
  const times = sampleFrameTimes(scenario);
  const evictRng = new SeededRandom(scenario.seed * 7919 + 17);
  const c = scenario.cloud;
  const jobs = scenario.jobs;
  const st: JobState[] = jobs.map((j) => ({
    arrived: false,
    local: [],
    cloud: [],
    renderingLocal: 0,
    localStarts: new Map<number, number>(),
    runningCloud: 0,
    completed: 0,
    localTimeSum: 0,
    localTimeSq: 0,
    localDone: 0,
    waitingSince: j.submitAtSeconds,
    finishedAt: null,
  }));
  // Dispatch orders: the farm's (priority, submission); the cloud queue's (deadline first).
  const byFarm = jobs
    .map((_, i) => i)
    .sort(
      (x, y) =>
        jobs[y]!.priority - jobs[x]!.priority || jobs[x]!.submitAtSeconds - jobs[y]!.submitAtSeconds || x - y,
    );
  const dl = (i: number): number => jobs[i]!.deadlineAtSeconds ?? Infinity;
  const byDeadline = [...byFarm].sort((x, y) => dl(x) - dl(y));
  const q = new EventQueue();
  for (let i = 0; i < jobs.length; i++) q.push(jobs[i]!.submitAtSeconds, Ev.Arrive, i);
  q.push(0, Ev.Tick);
  const nodes: Node[] = [];
  let alive: Node[] = [];
  let idleWorkers = scenario.localFarm.workers;
  let totalFrames = jobs.reduce((s, j) => s + j.frames, 0);
  let lastDone = 0;
  let cost = 0;
  let spotHours = 0;
  let dedicatedHours = 0;
  let offloaded = 0;
  let recalled = 0;
  let evictions = 0;
  const cap = scenario.budget?.maxSpendPerHour ?? Infinity;
  const priceOf = (k: 'spot' | 'dedicated'): number =>
    k === 'spot' ? c.spotPricePerHour : c.dedicatedPricePerHour;

  const release = (n: Node, t: number): void => {
    const billed =
      Math.ceil((t - n.requestedAt) / c.billingGranularitySeconds - 1e-9) * c.billingGranularitySeconds;
    const hours = Math.max(0, billed) / 3600;
    cost += hours * priceOf(n.kind);
    if (n.kind === 'spot') spotHours += hours;
    else dedicatedHours += hours;
    n.state = 'gone';
    n.gen++;
    alive = alive.filter((x) => x !== n);
  };

  const frameDone = (j: number, t: number): void => {
    const s = st[j]!;
    s.completed++;
    totalFrames--;
    lastDone = Math.max(lastDone, t);
    if (s.completed === jobs[j]!.frames) s.finishedAt = t;
  };

  const startCloud = (n: Node, j: number, f: number, t: number): void => {
    n.state = 'busy';
    n.job = j;
    n.frame = f;
    n.startedAt = t;
    st[j]!.runningCloud++;
    q.push(t + times[j]![f]! * c.nodeSpeed + c.transferSecondsPerFrame, Ev.CloudDone, n.id, n.gen);
  };

  const dispatch = (t: number): void => {
    // Local workers first, in the farm's order.
    for (const j of byFarm) {
      const s = st[j]!;
      while (idleWorkers > 0 && s.local.length > 0) {
        const f = s.local.shift()!;
        idleWorkers--;
        s.renderingLocal++;
        s.localStarts.set(f, t);
        q.push(t + times[j]![f]! * scenario.localFarm.speed, Ev.LocalDone, j, f);
      }
    }
    for (const n of alive) {
      if (n.state !== 'idle') continue;
      if (n.draining) {
        release(n, t);
        continue;
      }
      const order = controller.mode === 'offload' ? byDeadline : byFarm;
      for (const j of order) {
        const s = st[j]!;
        const queue = controller.mode === 'offload' ? s.cloud : s.local;
        if (queue.length === 0) continue;
        const f = queue.shift()!;
        if (controller.mode === 'worker') offloaded++;
        startCloud(n, j, f, t);
        break;
      }
    }
  };

  const applyTargets = (a: SimAction, t: number): void => {
    for (const kind of ['spot', 'dedicated'] as const) {
      const want = Math.max(0, Math.floor(kind === 'spot' ? a.spotNodes : a.dedicatedNodes));
      const mine = alive.filter((n) => n.kind === kind);
      const active = mine.filter((n) => !n.draining);
      if (want > active.length) {
        let need = want - active.length;
        for (const n of mine) {
          if (need > 0 && n.draining) {
            n.draining = false;
            need--;
          }
        }
        const spend = alive.reduce((s, n) => s + priceOf(n.kind), 0);
        const byBudget = priceOf(kind) > 0 ? Math.floor((cap - spend) / priceOf(kind) + 1e-9) : Infinity;
        const add = Math.max(0, Math.min(need, c.maxNodes - alive.length, byBudget));
        for (let i = 0; i < add; i++) {
          const n: Node = {
            id: nodes.length,
            kind,
            state: 'booting',
            requestedAt: t,
            readyAt: t + c.nodeBootSeconds,
            idleSince: t,
            draining: false,
            job: -1,
            frame: -1,
            startedAt: t,
            gen: 0,
          };
          nodes.push(n);
          alive.push(n);
          q.push(n.readyAt, Ev.Ready, n.id, n.gen);
        }
      } else if (want < active.length) {
        let drop = active.length - want;
        const booting = active
          .filter((n) => n.state === 'booting')
          .sort((x, y) => y.requestedAt - x.requestedAt);
        const idle = active.filter((n) => n.state === 'idle').sort((x, y) => x.idleSince - y.idleSince);
        const busy = active.filter((n) => n.state === 'busy');
        for (const n of [...booting, ...idle]) {
          if (drop === 0) break;
          release(n, t);
          drop--;
        }
        for (const n of busy) {
          if (drop === 0) break;
          n.draining = true;
          drop--;
        }
      }
    }
  };

  const view = (t: number): SimView => ({
    nowSeconds: t,
    scenario,
    idleWorkers,
    busyWorkers: scenario.localFarm.workers - idleWorkers,
    nodes: alive.map((n) => ({
      id: n.id,
      kind: n.kind,
      state: n.state as SimNode['state'],
      requestedAtSeconds: n.requestedAt,
      readyAtSeconds: n.readyAt,
      idleSinceSeconds: n.idleSince,
      draining: n.draining,
    })),
    jobs: jobs.map((job, i) => {
      const s = st[i]!;
      return {
        job,
        arrived: s.arrived,
        queuedLocal: s.local.length,
        renderingLocal: s.renderingLocal,
        renderingLocalStartedAtSeconds: [...s.localStarts.values()],
        renderingLocalFrames: [...s.localStarts].map(([f, t0]) => ({
          startedAtSeconds: t0,
          durationSeconds: times[i]![f]! * scenario.localFarm.speed,
        })),
        runningCloudStartedAtSeconds: alive
          .filter((n) => n.state === 'busy' && n.job === i)
          .map((n) => n.startedAt),
        queuedCloud: s.cloud.length,
        runningCloud: s.runningCloud,
        completed: s.completed,
        waitingSinceSeconds: s.waitingSince,
        localFramesDone: s.localDone,
        ...(s.localDone > 0 ? { observedLocalFrameSeconds: s.localTimeSum / s.localDone } : {}),
        ...(s.localDone > 1
          ? {
              observedLocalFrameStdev: Math.sqrt(
                Math.max(
                  0,
                  (s.localTimeSq - (s.localTimeSum * s.localTimeSum) / s.localDone) / (s.localDone - 1),
                ),
              ),
            }
          : {}),
      };
    }),
  });

  const decide = (t: number): void => {
    const a = controller.decide(view(t));
    if (controller.mode === 'offload') {
      for (const [id, n] of a.recall ?? []) {
        const s = st[jobs.findIndex((j) => j.id === id)];
        if (!s) continue;
        const back = s.cloud.splice(Math.max(0, s.cloud.length - n), n);
        recalled += back.length;
        s.local.push(...back);
        s.local.sort((x, y) => x - y);
      }
      for (const [id, n] of a.offload ?? []) {
        const s = st[jobs.findIndex((j) => j.id === id)];
        if (!s) continue;
        const moved = s.local.splice(Math.max(0, s.local.length - n), n);
        offloaded += moved.length;
        s.cloud.push(...moved);
        s.cloud.sort((x, y) => x - y);
      }
    }
    applyTargets(a, t);
  };

  let now = 0;
  let lastTick = -Infinity;
  const horizon = scenario.horizonSeconds;
  while (q.size > 0) {
    const t = q.peek()!.t;
    if (t > horizon) break;
    now = t;
    let tick = false;
    // Handle every event at this instant, then decide once and dispatch.
    while (q.size > 0 && q.peek()!.t === t) {
      const e = q.pop();
      switch (e.kind) {
        case Ev.Arrive: {
          const s = st[e.a]!;
          s.arrived = true;
          s.local = Array.from({ length: jobs[e.a]!.frames }, (_, i) => i);
          tick = true;
          break;
        }
        case Ev.LocalDone: {
          const s = st[e.a]!;
          s.renderingLocal--;
          s.localStarts.delete(e.b);
          const ft = times[e.a]![e.b]! * scenario.localFarm.speed;
          s.localTimeSum += ft;
          s.localTimeSq += ft * ft;
          s.localDone++;
          idleWorkers++;
          frameDone(e.a, t);
          break;
        }
        case Ev.CloudDone: {
          const n = nodes[e.a]!;
          if (n.gen !== e.b || n.state !== 'busy') break;
          st[n.job]!.runningCloud--;
          frameDone(n.job, t);
          n.state = 'idle';
          n.idleSince = t;
          break;
        }
        case Ev.Ready: {
          const n = nodes[e.a]!;
          if (n.gen !== e.b || n.state !== 'booting') break;
          n.state = 'idle';
          n.idleSince = t;
          if (n.kind === 'spot') {
            const life = evictRng.exponential(c.spotEvictionsPerNodeHour / 3600);
            if (Number.isFinite(life)) q.push(t + life, Ev.Evict, n.id, n.gen);
          }
          break;
        }
        case Ev.Evict: {
          const n = nodes[e.a]!;
          if (n.gen !== e.b || n.state === 'gone') break;
          evictions++;
          if (n.state === 'busy') {
            const s = st[n.job]!;
            s.runningCloud--;
            if (controller.mode === 'offload') s.cloud.unshift(n.frame);
            else s.local.unshift(n.frame);
          }
          release(n, t);
          break;
        }
        case Ev.Tick:
          tick = true;
          break;
      }
    }
    dispatch(t);
    if (tick || t - lastTick >= interval) {
      decide(t);
      lastTick = t;
      dispatch(t);
    }
    const arrivalsLeft = st.some((s) => !s.arrived);
    if (totalFrames === 0 && !arrivalsLeft && alive.length === 0) break;
    // Keep deciding while there is anything to decide about.
    const nextTick = Math.floor(t / interval) * interval + interval;
    if (q.size === 0 || (q.peek()!.t > nextTick && !(q.peek()!.kind === Ev.Tick))) q.push(nextTick, Ev.Tick);
  }
  const end = Math.min(Math.max(now, lastDone), horizon);
  for (const n of [...alive]) release(n, Math.max(end, n.requestedAt));
  const results: JobResult[] = jobs.map((j, i) => {
    const f = st[i]!.finishedAt;
    const d = j.deadlineAtSeconds;
    return {
      id: j.id,
      finishedAtSeconds: f,
      deadlineAtSeconds: d ?? null,
      deadlineMet: d === undefined ? null : f !== null && f <= d,
    };
  });
  return {
    policy: controller.name,
    makespanSeconds: totalFrames === 0 ? lastDone : horizon,
    completed: totalFrames === 0,
    cost,
    deadlinesMet: results.filter((r) => r.deadlineMet === true).length,
    deadlinesTotal: results.filter((r) => r.deadlineMet !== null).length,
    spotNodeHours: spotHours,
    dedicatedNodeHours: dedicatedHours,
    framesOffloaded: offloaded,
    framesRecalled: recalled,
    evictions,
    jobs: results,
  };
}
