/**
 * What the service learns of each capacity group from what it observes, replacing the
 * configured figures once there is enough data:
 *
 * - node boot time: from a node's creation (the backend's allocation time) to its
 *   `nodeReady` event, or to the first report that saw it ready;
 * - cloud:local speed ratio and transfer time per frame: per job, the mean time of its
 *   frames that succeeded in the cloud (service clock, start to success) against the mean
 *   time of its local frames (the bridge's report). With two or more jobs of different frame
 *   times, a least-squares line cloud = ratio × local + transfer; with one, the configured
 *   transfer time and ratio = (cloud − transfer) ÷ local;
 * - spot evictions per node-hour: `nodePreempted` events over the spot node-hours observed
 *   between reports.
 *
 * No I/O: the burst manager feeds it.
 */
import type { ComputeNode } from '../../compute/backend';
import type { FrameTimeStats, GroupParameter, GroupParameters } from '../../model/burst';
import type { GroupFigures } from '../../policy/config';

/** How much data before an observation replaces the configured figure. */
export const LEARNING_THRESHOLDS = {
  /** Node boots observed. */
  bootSamples: 2,
  /** Cloud frames that succeeded, over jobs that also have local frame times. */
  frameSamples: 3,
  /** Spot node-hours observed. */
  spotNodeHours: 1,
} as const;

/** Booting states of a node. */
const BOOTING = new Set(['creating', 'starting', 'waitingForStartTask']);
/** States of a node that takes work. */
const READY = new Set(['idle', 'running']);

interface Stat {
  n: number;
  sum: number;
  sumSq: number;
}

const add = (s: Stat | undefined, x: number): Stat => ({
  n: (s?.n ?? 0) + 1,
  sum: (s?.sum ?? 0) + x,
  sumSq: (s?.sumSq ?? 0) + x * x,
});

interface GroupData {
  /** Last boot durations, seconds (at most 50). */
  boots: number[];
  /** Node id -> creation time and whether its boot was counted. */
  nodes: Map<string, { createdAt: number; counted: boolean; sawBooting: boolean }>;
  /** Node id -> ready time from an event that came before the node was listed. */
  readyEvents: Map<string, number>;
  /** Cloud frame seconds per job key (`source\0sourceJobId`). */
  cloudFrames: Map<string, Stat>;
  evictions: number;
  spotHours: number;
  lastSpot?: { at: number; running: number };
}

const keyOf = (source: string, sourceJobId: string): string => `${source}\0${sourceJobId}`;

/** Observations per capacity group, and the figures they give. */
export class GroupLearner {
  private readonly groups = new Map<string, GroupData>();
  /** Frame id -> when its current attempt started (ms). */
  private readonly started = new Map<string, number>();

  private data(group: string): GroupData {
    let d = this.groups.get(group);
    if (!d) {
      d = {
        boots: [],
        nodes: new Map(),
        readyEvents: new Map(),
        cloudFrames: new Map(),
        evictions: 0,
        spotHours: 0,
      };
      this.groups.set(group, d);
    }
    return d;
  }

  private boot(d: GroupData, seconds: number): void {
    if (!(seconds >= 0) || !Number.isFinite(seconds)) return;
    d.boots.push(seconds);
    if (d.boots.length > 50) d.boots.shift();
  }

  /** A listing of a group's nodes at `now`. */
  observeNodes(group: string, nodes: readonly ComputeNode[], now: Date): void {
    const d = this.data(group);
    const t = now.getTime();
    const seen = new Set<string>();
    let spotRunning = 0;
    for (const n of nodes) {
      seen.add(n.id);
      let rec = d.nodes.get(n.id);
      if (!rec) {
        rec = { createdAt: n.createdAt.getTime(), counted: false, sawBooting: false };
        d.nodes.set(n.id, rec);
      }
      if (BOOTING.has(n.state)) rec.sawBooting = true;
      if (READY.has(n.state)) {
        if (n.priority === 'spot') spotRunning++;
        if (!rec.counted) {
          const ready = d.readyEvents.get(n.id);
          // Without the event, the first listing that saw it ready bounds the boot, if an
          // earlier listing saw it booting (else it was ready before we looked).
          if (ready !== undefined) this.boot(d, (ready - rec.createdAt) / 1000);
          else if (rec.sawBooting) this.boot(d, (t - rec.createdAt) / 1000);
          rec.counted = true;
          d.readyEvents.delete(n.id);
        }
      }
    }
    for (const id of [...d.nodes.keys()]) if (!seen.has(id)) d.nodes.delete(id);
    if (d.lastSpot) d.spotHours += (d.lastSpot.running * Math.max(0, t - d.lastSpot.at)) / 3_600_000;
    d.lastSpot = { at: t, running: spotRunning };
  }

  /** A capacity event of the group (`nodeReady`, `nodePreempted`; others are ignored). */
  observeCapacityEvent(event: { type: string; group: string; nodeId?: string; time: Date }): void {
    const d = this.data(event.group);
    if (event.type === 'nodePreempted') d.evictions++;
    else if (event.type === 'nodeReady' && event.nodeId) {
      const rec = d.nodes.get(event.nodeId);
      if (rec && !rec.counted) {
        this.boot(d, (event.time.getTime() - rec.createdAt) / 1000);
        rec.counted = true;
      } else if (!rec) d.readyEvents.set(event.nodeId, event.time.getTime());
    }
  }

