/**
 * A testing farm's worker in a process of its own: what `deadlineworker` is on a cloud
 * instance of the testing farm. It registers with the fake Web Service, asks for a task on
 * every heartbeat, runs the task's command as a child process (its own process group, at
 * render niceness), reports the exit code, and stops rendering a task the farm took back
 * (requeued, suspended, completed from outside). Stopped (SIGTERM), it gives its task back
 * at once and goes offline, as a Deadline Worker that shuts down mid-task requeues it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { RENDER_NICENESS, shellCommand } from '@spillway/sdk/compute';
import type { RemoteTask } from './fake-deadline';

/** Options of `DeadlineTestingWorker.start`. */
export interface DeadlineTestingWorkerOptions {
  /** The fake Web Service, `http://host:port`. */
  readonly repository: string;
  /** The worker's name (its host name). */
  readonly name: string;
  /** Groups it registers with (besides those already set for it). @default [] */
  readonly groups?: readonly string[];
  /** @default [] */
  readonly pools?: readonly string[];
  /** Heartbeat and task poll. @default 200 */
  readonly pollIntervalMs?: number;
  /** Where it says what it does. @default stderr */
  readonly log?: (line: string) => void;
}

/** The worker. */
export class DeadlineTestingWorker {
  private timer: NodeJS.Timeout | undefined;
  private current: { task: RemoteTask; child: ChildProcess; cancelled: boolean } | undefined;
  private polling = false;
  private stopping = false;
  private readonly log: (line: string) => void;

  private constructor(private readonly options: DeadlineTestingWorkerOptions) {
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  /** Registers and starts taking tasks. */
  static async start(options: DeadlineTestingWorkerOptions): Promise<DeadlineTestingWorker> {
    const worker = new DeadlineTestingWorker(options);
    await worker.call('/spillway-testing/workers', {
      name: options.name,
      groups: options.groups ?? [],
      pools: options.pools ?? [],
    });
    worker.log(`worker ${options.name} registered with ${options.repository}`);
    worker.timer = setInterval(() => void worker.poll(), options.pollIntervalMs ?? 200);
    return worker;
  }

  private async call(route: string, body: unknown): Promise<unknown> {
    const res = await fetch(`${this.options.repository}${route}`, {
      method: route.startsWith('/api/') ? 'PUT' : 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${route}: ${res.status} ${text}`);
    return res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as unknown) : text;
  }

  private route(verb: 'poll' | 'done' | 'stop'): string {
    return `/spillway-testing/workers/${encodeURIComponent(this.options.name)}/${verb}`;
  }

  private async poll(): Promise<void> {
    if (this.polling || this.stopping) return;
    this.polling = true;
    try {
      const cur = this.current;
      const answer = (await this.call(this.route('poll'), {
        ...(cur && !cur.cancelled ? { rendering: { jobId: cur.task.jobId, taskId: cur.task.taskId } } : {}),
      })) as { cancel?: boolean; task?: RemoteTask };
      if (answer.cancel && cur && !cur.cancelled) {
        this.log(`task ${cur.task.jobId}:${cur.task.taskId} was taken back; stopping its render`);
        cur.cancelled = true;
        killGroup(cur.child);
      }
      if (answer.task && !this.current) this.run(answer.task);
    } catch (err) {
      this.log(`heartbeat failed: ${(err as Error).message}`);
    } finally {
      this.polling = false;
    }
  }

  private run(task: RemoteTask): void {
    this.log(`rendering ${task.jobId}:${task.taskId} (frames ${task.frames})`);
    const [file, args] = shellCommand(task.command, RENDER_NICENESS);
    const child = spawn(file, args, {
      stdio: 'ignore',
      env: { ...process.env, ...task.environment },
      detached: true,
    });
    const entry = { task, child, cancelled: false };
    this.current = entry;
    child.once('error', () => undefined);
    child.once('exit', (code) => {
      if (this.current === entry) this.current = undefined;
      if (entry.cancelled || this.stopping) return;
      this.log(`task ${task.jobId}:${task.taskId} exited ${code}`);
      void this.call(this.route('done'), { jobId: task.jobId, taskId: task.taskId, exitCode: code }).catch(
        (err: Error) => this.log(`reporting the task failed: ${err.message}`),
      );
    });
  }

  /** Shuts down: the running render is stopped and its task given back; the worker is offline. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    const cur = this.current;
    if (cur) killGroup(cur.child);
    await this.call(this.route('stop'), {}).catch((err: Error) =>
      this.log(`telling the farm it stops failed: ${err.message}`),
    );
    this.log(
      `worker ${this.options.name} stopped${cur ? `; task ${cur.task.jobId}:${cur.task.taskId} given back` : ''}`,
    );
  }
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/**
 * `deadlineworker -nogui -name NAME` of the testing farm: reads the repository address that
 * the testing `deadlinecommand -ChangeRepository` stored, runs a worker until SIGTERM/SIGINT.
 */
export async function testingWorkerMain(argv: readonly string[], repository: string): Promise<void> {
  const flag = (name: string): string | undefined => {
    const i = argv.findIndex((a) => a.toLowerCase() === `-${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const name = flag('name');
  if (!name) throw new Error('deadlineworker: -name NAME is required');
  const worker = await DeadlineTestingWorker.start({ repository, name });
  await new Promise<void>((resolve) => {
    const stop = (): void => void worker.stop().then(resolve, resolve);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

/** Where the testing `deadlinecommand` keeps the repository address (as Deadline keeps deadline.ini). */
export function repositoryFile(home: string): string {
  return `${home}/.spillway-testing/deadline-repository`;
}

/**
 * `deadlinecommand` of the testing farm, for what a worker's start-up runs:
 * `-ChangeRepository Proxy host:port [certificate]` (stores `http://host:port`),
 * `-SetGroupsForSlave NAME a,b` and `-SetPoolsForSlave NAME a,b` (through the Web Service's
 * `PUT /api/groups` / `PUT /api/pools`). Returns the exit code.
 */
export async function testingDeadlineCommandMain(argv: readonly string[], home: string): Promise<number> {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const [command, ...rest] = argv;
  const file = repositoryFile(home);
  switch (command?.toLowerCase()) {
    case '-changerepository': {
      const [mode, address] = rest;
      if (mode?.toLowerCase() !== 'proxy' || !address || !/^[^\s:]+:\d+$/.test(address)) {
        process.stderr.write(
          'deadlinecommand (testing): only -ChangeRepository Proxy host:port is supported\n',
        );
        return 1;
      }
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, `http://${address}\n`);
      return 0;
    }
    case '-setgroupsforslave':
    case '-setpoolsforslave': {
      const [name, list] = rest;
      if (!name || list === undefined) {
        process.stderr.write(`deadlinecommand (testing): ${command} NAME a,b\n`);
        return 1;
      }
      const groups = command.toLowerCase() === '-setgroupsforslave';
      const repository = fs.readFileSync(file, 'utf8').trim();
      const res = await fetch(`${repository}/api/${groups ? 'groups' : 'pools'}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          OverWrite: true,
          Slave: name,
          [groups ? 'Group' : 'Pool']: list.split(',').filter(Boolean),
        }),
        signal: AbortSignal.timeout(5000),
      });
      if (!res.ok) {
        process.stderr.write(`deadlinecommand (testing): ${res.status} ${await res.text()}\n`);
        return 1;
      }
      return 0;
    }
    default:
      process.stderr.write(`deadlinecommand (testing): ${command ?? '(none)'} is not supported\n`);
      return 1;
  }
}
