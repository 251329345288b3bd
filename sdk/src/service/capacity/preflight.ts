/**
 * The group preflight: before a capacity group's first frame is sent, a node of the group runs
 * the group's checks (each mount present, readable, and writable where outputs go: see
 * `mount-check.ts`; each licence server reachable: see `environments.ts`) as ONE task of the
 * group's own backend job (`preflight-<group>`), so they run where the renderer will: through
 * the node's mounts, VPN routes, DNS and firewall. Until it passes, the group's frames are held
 * (the dispatcher's `DispatchGate`); when a check fails, the group is unhealthy, its frames go
 * back to the local farm, the plan keeps them local and submissions are refused, with an error
 * naming the mount or the server.
 *
 * One mechanism for every kind of check: a check is a shell command that prints one marked
 * JSON line per thing checked, and a parser of them (`PreflightCheck`, `readCheckLines`).
 */
import { createHash } from 'node:crypto';
import type { ComputeBackend, TaskInfo } from '../../compute/backend';
import type { Logger } from '../../logging';
import { sleep } from '../../retry';

/** One kind of check a group's nodes run before its first frame. */
export interface PreflightCheck {
  /** What is checked, for logs: `mounts`, `licence servers`. */
  readonly kind: string;
  /** The error code a failure puts in the group's status, e.g. `MountUnavailable`. */
  readonly errorCode: string;
  /** Changes when what is checked changes (a changed spec starts a new check). */
  readonly key: string;
  /** A POSIX shell command that prints its result lines on stdout (python3 stdlib is on every node). */
  readonly command: string;
  /** How long the command may take. */
  readonly timeoutMs: number;
  /** What is checked, as messages name each: `mount "projects" (...)`, `licence server arnold (lic:27000)`. */
  readonly subjects: readonly string[];
  /** The failures read from the task's stdout; undefined when it does not answer for every subject. */
  parse(stdout: string): PreflightFailureView[] | undefined;
}

/** One thing a node found wrong. */
export interface PreflightFailureView {
  /** What failed, as `subjects` names it. */
  readonly subject: string;
  /** The whole message: the subject and why. */
  readonly message: string;
}

/** Where a group's preflight stands. */
export interface PreflightView {
  readonly state: 'pending' | 'passed' | 'failed';
  /** Each failure, naming what failed, with its check's error code. */
  readonly failures: readonly (PreflightFailureView & { readonly code: string })[];
  /** The kinds of check it runs, e.g. `['mounts', 'licence servers']`. */
  readonly checks: readonly string[];
  /** When the check finished (or started, while pending). */
  readonly checkedAt: Date;
  readonly nodeId?: string;
  /** One line for logs and errors. */
  readonly message: string;
}

/** What the dispatcher may do with a group's frames now. */
export type DispatchVerdict =
  | { readonly verdict: 'go' }
  | { readonly verdict: 'wait' }
  | { readonly verdict: 'refuse'; readonly reason: string };

/** Options of the preflight. */
export interface GroupPreflightOptions {
  /** A passed check is repeated after this long (frames keep flowing meanwhile). @default 600000 */
  readonly recheckAfterMs?: number;
  /** A failed check is repeated after this long, when the group is asked for again. @default 30000 */
  readonly retryAfterMs?: number;
  /** How often a running check's task is looked at (besides the backend's events). @default 1000 */
  readonly pollMs?: number;
}

interface GroupCheck {
  view: PreflightView;
  key: string;
  running?: Promise<void>;
}

/** The backend job of a group's preflight tasks: `[A-Za-z0-9_-]{1,64}`. */
export function preflightJobId(group: string): string {
  const id = `preflight-${group}`;
  return id.length <= 64
    ? id
    : `preflight-${group.slice(0, 40)}-${createHash('sha256').update(group).digest('hex').slice(0, 12)}`;
}

/** Runs and remembers each group's preflight. */
export class GroupPreflight {
  private readonly checks = new Map<string, GroupCheck>();
  private readonly listeners = new Set<(group: string) => void>();
  private readonly abort = new AbortController();
  private seq = 0;

  constructor(
    private readonly backend: ComputeBackend,
    private readonly logger: Logger,
    private readonly options: GroupPreflightOptions = {},
  ) {}

  /** The group's latest preflight, if it has checks and one was started. */
  view(group: string): PreflightView | undefined {
    return this.checks.get(group)?.view;
  }

