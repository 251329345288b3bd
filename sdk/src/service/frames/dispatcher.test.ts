import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type {
  AddTasksResult,
  CapacityEvent,
  ComputeBackend,
  ComputeJobSpec,
  ComputeTaskSpec,
  FaultKind,
  TaskEvent,
  TaskInfo,
} from '../../compute/backend';
import { batchFaultKind } from '../../compute/batch/errors';
import { silentLogger } from '../../logging';
import type { JobSpec } from '../../model/frames';
import { FrameDispatcher, taskIdOf, type OutputResolver, type TaskFactory } from './dispatcher';
import { FrameStore } from './store';

// The dispatcher's control logic (crash windows, reconcile, generations, recall) against a
// scripted in-memory backend, where every interleaving can be forced. The same paths run
// against the real local engine in test/service.

class ScriptedBackend implements ComputeBackend {
  readonly kind = 'local' as const;
  /** Its scripted faults imitate Batch's (status codes, `ActiveJobAndScheduleQuotaReached`). */
  faultKind(_jobId: string, error: unknown): FaultKind {
    return batchFaultKind(error);
  }
  readonly tasks = new Map<string, TaskInfo>();
  readonly created: string[] = [];
  readonly terminated: string[] = [];
  private listeners = new Set<(e: TaskEvent) => void>();
  failNextAdd = false;
  /** Jobs whose every call fails with this error (a Batch-shaped fault). */
  readonly failing = new Map<string, Error & { statusCode?: number }>();
  /** Calls made per job. */
  readonly calls = new Map<string, number>();

  jobsCreated = 0;
  private fault(jobId: string): void {
    this.calls.set(jobId, (this.calls.get(jobId) ?? 0) + 1);
    const err = this.failing.get(jobId);
    if (err) throw err;
  }

