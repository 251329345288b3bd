/**
 * The licence preflight: before a group's first frame is sent, a node of the group connects to
 * each of the group's licence servers (a task of the group's own backend job, so the check
 * runs where the renderer will: through the node's VPN routes, DNS and firewall). Until it
 * passes, the group's frames are held; when a server cannot be reached, the group is unhealthy,
 * its frames go back to the local farm and submissions are refused, naming the server.
 */
import { createHash } from 'node:crypto';
import type { ComputeBackend, TaskInfo } from '../../compute/backend';
import type { LicenseServer } from '../../gen/spillway/v1/capacity';
import type { Logger } from '../../logging';
import { sleep } from '../../retry';
import { licensePreflightCommand, serverLabel, unreachableServers } from './environments';

/** Where a group's licence check stands. */
export interface LicenseCheckView {
  readonly state: 'pending' | 'passed' | 'failed';
  /** `name (host:port): error` of each server the node could not reach. */
  readonly unreachable: readonly string[];
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
export interface LicensePreflightOptions {
  /** TCP connect timeout per server, on the node. @default 5000 */
  readonly connectTimeoutMs?: number;
  /** A passed check is repeated after this long (frames keep flowing meanwhile). @default 600000 */
  readonly recheckAfterMs?: number;
  /** A failed check is repeated after this long, when the group is asked for again. @default 30000 */
  readonly retryAfterMs?: number;
  /** How often a running check's task is looked at (besides the backend's events). @default 1000 */
  readonly pollMs?: number;
}

interface GroupCheck {
  view: LicenseCheckView;
  /** The servers checked (a spec change starts over). */
  key: string;
  running?: Promise<void>;
}

/** The backend job of a group's checks: `[A-Za-z0-9_-]{1,64}`. */
export function preflightJobId(group: string): string {
  const id = `preflight-${group}`;
  return id.length <= 64
    ? id
    : `preflight-${group.slice(0, 40)}-${createHash('sha256').update(group).digest('hex').slice(0, 12)}`;
}

/** Runs and remembers each group's licence check. */
export class LicensePreflight {
  private readonly checks = new Map<string, GroupCheck>();
  private readonly listeners = new Set<(group: string) => void>();
  private readonly abort = new AbortController();
  private seq = 0;

  constructor(
    private readonly backend: ComputeBackend,
    private readonly logger: Logger,
    private readonly options: LicensePreflightOptions = {},
  ) {}

  /** The group's latest check, if it has licence servers and one was started. */
  view(group: string): LicenseCheckView | undefined {
    return this.checks.get(group)?.view;
  }

  /** Called when a group's check changes state. */
  onChange(listener: (group: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Forgets a group's checks (deleted group, or new servers). */
  forget(group: string): void {
    this.checks.delete(group);
  }

  /**
   * What may happen to the group's frames now, starting a check when none is fresh: `go` once
   * a node passed (a recheck runs in the background when due), `wait` while the first check
   * runs, `refuse` naming the servers while the last check failed.
   */
  verdict(group: string, servers: readonly LicenseServer[]): DispatchVerdict {
    if (servers.length === 0) return { verdict: 'go' };
    const check = this.ensure(group, servers);
    if (check.view.state === 'passed') return { verdict: 'go' };
    if (check.view.state === 'failed') return { verdict: 'refuse', reason: check.view.message };
    return { verdict: 'wait' };
  }

  /** Starts a check now unless one is running or fresh; returns the group's record. */
  private ensure(group: string, servers: readonly LicenseServer[]): GroupCheck {
    const key = JSON.stringify(servers.map((s) => [s.address, s.name]));
    let check = this.checks.get(group);
    if (!check || check.key !== key) {
      check = {
        key,
        view: {
          state: 'pending',
          unreachable: [],
          checkedAt: new Date(),
          message: pendingMessage(group, servers),
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
      record.running = this.run(group, servers)
        .then((view) => {
          if (this.checks.get(group) !== record) return;
          record.view = view;
          this.logger[view.state === 'passed' ? 'info' : 'warn']('licence check', {
            group,
            state: view.state,
            node: view.nodeId,
            message: view.message,
          });
          for (const l of this.listeners) l(group);
        })
        .catch((err: unknown) => {
          if (!this.abort.signal.aborted)
            this.logger.warn('licence check could not run', { group, error: errorText(err) });
        })
        .finally(() => {
          record.running = undefined;
        });
    }
    return check;
  }

  /** Runs one check as a task of the group's preflight job and reads what the node saw. */
  private async run(group: string, servers: readonly LicenseServer[]): Promise<LicenseCheckView> {
    const signal = this.abort.signal;
    const jobId = preflightJobId(group);
    const taskId = `check-${Date.now().toString(36)}-${(this.seq++).toString(36)}`;
    const timeoutMs = this.options.connectTimeoutMs ?? 5000;
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
          commandLine: licensePreflightCommand(servers, timeoutMs),
          maxTaskRetryCount: 0,
          maxWallClockMs: timeoutMs * servers.length + 60_000,
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
    const unreachable = unreachableServers(servers, stdout);
    const base = { checkedAt: new Date(), ...(task.nodeId ? { nodeId: task.nodeId } : {}) };
    const where = `from node ${task.nodeId ?? '?'} of capacity group ${JSON.stringify(group)}`;
    // The check's own job is tidied up; its result is kept here.
    await this.backend.deleteJob(jobId, { abortSignal: signal }).catch(() => undefined);
    if (unreachable === undefined) {
      const all = servers.map(serverLabel);
      const failure = task.failure
        ? `${task.failure.code}: ${task.failure.message}`
        : `exit code ${task.exitCode ?? '?'}`;
      const view: LicenseCheckView = {
        ...base,
        state: 'failed',
        unreachable: all.map((s) => `${s}: the check could not run (${failure})`),
        message: `the licence check of ${all.join(', ')} could not run ${where} (${failure}); frames stay local`,
      };
      return view;
    }
    if (unreachable.length > 0) {
      return {
        ...base,
        state: 'failed',
        unreachable,
        message: `licence server ${unreachable.join('; ')} — unreachable ${where} within ${timeoutMs} ms; frames stay local until it can be reached`,
      };
    }
    return { ...base, state: 'passed', unreachable: [], message: `every licence server reached ${where}` };
  }

  /** Stops checks under way. */
  close(): void {
    this.abort.abort();
    this.listeners.clear();
  }
}

/**
 * A plan's offload decisions without those to groups that refuse frames now (a licence
 * server cannot be reached), each dropped one explained in `reasons`: those frames stay local.
 */
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

function pendingMessage(group: string, servers: readonly LicenseServer[]): string {
  return `licence check of ${servers.map(serverLabel).join(', ')} pending on a node of capacity group ${JSON.stringify(group)}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
