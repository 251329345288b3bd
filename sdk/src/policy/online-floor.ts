/**
 * An estimate of the least an online policy can spend on a single-window scenario (every
 * deadline job submitted together and due together): what the hindsight bound assumes away
 * is knowing which frames are short before they run.
 *
 * The estimate gives the online policy every advantage the farm could report: the local
 * farm renders in its own order, every worker busy, until the last moment a cloud node can
 * still finish a frame (the deadline minus one mean cloud frame: no boot, no guard); at that
 * moment the policy knows exactly when each worker's current frame ends (perfect progress
 * reports), but not how long the frames that have not started will take. Each worker then
 * keeps the most further frames whose summed time fits before the deadline with probability
 * `confidence` (the normal sum of that many frames of the job); every other frame not
 * started goes to the cloud, at its real time and the cloud's idealised price (as in the
 * lower bound: spot, no boot, billing round-up or eviction). A frame rendering at that
 * moment that would end after the deadline counts as a cloud frame too.
 *
 * It is not a proof that no policy can spend less (a policy could also hedge, or send frames
 * early to shape the end game), only what committing at the last moment with perfect
 * knowledge of the present leaves: a floor for policies that, like Spillway, meet each
 * worker's last frame with a fixed confidence.
 */
import type { Scenario } from './scenario';
import { sampleFrameTimes } from './simulator';

/** The online floor and how it was reached. */
export interface OnlineFloor {
  /** Currency units. */
  readonly cost: number;
  /** Frames sent to the cloud. */
  readonly cloudFrames: number;
  /** When the split was made (seconds). */
  readonly commitAtSeconds: number;
}

/** Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
function normalQuantile(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    );
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/**
 * The online floor of a single-window scenario (module comment), or undefined when its
 * deadline jobs do not share one window.
 * @param confidence - chance each worker's kept frames all end by the deadline @default Φ(2.5) ≈ 0.9938
 */
export function onlineFloor(scenario: Scenario, confidence = 0.99379): OnlineFloor | undefined {
  const jobs = scenario.jobs.filter((j) => j.deadlineAtSeconds !== undefined);
  if (jobs.length === 0) return { cost: 0, cloudFrames: 0, commitAtSeconds: 0 };
  const s = jobs[0]!.submitAtSeconds;
  const due = jobs[0]!.deadlineAtSeconds!;
  if (jobs.some((j) => j.submitAtSeconds !== s || j.deadlineAtSeconds !== due)) return undefined;
  if (scenario.jobs.some((j) => j.deadlineAtSeconds === undefined && j.submitAtSeconds < due))
    return undefined;
  const times = sampleFrameTimes(scenario);
  const speed = scenario.localFarm.speed;
  const c = scenario.cloud;
  // The frames in the farm's order, with their job's mean and variance (local seconds).
  const order = scenario.jobs
    .map((_, i) => i)
    .filter((i) => scenario.jobs[i]!.deadlineAtSeconds !== undefined)
    .sort((x, y) => scenario.jobs[y]!.priority - scenario.jobs[x]!.priority || x - y);
  const frames = order.flatMap((i) => (times[i] ?? []).map((t) => ({ t, job: scenario.jobs[i]! })));
  const meanCloud =
    frames.reduce((sum, f) => sum + f.job.frameSeconds.mean * c.nodeSpeed, 0) / Math.max(1, frames.length) +
    c.transferSecondsPerFrame;
  const commit = due - meanCloud;
  // Local farm, every worker busy from s until the commit moment.
  const free = Array<number>(scenario.localFarm.workers).fill(s);
  let next = 0;
  const cloud: number[] = [];
  for (;;) {
    let w = 0;
    for (let k = 1; k < free.length; k++) if (free[k]! < free[w]!) w = k;
    if (free.length === 0 || free[w]! > commit || next >= frames.length) break;
    const end = free[w]! + frames[next]!.t * speed;
    if (end > due) cloud.push(next); // started before the split, cannot end in time
    free[w] = end;
    next++;
  }
  // The split: each worker keeps what fits with the given confidence.
  const z = normalQuantile(confidence);
  const rest = frames.slice(next);
  const m = rest.length ? rest.reduce((a, f) => a + f.job.frameSeconds.mean, 0) / rest.length : 0;
  const v = rest.length ? rest.reduce((a, f) => a + f.job.frameSeconds.stdev ** 2, 0) / rest.length : 0;
  let kept = 0;
  for (const f of free) {
    const room = (due - Math.min(f, due)) / speed;
    let k = 0;
    while (m > 0 && (k + 1) * m + z * Math.sqrt((k + 1) * v) <= room) k++;
    kept += k;
  }
  const sent = rest.slice(Math.min(rest.length, kept)).map((f) => f.t);
  const all = [...cloud.map((i) => frames[i]!.t), ...sent];
  const perSecond = Math.min(c.spotPricePerHour, c.dedicatedPricePerHour) / 3600;
  const cost = all.reduce((sum, t) => sum + (t * c.nodeSpeed + c.transferSecondsPerFrame) * perSecond, 0);
  return { cost, cloudFrames: all.length, commitAtSeconds: commit };
}