  async createJob(spec: ComputeJobSpec): Promise<void> {
    this.jobsCreated++;
    this.fault(spec.id);
  }
  async addTasks(jobId: string, tasks: readonly ComputeTaskSpec[]): Promise<AddTasksResult> {
    this.fault(jobId);
    const added: string[] = [];
    const alreadyExisted: string[] = [];
    for (const t of tasks) {
      if (this.tasks.has(t.id)) {
        alreadyExisted.push(t.id);
        continue;
      }
      this.tasks.set(t.id, {
        jobId,
        taskId: t.id,
        state: 'active',
        retryCount: 0,
        requeueCount: 0,
        stateTransitionTime: new Date(),
      });
      this.created.push(t.id);
      added.push(t.id);
    }
    if (this.failNextAdd) {
      this.failNextAdd = false;
      throw Object.assign(new Error('OperationTimedOut (applied, then failed)'), { statusCode: 500 });
    }
    return { added, alreadyExisted };
  }
  async getTask(_jobId: string, taskId: string): Promise<TaskInfo | undefined> {
    return this.tasks.get(taskId);
  }
  async *listTasks(): AsyncIterable<TaskInfo> {
    yield* this.tasks.values();
  }
  async getTaskCounts() {
    return { active: 0, running: 0, completed: 0, succeeded: 0, failed: 0 };
  }
  async terminateTask(_jobId: string, taskId: string): Promise<void> {
    this.terminated.push(taskId);
    const t = this.tasks.get(taskId);
    if (t && t.state !== 'completed') this.tasks.set(taskId, { ...t, state: 'completed', result: 'failure' });
  }
  jobsTerminated = 0;
  async terminateJob(): Promise<void> {
    this.jobsTerminated++;
  }
  async deleteJob(): Promise<void> {}
  onTaskEvent(l: (e: TaskEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  /** Moves a task and tells the listeners. */
  emit(taskId: string, type: TaskEvent['type'], change: Partial<TaskInfo>): void {
    const task = { ...this.tasks.get(taskId)!, ...change, stateTransitionTime: new Date() };
    this.tasks.set(taskId, task);
    for (const l of this.listeners) l({ type, task, time: new Date() });
  }
  async ensureGroup(): Promise<never> {
    throw new Error('unused');
  }
  async getGroup() {
    return undefined;
  }
  async listGroups() {
    return [];
  }
  async resizeGroup(): Promise<never> {
    throw new Error('unused');
  }
  async deleteGroup(): Promise<void> {}
  async listNodes() {
    return [];
  }
  async removeNodes(): Promise<void> {}
  onCapacityEvent(_l: (e: CapacityEvent) => void): () => void {
    return () => undefined;
  }
  async close(): Promise<void> {}
}

const factory: TaskFactory = {
  jobFor: (jobId, _spec, group) => ({ id: jobId, group }),
  taskFor: (taskId, _jobId, _frameId, job, frame) => ({
    id: taskId,
    commandLine: `${job.commandTemplate} ${frame.frameStart}`,
  }),
};
const outputs: OutputResolver = {
  outputsOf: async () => [{ path: 'out/f.png', sizeBytes: 3, sha256: 'a'.repeat(64) }],
};
const job: JobSpec = { source: 'test', sourceJobId: 'j1', commandTemplate: 'render' };
const frames = [1, 2, 3].map((n) => ({ sourceTaskId: String(n), frameStart: n, frameEnd: n }));

describe('FrameDispatcher', () => {
  let dir: string;
  let store: FrameStore;
  let backend: ScriptedBackend;
  let dispatcher: FrameDispatcher;

  const start = async (resolver: OutputResolver = outputs): Promise<void> => {
    dispatcher = new FrameDispatcher(store, backend, factory, resolver, {
      defaultGroup: 'default',
      logger: silentLogger,
      retryBaseMs: 1,
    });
    await dispatcher.start();
  };
  const submit = async (): Promise<string[]> => {
    const r = await store.submit(job, frames);
    dispatcher.submitted(r.frames.map((f) => f.frameId));
    await dispatcher.idle();
    return r.frames.map((f) => f.frameId);
  };
  const types = (frameId: string) =>
    store
      .eventsAfter(0, {}, 1000)
      .events.filter((e) => e.frameId === frameId)
      .map((e) => e.type);

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-dispatch-'));
    store = FrameStore.open(dir);
    backend = new ScriptedBackend();
  });
  afterEach(async () => {
    await dispatcher.stop();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('dispatches each frame once and turns task events into frame events', async () => {
    await start();
    const [id] = await submit();
    expect(backend.created).toHaveLength(3);
    backend.emit(id!, 'started', { state: 'running', nodeId: 'n1' });
    backend.emit(id!, 'completed', { state: 'completed', result: 'success', exitCode: 0 });
    await dispatcher.idle();
    expect(types(id!)).toEqual(['queued', 'started', 'succeeded']);
    expect(store.getFrame(id!)).toMatchObject({ state: 'succeeded', attempts: 1, nodeId: 'n1' });
    expect(store.getFrame(id!)!.outputs).toHaveLength(1);
  });

  it("lets the resolver read the finished task's files from its node when the backend serves them", async () => {
    const reads: string[] = [];
    const nodeFiles = Object.assign(backend, {
      readTaskFile: async (jobId: string, taskId: string, file: string) => {
        reads.push(`${jobId}/${taskId}/${file}`);
        return Buffer.from(`manifest of ${taskId}`);
      },
    });
    const seen: (string | undefined)[] = [];
    await start({
      outputsOf: async (_jobId, _frameId, options) => {
        seen.push((await options?.readTaskFile?.('wd/out/outputs.json'))?.toString());
        return [];
      },
    });
    const [id] = await submit();
    nodeFiles.emit(id!, 'completed', { state: 'completed', result: 'success', exitCode: 0 });
    await dispatcher.idle();
    const jobId = store.getFrame(id!)!.jobId;
    expect(reads).toEqual([`${jobId}/${id}/wd/out/outputs.json`]);
    expect(seen).toEqual([`manifest of ${id}`]);
    expect(store.getFrame(id!)).toMatchObject({ state: 'succeeded' });
  });

  it('retries a fault after the backend applied the call without creating any task twice', async () => {
    await start();
    backend.failNextAdd = true;
    await submit();
    await new Promise((r) => setTimeout(r, 50));
    await dispatcher.idle();
    expect(backend.created).toHaveLength(3);
    expect(new Set(backend.created).size).toBe(3);
    expect(store.unfinishedFrames().map((f) => f.state)).toEqual(['queued', 'queued', 'queued']);
  });

  it('after a restart, finds the tasks the backend already has instead of adding them again', async () => {
    await start();
    const ids = await submit();
    backend.emit(ids[0]!, 'started', { state: 'running' });
    backend.emit(ids[0]!, 'completed', { state: 'completed', result: 'success', exitCode: 0 });
    backend.emit(ids[1]!, 'started', { state: 'running' });
    await dispatcher.idle();
    await dispatcher.stop();
    // While the service was down, frame 2 finished and frame 3 started.
    backend.emit(ids[1]!, 'completed', { state: 'completed', result: 'success', exitCode: 0 });
    backend.emit(ids[2]!, 'started', { state: 'running' });

    await start();
    await dispatcher.idle();
    expect(backend.created).toHaveLength(3);
    expect(types(ids[1]!)).toEqual(['queued', 'started', 'succeeded']);
    expect(types(ids[2]!)).toEqual(['queued', 'started']);
  });

  it('hands frames over again when the backend lost them (an embedded engine restarted)', async () => {
    await start();
    const ids = await submit();
    await dispatcher.stop();
    backend = new ScriptedBackend();
    await start();
    await dispatcher.idle();
    expect(backend.created.sort()).toEqual([...ids].sort());
  });

  it('requeues and hands over again a frame that was running when the backend lost its task', async () => {
    await start();
    const [running] = await submit();
    backend.emit(running!, 'started', { state: 'running' });
    await dispatcher.idle();
    await dispatcher.stop();
    backend = new ScriptedBackend();
    await start();
    await dispatcher.idle();
    expect(backend.created).toContain(running);
    expect(types(running!)).toEqual(['queued', 'started', 'retrying']);
    expect(store.getFrame(running!)?.state).toBe('queued');
  });

  it('recalls a frame still waiting and leaves a running one; a recalled frame offloaded again is a new task', async () => {
    await start();
    const [waiting, running] = await submit();
    backend.emit(running!, 'started', { state: 'running' });
    await dispatcher.idle();
    const result = await dispatcher.recall([waiting!, running!], 'local workers free');
    expect(result).toEqual({ recalled: [waiting], notRecalled: [running] });
    expect(backend.terminated).toEqual([waiting]);
    expect(store.getFrame(waiting!)!.state).toBe('recalled');

    // Late news of the terminated task changes nothing.
    backend.emit(waiting!, 'completed', { state: 'completed', result: 'failure' });
    await dispatcher.idle();
    expect(store.getFrame(waiting!)!.state).toBe('recalled');

    const again = await store.submit(job, [frames[0]!]);
    expect(again.frames[0]).toMatchObject({ frameId: waiting, created: true, state: 'queued' });
    dispatcher.submitted([waiting!]);
    await dispatcher.idle();
    expect(backend.created).toContain(taskIdOf(waiting!, 2));
  });

  it('reports preemption and retries, then a failure past retries', async () => {
    await start();
    const [id] = await submit();
    backend.emit(id!, 'started', { state: 'running' });
    backend.emit(id!, 'preempted', { state: 'active', requeueCount: 1 });
    backend.emit(id!, 'started', { state: 'running', requeueCount: 1 });
    backend.emit(id!, 'retrying', { state: 'active', retryCount: 1, exitCode: 3 });
    backend.emit(id!, 'started', { state: 'running', retryCount: 1, requeueCount: 1 });
    backend.emit(id!, 'completed', {
      state: 'completed',
      result: 'failure',
      exitCode: 3,
      retryCount: 1,
      requeueCount: 1,
    });
    await dispatcher.idle();
    expect(types(id!)).toEqual([
      'queued',
      'started',
      'preempted',
      'started',
      'retrying',
      'started',
      'failed',
    ]);
    expect(store.getFrame(id!)).toMatchObject({ state: 'failed', attempts: 3, preemptions: 1, exitCode: 3 });
  });

  it('fails a frame whose task succeeded but whose outputs are missing: never done without outputs', async () => {
    await start({ outputsOf: async () => Promise.reject(new Error('outputs.json not found')) });
    const [id] = await submit();
    backend.emit(id!, 'completed', { state: 'completed', result: 'success', exitCode: 0 });
    await dispatcher.idle();
    expect(store.getFrame(id!)).toMatchObject({ state: 'failed' });
    expect(store.getFrame(id!)!.message).toMatch(/outputs are missing.*outputs.json not found/);
  });

  it('ends the backend job when its last frame settles, and opens it again for frames added later', async () => {
    await start();
    const ids = await submit();
    backend.emit(ids[0]!, 'completed', { state: 'completed', result: 'success', exitCode: 0 });
    backend.emit(ids[1]!, 'completed', { state: 'completed', result: 'failure', exitCode: 1 });
    await dispatcher.idle();
    expect(backend.jobsTerminated).toBe(0); // one frame still queued: the job stays
    backend.emit(ids[2]!, 'completed', { state: 'completed', result: 'success', exitCode: 0 });
    await dispatcher.idle();
    expect(store.getJob(store.getFrame(ids[0]!)!.jobId)!.state).toBe('completed');
    expect(backend.jobsTerminated).toBe(1); // it no longer counts against Batch's active-job quota
    expect(backend.jobsCreated).toBe(1);
    const later = await store.submit(job, [{ sourceTaskId: '4', frameStart: 4, frameEnd: 4 }]);
    dispatcher.submitted([later.frames[0]!.frameId]);
    await dispatcher.idle();
    expect(backend.created).toContain(later.frames[0]!.frameId);
    expect(backend.jobsCreated).toBe(2); // asked for again: the backend replaces the ended job
  });

  it('cancels a job: unfinished frames end cancelled and their tasks are ended', async () => {
    await start();
    const ids = await submit();
    backend.emit(ids[0]!, 'completed', { state: 'completed', result: 'success', exitCode: 0 });
    await dispatcher.idle();
    await dispatcher.cancel(store.getFrame(ids[0]!)!.jobId, 'user asked');
    expect(ids.map((id) => store.getFrame(id)!.state)).toEqual(['succeeded', 'cancelled', 'cancelled']);
    expect(backend.terminated.sort()).toEqual([ids[1], ids[2]].sort());
  });

  describe('a job that cannot be dispatched is isolated', () => {
    const other: JobSpec = { source: 'test', sourceJobId: 'j2', commandTemplate: 'render' };
    const submitJob = async (spec: JobSpec): Promise<string[]> => {
      const r = await store.submit(spec, frames);
      dispatcher.submitted(r.frames.map((f) => f.frameId));
      return r.frames.map((f) => f.frameId);
    };
    const jobIdOf = (frameId: string): string => store.getFrame(frameId)!.jobId;
    const until = async (what: () => boolean): Promise<void> => {
      const deadline = Date.now() + 5000;
      while (!what()) {
        if (Date.now() > deadline) throw new Error('timed out');
        await new Promise((r) => setTimeout(r, 2));
      }
    };

    // GIVEN a backend that refuses one job's calls with a fault that is not retryable
    // WHEN both jobs are submitted THEN that job's frames fail at once with the reason, after
    // one attempt, and the other job is dispatched.
    it('fails frames at once on a fault that is not retryable', async () => {
      await start();
      const bad = await submitJob(job);
      backend.failing.set(
        jobIdOf(bad[0]!),
        Object.assign(new Error('PoolNotFound: no pool'), { statusCode: 404 }),
      );
      const good = await submitJob(other);
      await dispatcher.idle();
      expect(bad.map((id) => store.getFrame(id)!.state)).toEqual(['failed', 'failed', 'failed']);
      expect(store.getFrame(bad[0]!)!.message).toMatch(
        /could not be handed to the compute backend: PoolNotFound/,
      );
      expect(backend.calls.get(jobIdOf(bad[0]!))).toBe(1);
      expect(backend.created.sort()).toEqual([...good].sort());
    });

    // GIVEN one job whose calls always fail with a retryable fault WHEN another job is
    // submitted while it backs off THEN the other job is dispatched without waiting, and
    // the failing job stops after its bounded attempts, its frames failed with the reason.
    it('retries a retryable fault a bounded number of times without holding up other jobs', async () => {
      dispatcher = new FrameDispatcher(store, backend, factory, outputs, {
        defaultGroup: 'default',
        logger: silentLogger,
        retryBaseMs: 40,
        maxDispatchAttempts: 4,
      });
      await dispatcher.start();
      const bad = await submitJob(job);
      backend.failing.set(jobIdOf(bad[0]!), Object.assign(new Error('ServerBusy'), { statusCode: 503 }));
      await until(() => (backend.calls.get(jobIdOf(bad[0]!)) ?? 0) >= 1);
      const good = await submitJob(other);
      await until(() => good.every((id) => backend.created.includes(id)));
      // The other job went through while the first was still retrying.
      expect(bad.map((id) => store.getFrame(id)!.state)).toEqual(['queued', 'queued', 'queued']);
      await dispatcher.idle();
      expect(backend.calls.get(jobIdOf(bad[0]!))).toBe(4);
      expect(bad.map((id) => store.getFrame(id)!.state)).toEqual(['failed', 'failed', 'failed']);
      expect(store.getFrame(bad[0]!)!.message).toMatch(/after 4 attempts: ServerBusy/);
    });

    // GIVEN an account at its active-job quota WHEN a job's creation is refused more times than
    // the fault bound THEN the job waits (no frame fails) and goes once the quota clears.
    it('waits for the active-job quota without counting it as a fault', async () => {
      dispatcher = new FrameDispatcher(store, backend, factory, outputs, {
        defaultGroup: 'default',
        logger: silentLogger,
        retryBaseMs: 5,
        retryMaxMs: 20,
        maxDispatchAttempts: 2,
      });
      await dispatcher.start();
      const quota = Object.assign(new Error('ActiveJobAndScheduleQuotaReached'), {
        statusCode: 409,
        code: 'ActiveJobAndScheduleQuotaReached',
      });
      const ids = await submitJob(job);
      backend.failing.set(jobIdOf(ids[0]!), quota);
      await until(() => (backend.calls.get(jobIdOf(ids[0]!)) ?? 0) >= 5);
      expect(ids.map((id) => store.getFrame(id)!.state)).toEqual(['queued', 'queued', 'queued']);
      backend.failing.delete(jobIdOf(ids[0]!));
      await until(() => ids.every((id) => backend.created.includes(id)));
      expect(ids.map((id) => store.getFrame(id)!.state)).toEqual(['queued', 'queued', 'queued']);
    });

    // GIVEN one job at a time and a job waiting for the active-job quota WHEN another job (whose
    // backend job exists) is submitted THEN it is dispatched without waiting; WHEN the waiting
    // job is cancelled THEN cancel answers at once and its job is never asked for again.
    it('a job waiting for the active-job quota holds up no other job, and cancel wins over the wait', async () => {
      dispatcher = new FrameDispatcher(store, backend, factory, outputs, {
        defaultGroup: 'default',
        logger: silentLogger,
        retryBaseMs: 60_000,
        concurrentJobs: 1,
      });
      await dispatcher.start();
      const waiting = await submitJob(job);
      const waitingJob = jobIdOf(waiting[0]!);
      backend.failing.set(
        waitingJob,
        Object.assign(new Error('ActiveJobAndScheduleQuotaReached'), {
          statusCode: 409,
          code: 'ActiveJobAndScheduleQuotaReached',
        }),
      );
      await until(() => (backend.calls.get(waitingJob) ?? 0) >= 1);
      const good = await submitJob(other);
      await until(() => good.every((id) => backend.created.includes(id)));
      expect(waiting.map((id) => store.getFrame(id)!.state)).toEqual(['queued', 'queued', 'queued']);
      const started = Date.now();
      await dispatcher.cancel(waitingJob, 'user asked');
      expect(Date.now() - started).toBeLessThan(1000);
      expect(waiting.map((id) => store.getFrame(id)!.state)).toEqual(['cancelled', 'cancelled', 'cancelled']);
      await dispatcher.idle();
      expect(backend.calls.get(waitingJob)).toBe(1);
    });

    // GIVEN a job backing off after retryable faults WHEN it is cancelled THEN cancel returns at
    // once, every frame is cancelled, and no retry is ever made.
    it('cancel wins over a retry', async () => {
      dispatcher = new FrameDispatcher(store, backend, factory, outputs, {
        defaultGroup: 'default',
        logger: silentLogger,
        retryBaseMs: 60_000,
      });
      await dispatcher.start();
      const bad = await submitJob(job);
      backend.failing.set(jobIdOf(bad[0]!), Object.assign(new Error('ServerBusy'), { statusCode: 503 }));
      await until(() => (backend.calls.get(jobIdOf(bad[0]!)) ?? 0) >= 1);
      const started = Date.now();
      await dispatcher.cancel(jobIdOf(bad[0]!), 'user asked');
      expect(Date.now() - started).toBeLessThan(1000);
      expect(bad.map((id) => store.getFrame(id)!.state)).toEqual(['cancelled', 'cancelled', 'cancelled']);
      await dispatcher.idle();
      expect(backend.calls.get(jobIdOf(bad[0]!))).toBe(1);
    });

    // GIVEN a job backing off for a minute WHEN its frames and another job's are recalled
    // THEN the recall answers at once.
    it('recall never waits for a retry', async () => {
      dispatcher = new FrameDispatcher(store, backend, factory, outputs, {
        defaultGroup: 'default',
        logger: silentLogger,
        retryBaseMs: 60_000,
      });
      await dispatcher.start();
      const bad = await submitJob(job);
      backend.failing.set(jobIdOf(bad[0]!), Object.assign(new Error('ServerBusy'), { statusCode: 503 }));
      await until(() => (backend.calls.get(jobIdOf(bad[0]!)) ?? 0) >= 1);
      const good = await submitJob(other);
      await until(() => good.every((id) => backend.created.includes(id)));
      const started = Date.now();
      const result = await dispatcher.recall([bad[0]!, good[0]!], 'local workers free');
      expect(Date.now() - started).toBeLessThan(1000);
      expect(result.recalled.sort()).toEqual([bad[0], good[0]].sort());
      await dispatcher.cancel(jobIdOf(bad[0]!), 'done');
    });
  });
});
