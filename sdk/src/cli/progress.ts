/**
 * Progress bars of the CLI, drawn by `cli-progress`: redrawn in place on a terminal; on a
 * pipe or file either one line at a time (`notTty: 'lines'`) or nothing.
 */
import { Format, SingleBar } from 'cli-progress';

/** A progress bar (or nothing, when it is not drawn). */
export interface ProgressBar {
  /** Sets the value and the payload tokens of the format. */
  update(value: number, payload?: Record<string, unknown>): void;
  /** Sets the total. */
  setTotal(total: number): void;
  /** Draws once more and ends the line. Idempotent. */
  stop(): void;
}

/** Options of `progressBar`. */
export interface ProgressBarOptions {
  /** cli-progress format: `{bar}`, `{value}`, `{total}`, `{percentage}`, `{eta_formatted}` and payload tokens. */
  readonly format: string;
  readonly total: number;
  /** The value at start. @default 0 */
  readonly startValue?: number;
  /** Payload tokens at start. @default {} */
  readonly payload?: Record<string, unknown>;
  /** Where to draw. @default process.stderr */
  readonly stream?: NodeJS.WriteStream;
  /** Off a terminal: a line every `linesEveryMs`, or nothing. @default 'silent' */
  readonly notTty?: 'lines' | 'silent';
  /** @default 1000 */
  readonly linesEveryMs?: number;
  /** Draw nothing at all (e.g. with `--json`). @default false */
  readonly disabled?: boolean;
}

const none: ProgressBar = { update() {}, setTotal() {}, stop() {} };

/** Starts a progress bar; callers must `stop()` it (in a `finally`): it holds a timer. */
export function progressBar(options: ProgressBarOptions): ProgressBar {
  const stream = options.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  if (options.disabled || (!tty && (options.notTty ?? 'silent') === 'silent')) return none;
  const bar = new SingleBar({
    format: options.format,
    stream,
    barsize: 30,
    hideCursor: tty,
    noTTYOutput: !tty,
    notTTYSchedule: options.linesEveryMs ?? 1000,
    etaBuffer: 50,
    barCompleteChar: '#',
    barIncompleteChar: '-',
    // cli-progress writes an unknown ETA ('INF', 'NULL') cut to two characters: "NF".
    formatTime: (t, o, round) =>
      typeof t === 'number' && Number.isFinite(t) ? Format.TimeFormat(t, o, round) : '-',
  });
  bar.start(options.total, options.startValue ?? 0, options.payload ?? {});
  let stopped = false;
  return {
    update: (value, payload) => bar.update(value, payload ?? {}),
    setTotal: (total) => bar.setTotal(total),
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
