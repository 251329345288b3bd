import { Worker } from 'node:worker_threads';

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
  /** The shell's pid (and process group), once it has started. */
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
  /** Runs the command under `nice -n` (0 to 19). @default 0 */
  readonly niceness?: number;
}

const SIGNALS: Partial<Record<NodeJS.Signals, number>> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGHUP: 1 };

/**
 * The launcher: a worker thread that opens the output files and calls `spawn`. Under load a
 * spawn blocks its thread until the child has exec'd, which takes milliseconds when every
 * core is busy; here that thread is not the one the service answers calls on.
 */
const LAUNCHER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
parentPort.on('message', (m) => {
  let out, err;
  try {
    out = fs.openSync(m.stdoutPath, 'w');
    err = fs.openSync(m.stderrPath, 'w');
    const child = spawn(m.file, m.args, { cwd: m.cwd, env: m.env, detached: true, stdio: ['ignore', out, err] });
    child.once('error', (e) => parentPort.postMessage({ id: m.id, type: 'error', message: e.message }));
    child.once('exit', (code, signal) => {
      // The shell is gone; anything it left behind in the group goes too.
      try { process.kill(-child.pid, 'SIGKILL'); } catch {}
      parentPort.postMessage({ id: m.id, type: 'exit', code, signal });
    });
    if (child.pid !== undefined) parentPort.postMessage({ id: m.id, type: 'spawned', pid: child.pid });
  } catch (e) {
    parentPort.postMessage({ id: m.id, type: 'error', message: e.message });
  } finally {
    if (out !== undefined) fs.closeSync(out);
    if (err !== undefined) fs.closeSync(err);
  }
});
`;

type LauncherMessage =
  | { id: number; type: 'spawned'; pid: number }
  | { id: number; type: 'exit'; code: number | null; signal: NodeJS.Signals | null }
  | { id: number; type: 'error'; message: string };

interface Launched {
  onSpawned(pid: number): void;
  onEnd(message: Exclude<LauncherMessage, { type: 'spawned' }>): void;
}

/** The process-wide launcher thread; kept referenced only while processes run. */
class Launcher {
  private static current: Launcher | undefined;
  private readonly worker = new Worker(LAUNCHER_SOURCE, { eval: true });
  private readonly running = new Map<number, Launched>();
  private nextId = 1;

  static get(): Launcher {
    Launcher.current ??= new Launcher();
    return Launcher.current;
  }

  private constructor() {
    this.worker.unref();
    this.worker.on('message', (m: LauncherMessage) => {
      const p = this.running.get(m.id);
      if (!p) return;
      if (m.type === 'spawned') return p.onSpawned(m.pid);
      this.running.delete(m.id);
      if (this.running.size === 0) this.worker.unref();
      p.onEnd(m);
    });
    this.worker.on('error', (e) => {
      // The thread died (it should not): every process it watched is reported as lost.
      if (Launcher.current === this) Launcher.current = undefined;
      for (const [id, p] of this.running)
        p.onEnd({ id, type: 'error', message: `launcher failed: ${e.message}` });
      this.running.clear();
    });
  }

  launch(
    request: Pick<RunProcessOptions, 'cwd' | 'env' | 'stdoutPath' | 'stderrPath'> & {
      file: string;
      args: string[];
    },
    p: Launched,
  ): void {
    const id = this.nextId++;
    this.running.set(id, p);
    if (this.running.size === 1) this.worker.ref();
    this.worker.postMessage({ id, ...request });
  }
}

/** The niceness render processes run at beside a control plane on the same machine. */
export const RENDER_NICENESS = 19;

/**
 * `/bin/sh -c command` at a niceness (0 to 19), for a process spawned `detached` (a
 * session of its own). With autogroup scheduling a session's share of the CPU ignores nice
 * values inside it, so the niceness goes to the session's autogroup too (where the kernel
 * has them); then `nice` execs the shell in place, so the pid stays the process group's
 * leader. Render processes of every simulated machine (cloud nodes, farm workers) use the
 * same niceness, so they share the CPU evenly and never starve the control plane.
 */
export function shellCommand(command: string, niceness = 0): [string, string[]] {
  if (!Number.isInteger(niceness) || niceness < 0 || niceness > 19) {
    throw new RangeError(`niceness must be an integer from 0 to 19, got ${niceness}`);
  }
  if (niceness === 0) return ['/bin/sh', ['-c', command]];
  return [
    '/bin/sh',
    [
      '-c',
      `(echo ${niceness} > /proc/self/autogroup) 2>/dev/null; exec nice -n ${niceness} /bin/sh -c "$1"`,
      'sh',
      command,
    ],
  ];
}

/**
 * Runs `/bin/sh -c commandLine` in its own process group (detached), with stdout and
 * stderr written straight to files, so killing it kills every process the command started.
 * The spawn happens on the launcher thread (see `LAUNCHER_SOURCE`).
 */
export function runProcess(options: RunProcessOptions): RunningProcess {
  const niceness = options.niceness ?? 0;
  const [file, args] = shellCommand(options.commandLine, niceness);
  let pid: number | undefined;
  let timedOut = false;
  let killed = false;
  let finished = false;
  let timer: NodeJS.Timeout | undefined;
  const killGroup = (): void => {
    if (finished || pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  const done = new Promise<ProcessOutcome>((resolve) => {
    Launcher.get().launch(
      {
        file,
        args,
        cwd: options.cwd,
        env: options.env,
        stdoutPath: options.stdoutPath,
        stderrPath: options.stderrPath,
      },
      {
        onSpawned(started) {
          pid = started;
          if (killed || timedOut) killGroup(); // asked to end before it had started
        },
        onEnd(m) {
          finished = true;
          if (timer) clearTimeout(timer);
          if (m.type === 'error') return resolve({ exitCode: 127, timedOut, killed, spawnError: m.message });
          const signal = m.signal ?? undefined;
          const exitCode = m.code ?? 128 + (signal ? (SIGNALS[signal] ?? 0) : 0);
          resolve({ exitCode, ...(signal ? { signal } : {}), timedOut, killed });
        },
      },
    );
  });
  if (options.maxWallClockMs !== undefined && options.maxWallClockMs > 0) {
    timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, options.maxWallClockMs);
  }
  return {
    get pid() {
      return pid;
    },
    done,
    kill() {
      killed = true;
      killGroup();
    },
  };
}