  /** Called when a group's preflight changes state; returns the unsubscribe function. */
  onChange(listener: (group: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Forgets a group's preflight (deleted group, new checks). */
  forget(group: string): void {
    this.checks.delete(group);
  }

  /**
   * What may happen to the group's frames now, starting a preflight when none is fresh: `go`
   * once a node passed (a recheck runs in the background when due), `wait` while the first one
   * runs, `refuse` naming what failed while the last one failed.
   */
  verdict(group: string, checks: readonly PreflightCheck[]): DispatchVerdict {
    if (checks.length === 0) return { verdict: 'go' };
    const check = this.ensure(group, checks);
    if (check.view.state === 'passed') return { verdict: 'go' };
    if (check.view.state === 'failed') return { verdict: 'refuse', reason: check.view.message };
    return { verdict: 'wait' };
  }

  private ensure(group: string, checks: readonly PreflightCheck[]): GroupCheck {
    const key = JSON.stringify(checks.map((c) => [c.kind, c.key]));
    let check = this.checks.get(group);
    if (!check || check.key !== key) {
      check = {
        key,
        view: {
          state: 'pending',
          failures: [],
          checks: checks.map((c) => c.kind),
          checkedAt: new Date(),
          message: `preflight of ${checks.map((c) => c.kind).join(' and ')} pending on a node of capacity group ${JSON.stringify(group)}`,
        },
      };
      this.checks.set(group, check);
    }
    const age = Date.now() - check.view.checkedAt.getTime();
    const due =
      check.view.state === 'pending'
        ? !check.running
        : age >=
          (check.view.state === 'passed'
            ? (this.options.recheckAfterMs ?? 600_000)
            : (this.options.retryAfterMs ?? 30_000));
    if (due && !check.running && !this.abort.signal.aborted) {
      const record = check;
      record.running = this.run(group, checks)
        .then((view) => {
          if (this.checks.get(group) !== record) return;
          record.view = view;
          this.logger[view.state === 'passed' ? 'info' : 'warn']('group preflight', {
            group,
            state: view.state,
            node: view.nodeId,
            message: view.message,
          });
          for (const l of this.listeners) l(group);
        })
        .catch((err: unknown) => {
          if (!this.abort.signal.aborted)
            this.logger.warn('group preflight could not run', { group, error: errorText(err) });
        })
        .finally(() => {
          record.running = undefined;
        });
    }
    return check;
  }

  /** Runs the group's checks as one task of its preflight job and reads what the node saw. */
  private async run(group: string, checks: readonly PreflightCheck[]): Promise<PreflightView> {
    const signal = this.abort.signal;
    const jobId = preflightJobId(group);
    const taskId = `check-${Date.now().toString(36)}-${(this.seq++).toString(36)}`;
    await this.backend.createJob({ id: jobId, group, maxTaskRetryCount: 0 }, { abortSignal: signal });
    const done = new Promise<TaskInfo>((resolve) => {
      const off = this.backend.onTaskEvent((e) => {
        if (e.task.jobId === jobId && e.task.taskId === taskId && e.task.state === 'completed') {
          off();
          resolve(e.task);
        }
      });
      const poll = async (): Promise<void> => {
        while (!signal.aborted) {
          await sleep(this.options.pollMs ?? 1000, signal).catch(() => undefined);
          const t = await this.backend.getTask(jobId, taskId, { abortSignal: signal }).catch(() => undefined);
          if (t?.state === 'completed') {
            off();
            resolve(t);
            return;
          }
        }
      };
      void poll();
    });
    await this.backend.addTasks(
      jobId,
      [
        {
          id: taskId,
          // Every check runs, whatever the others answer; each prints its own lines.
          commandLine: checks.map((c) => `{ ${c.command}; }`).join('\n'),
          maxTaskRetryCount: 0,
          maxWallClockMs: checks.reduce((n, c) => n + c.timeoutMs, 0) + 60_000,
        },
      ],
      { abortSignal: signal },
    );
    const task = await done;
    const stdout =
      (
        await this.backend
          .readTaskFile?.(jobId, taskId, 'stdout.txt', { abortSignal: signal })
          .catch(() => undefined)
      )?.toString('utf8') ?? '';
    const where = `on node ${task.nodeId ?? '?'} of capacity group ${JSON.stringify(group)}`;
    const base = {
      checkedAt: new Date(),
      checks: checks.map((c) => c.kind),
      ...(task.nodeId ? { nodeId: task.nodeId } : {}),
    };
    // The check's own job is tidied up; its result is kept here.
    await this.backend.deleteJob(jobId, { abortSignal: signal }).catch(() => undefined);
    const failures: (PreflightFailureView & { code: string })[] = [];
    for (const c of checks) {
      const found = c.parse(stdout);
      if (found === undefined) {
        const why = task.failure
          ? `${task.failure.code}: ${task.failure.message}`
          : `exit code ${task.exitCode ?? '?'}`;
        for (const subject of c.subjects)
          failures.push({
            code: c.errorCode,
            subject,
            message: `${subject}: the ${c.kind} check could not run ${where} (${why})`,
          });
      } else {
        for (const f of found) failures.push({ code: c.errorCode, ...f });
      }
    }
    if (failures.length > 0)
      return {
        ...base,
        state: 'failed',
        failures,
        message: `${failures.map((f) => f.message).join('; ')} — ${where}; frames stay local`,
      };
    return {
      ...base,
      state: 'passed',
      failures: [],
      message: `${checks.map((c) => c.kind).join(' and ')} checked ${where}`,
    };
  }

  /** Stops checks under way. */
  close(): void {
    this.abort.abort();
    this.listeners.clear();
  }
}

/** The plan without offloads to groups that refuse frames now; each dropped one gives its reason. */
export function withoutRefusedGroups<
  O extends { readonly sourceJobId: string; readonly frameCount: number; readonly capacityGroup: string },
>(
  plan: { readonly offload: readonly O[]; readonly reasons: readonly string[] },
  verdict: (group: string) => DispatchVerdict,
): { offload: O[]; reasons: string[] } {
  const offload: O[] = [];
  const reasons = [...plan.reasons];
  for (const o of plan.offload) {
    const v = verdict(o.capacityGroup);
    if (v.verdict === 'refuse')
      reasons.push(`${o.sourceJobId}: ${o.frameCount} frames stay local: ${v.reason}`);
    else offload.push(o);
  }
  return { offload, reasons };
}

/**
 * The records a check's command printed, one `<mark> {"index": i, ...}` line per subject, by
 * index; undefined unless every one of the `count` subjects answered.
 */
export function readCheckLines<R extends { readonly index: number }>(
  stdout: string,
  mark: string,
  count: number,
): Map<number, R> | undefined {
  const found = new Map<number, R>();
  for (const line of stdout.split('\n')) {
    if (!line.startsWith(`${mark} {`)) continue;
    try {
      const r = JSON.parse(line.slice(mark.length + 1)) as R;
      if (Number.isInteger(r.index) && r.index >= 0 && r.index < count) found.set(r.index, r);
    } catch {
      // a line that is not ours
    }
  }
  return found.size === count ? found : undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
