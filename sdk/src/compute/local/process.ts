import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

/** What a finished process reports. */
export interface ProcessOutcome {
  /** Exit code; for a killed process, 128 + the signal number as a shell reports it. */
  readonly exitCode: number;
  /** The signal that ended it, if any. */
  readonly signal?: NodeJS.Signals;
  /** Ended by its wall-clock limit. */
  readonly timedOut: boolean;
  /** Ended by `kill()`. */
  readonly killed: boolean;
  /** Could not start (e.g. the working directory vanished). */
  readonly spawnError?: string;
}

/** A running process. */
export interface RunningProcess {
  readonly pid: number | undefined;
  readonly done: Promise<ProcessOutcome>;
  /** Kills the whole process group (the shell and everything it started). Idempotent. */
  kill(): void;
}

/** Options of {@link runProcess}. */
export interface RunProcessOptions {
  readonly commandLine: string;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** Standard output goes to this file (created or truncated). */
  readonly stdoutPath: string;
  /** Standard error goes to this file (created or truncated). */
  readonly stderrPath: string;
  /** Wall-clock limit. @default none */
  readonly maxWallClockMs?: number;
}

const SIGNALS: Partial<Record<NodeJS.Signals, number>> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGHUP: 1 };

/**
 * Runs `/bin/sh -c commandLine` in its own process group (detached), with stdout and
 * stderr written straight to files, so killing it kills every process the command started.
 */
export function runProcess(options: RunProcessOptions): RunningProcess {
  const out = fs.openSync(options.stdoutPath, 'w');
  const err = fs.openSync(options.stderrPath, 'w');
  let timedOut = false;
  let killed = false;
  let finished = false;
  let timer: NodeJS.Timeout | undefined;
  const child = spawn('/bin/sh', ['-c', options.commandLine], {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', out, err],
  });
  fs.closeSync(out);
  fs.closeSync(err);
  const killGroup = (): void => {
    if (finished || child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  const done = new Promise<ProcessOutcome>((resolve) => {
    child.once('error', (e) => {
      finished = true;
      if (timer) clearTimeout(timer);
      resolve({ exitCode: 127, timedOut, killed, spawnError: e.message });
    });
    child.once('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      // The shell is gone; anything it left behind in the group goes too.
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // No group left.
        }
      }
      finished = true;
      const exitCode = code ?? 128 + (signal ? (SIGNALS[signal] ?? 0) : 0);
      resolve({ exitCode, ...(signal ? { signal } : {}), timedOut, killed });
    });
  });
  if (options.maxWallClockMs !== undefined && options.maxWallClockMs > 0) {
    timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, options.maxWallClockMs);
  }
  return {
    pid: child.pid,
    done,
    kill() {
      killed = true;
      killGroup();
    },
  };
}
