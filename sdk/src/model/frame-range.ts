import { ValidationError } from '../errors';

/** A run of frames: `start` to `end` inclusive, every `step`. */
export interface FrameRun {
  readonly start: number;
  readonly end: number;
  readonly step: number;
}

/** A chunk: consecutive frames of a run rendered by one task. */
export interface FrameChunk {
  readonly start: number;
  readonly end: number;
  readonly step: number;
  /** The frames, in order. */
  readonly frames: readonly number[];
}

const PART = /^(-?\d+)(?:-(-?\d+))?(?:[:x](\d+))?$/;

/**
 * Parses a frame list as render managers write them: `1-100`, `1-100:2` (or `1-100x2`),
 * `7`, and comma-separated mixes `1,3,5-7`. Throws a ValidationError naming `field` for an
 * empty, reversed or malformed range.
 */
export function parseFrameRange(spec: string, field = 'frames'): FrameRun[] {
  const text = spec.replace(/\s+/g, '');
  if (text === '')
    throw new ValidationError(field, spec, 'is empty; give frames like 1-100, 1-100:2 or 1,3,5-7');
  return text.split(',').map((part) => {
    const m = PART.exec(part);
    if (!m) throw new ValidationError(field, spec, `has "${part}", which is not N, N-M or N-M:STEP`);
    const start = Number(m[1]);
    const end = m[2] === undefined ? start : Number(m[2]);
    const step = m[3] === undefined ? 1 : Number(m[3]);
    if (end < start)
      throw new ValidationError(field, spec, `has the reversed range "${part}"; write it start-end`);
    if (step < 1)
      throw new ValidationError(field, spec, `has step ${step} in "${part}"; the step must be at least 1`);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) {
      throw new ValidationError(field, spec, `has "${part}", beyond the whole numbers a frame can have`);
    }
    return { start, end, step };
  });
}

/** The frames of runs, in order, each once. */
export function framesOf(runs: readonly FrameRun[]): number[] {
  const seen = new Set<number>();
  const out: number[] = [];
  for (const r of runs) {
    for (let f = r.start; f <= r.end; f += r.step) {
      if (!seen.has(f)) {
        seen.add(f);
        out.push(f);
      }
    }
  }
  return out;
}

/** A chunk's bounds, without its frame list. */
export type ChunkBounds = Omit<FrameChunk, 'frames'>;

function checkChunkSize(chunkSize: number): void {
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new ValidationError('chunk_size', chunkSize, 'must be a whole number of at least 1');
  }
}

/** How many chunks `iterateChunks(runs, chunkSize)` yields, computed without making them. */
export function countChunks(runs: readonly FrameRun[], chunkSize = 1): number {
  checkChunkSize(chunkSize);
  let n = 0;
  for (const r of runs) n += Math.ceil((Math.floor((r.end - r.start) / r.step) + 1) / chunkSize);
  return n;
}

/**
 * The chunks of `chunkFrames`, one at a time and without their frame lists, so a range of
 * any length (`1-99999999`) takes no memory. A chunk never spans two runs.
 */
export function* iterateChunks(runs: readonly FrameRun[], chunkSize = 1): Generator<ChunkBounds> {
  checkChunkSize(chunkSize);
  for (const r of runs) {
    const last = r.start + Math.floor((r.end - r.start) / r.step) * r.step;
    for (let start = r.start; start <= last; start += chunkSize * r.step) {
      yield { start, end: Math.min(start + (chunkSize - 1) * r.step, last), step: r.step };
    }
  }
}

/**
 * Splits runs into chunks of at most `chunkSize` frames (as Deadline's `ChunkSize` and
 * OpenCue's `chunk_size` do). A chunk never spans two runs.
 */
export function chunkFrames(runs: readonly FrameRun[], chunkSize = 1): FrameChunk[] {
  return [...iterateChunks(runs, chunkSize)].map((c) => {
    const frames: number[] = [];
    for (let f = c.start; f <= c.end; f += c.step) frames.push(f);
    return { ...c, frames };
  });
}