  /** A frame event of the service (`started`, `succeeded`, ...); `group` is its job's group. */
  observeFrameEvent(
    event: { type: string; frameId: string; time: Date; key: { source: string; sourceJobId: string } },
    group: string,
  ): void {
    if (event.type === 'started') this.started.set(event.frameId, event.time.getTime());
    else if (event.type === 'succeeded') {
      const start = this.started.get(event.frameId);
      this.started.delete(event.frameId);
      if (start === undefined) return;
      const d = this.data(group);
      const k = keyOf(event.key.source, event.key.sourceJobId);
      d.cloudFrames.set(k, add(d.cloudFrames.get(k), (event.time.getTime() - start) / 1000));
    } else if (event.type !== 'queued' && event.type !== 'retrying') this.started.delete(event.frameId);
  }

  /** Observed cloud frame times of one job, if any. */
  cloudFrameTime(group: string, source: string, sourceJobId: string): FrameTimeStats | undefined {
    const s = this.groups.get(group)?.cloudFrames.get(keyOf(source, sourceJobId));
    if (!s || s.n === 0) return undefined;
    const mean = s.sum / s.n;
    const variance = s.n > 1 ? Math.max(0, (s.sumSq - s.n * mean * mean) / (s.n - 1)) : 0;
    return { meanMs: mean * 1000, stdevMs: Math.sqrt(variance) * 1000, samples: s.n };
  }

  /**
   * The figures a group is planned with: observed where there is enough data, else configured.
   * @param localFrameTimes - local frame times per job key (`source`, `sourceJobId`) from the reports
   */
  parameters(
    group: string,
    configured: GroupFigures,
    localFrameTimes: ReadonlyMap<string, FrameTimeStats> = new Map(),
  ): GroupParameters {
    const d = this.groups.get(group);
    const conf = (value: number): GroupParameter => ({ value, source: 'configured', samples: 0 });
    const seen = (value: number, samples: number): GroupParameter => ({ value, source: 'observed', samples });
    let boot = conf(configured.nodeBootSeconds);
    if (d && d.boots.length >= LEARNING_THRESHOLDS.bootSamples)
      boot = seen(d.boots.reduce((a, b) => a + b, 0) / d.boots.length, d.boots.length);
    let evictions = conf(configured.spotEvictionsPerNodeHour);
    if (d && d.spotHours >= LEARNING_THRESHOLDS.spotNodeHours)
      evictions = seen(d.evictions / d.spotHours, d.evictions);
    let ratio = conf(configured.cloudFrameTimeRatio);
    let transfer = conf(configured.transferSecondsPerFrame);
    if (d) {
      const pairs: { local: number; cloud: number; w: number }[] = [];
      for (const [k, s] of d.cloudFrames) {
        const local = localFrameTimes.get(k);
        if (!local || local.samples < 1 || local.meanMs <= 0) continue;
        pairs.push({ local: local.meanMs / 1000, cloud: s.sum / s.n, w: Math.min(s.n, local.samples) });
      }
      const samples = pairs.reduce((n, p) => n + p.w, 0);
      if (samples >= LEARNING_THRESHOLDS.frameSamples) {
        const fit = fitLine(pairs);
        if (fit && fit.intercept >= 0 && fit.slope > 0) {
          ratio = seen(fit.slope, samples);
          transfer = seen(fit.intercept, samples);
        } else {
          // One frame time (or a line through negative transfer): keep the configured
          // transfer, or 0 if even that overshoots, and learn the ratio.
          const wl = pairs.reduce((s, p) => s + p.w * p.local, 0);
          const wc = pairs.reduce((s, p) => s + p.w * p.cloud, 0);
          const x = Math.min(configured.transferSecondsPerFrame, wc / Math.max(1, samples));
          const r = (wc - x * samples) / wl;
          if (r > 0) {
            ratio = seen(r, samples);
            if (x < configured.transferSecondsPerFrame) transfer = seen(x, samples);
          }
        }
      }
    }
    return {
      capacityGroup: group,
      nodeBootSeconds: boot,
      cloudFrameTimeRatio: ratio,
      transferSecondsPerFrame: transfer,
      spotEvictionsPerNodeHour: evictions,
      billingGranularitySeconds: conf(configured.billingGranularitySeconds),
      ...(configured.turnaroundTargetSeconds === undefined
        ? {}
        : { turnaroundTargetSeconds: configured.turnaroundTargetSeconds }),
    };
  }
}

/** Weighted least squares of cloud on local; undefined when the local times do not vary. */
export function fitLine(
  pairs: readonly { local: number; cloud: number; w: number }[],
): { slope: number; intercept: number } | undefined {
  const W = pairs.reduce((s, p) => s + p.w, 0);
  if (W <= 0) return undefined;
  const mx = pairs.reduce((s, p) => s + p.w * p.local, 0) / W;
  const my = pairs.reduce((s, p) => s + p.w * p.cloud, 0) / W;
  const sxx = pairs.reduce((s, p) => s + p.w * (p.local - mx) ** 2, 0);
  if (sxx <= 1e-9 * Math.max(1, mx * mx) * W) return undefined;
  const sxy = pairs.reduce((s, p) => s + p.w * (p.local - mx) * (p.cloud - my), 0);
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}
