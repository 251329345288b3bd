/**
 * Figures the benches print: percentiles, min–max over rounds, frames per second per tenth
 * of a run, and a process's memory. Pure except `processMemory` (reads `/proc`).
 */
import * as fs from 'node:fs';

/** The `p`th percentile (0-100) of ascending `sorted` (nearest rank); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** `a` when min and max round alike, else `a–b`, with `digits` decimals. */
export function range(values: readonly number[], digits = 0): string {
  if (values.length === 0) return 'n/a';
  const lo = Math.min(...values).toFixed(digits);
  const hi = Math.max(...values).toFixed(digits);
  return lo === hi ? lo : `${lo}–${hi}`;
}

/** One tenth of a run: its frames' completion rate and their latencies. */
export interface Tenth {
  /** Frames that completed in this tenth. */
  readonly frames: number;
  /** Those frames over the time since the previous tenth ended (the first: since `start`). */
  readonly framesPerSecond: number;
  readonly p50: number;
  readonly p99: number;
}

/**
 * Splits frames into tenths by when they were seen done (`doneAt`, ascending order is not
 * required), each with its rate and the percentiles of its `latencies` (ms, any number per
 * frame). `start` is when the run began (same clock as `doneAt`, ms).
 */
export function tenths(
  frames: readonly { readonly doneAt: number; readonly latencies: readonly number[] }[],
  start: number,
): Tenth[] {
  const sorted = [...frames].sort((a, b) => a.doneAt - b.doneAt);
  const out: Tenth[] = [];
  let from = start;
  for (let k = 0; k < 10; k++) {
    const part = sorted.slice(
      Math.floor((k * sorted.length) / 10),
      Math.floor(((k + 1) * sorted.length) / 10),
    );
    if (part.length === 0) continue;
    const to = part[part.length - 1]!.doneAt;
    const lat = part.flatMap((f) => f.latencies).sort((a, b) => a - b);
    out.push({
      frames: part.length,
      framesPerSecond: part.length / Math.max(1e-3, (to - from) / 1000),
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
    });
    from = to;
  }
  return out;
}

/** Peak and current resident memory (MB) of a process, from `/proc/<pid>/status`; 0 when gone. */
export function processMemory(pid: number): { peakMb: number; rssMb: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
    return { peakMb: kb('VmHWM') / 1024, rssMb: kb('VmRSS') / 1024 };
  } catch {
    return { peakMb: 0, rssMb: 0 };
  }
}

/** The pids of a process's descendants whose command line contains `needle`. */
export function descendants(pid: number, needle: string): number[] {
  const found: number[] = [];
  const walk = (p: number): void => {
    let children: number[] = [];
    try {
      for (const t of fs.readdirSync(`/proc/${p}/task`)) {
        const text = fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim();
        if (text) children = children.concat(text.split(/\s+/).map(Number));
      }
    } catch {
      return;
    }
    for (const c of children) {
      try {
        if (fs.readFileSync(`/proc/${c}/cmdline`, 'utf8').includes(needle)) found.push(c);
      } catch {
        continue;
      }
      walk(c);
    }
  };
  walk(pid);
  return found;
}
