import * as fs from 'node:fs';
import * as path from 'node:path';
import { LocalEngine } from './engine';
import type { EngineTask, EngineTaskEvent } from './types';

function until(
  engine: LocalEngine,
  jobId: string,
  pred: (t: EngineTask[]) => boolean,
  ms = 15_000,
): Promise<EngineTask[]> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      const tasks = [...engine.listTasks(jobId)];
      if (pred(tasks)) return resolve(tasks);
      if (Date.now() > deadline)
        return reject(new Error(`timed out: ${JSON.stringify(tasks.map((t) => [t.id, t.state]))}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}
/** Gone, or a zombie nobody reaped (PID 1 in a container may not reap). */
function dead(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}
/**
 * Dead within 5 s: a SIGKILLed process is gone once the kernel has run its exit, which under
 * load can come after the task's end was seen (a `sleep 30` that was not killed outlives this).
 */
async function diesSoon(pid: number): Promise<boolean> {
  const end = Date.now() + 5000;
  while (!dead(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return dead(pid);
}
const allDone = (n: number) => (ts: EngineTask[]) =>
  ts.length === n && ts.every((t) => t.state === 'completed');

describe('LocalEngine', () => {
  let engine: LocalEngine;
  afterEach(async () => engine.close());

  it('GIVEN a pool of 2 nodes x 2 slots WHEN 6 tasks run THEN each runs once with the Batch environment, output captured', async () => {
    engine = new LocalEngine({ bootDelayMs: 20 });
    engine.addPool({ id: 'p', vmSize: 'x', taskSlotsPerNode: 2, targetDedicatedNodes: 2 });
    engine.addJob({ id: 'j', poolId: 'p', environment: { GREETING: 'hi' } });
    for (let i = 0; i < 6; i++) {
      engine.addTask('j', {
        id: `t${i}`,
        commandLine:
          'echo "$GREETING $AZ_BATCH_JOB_ID $AZ_BATCH_TASK_ID $AZ_BATCH_NODE_ID" && pwd && echo err >&2',
      });
    }
    const tasks = await until(engine, 'j', allDone(6));
    expect(tasks.every((t) => t.result === 'success' && t.exitCode === 0)).toBe(true);
    const t0 = tasks[0]!;
    const stdout = fs.readFileSync(path.join(t0.taskDir!, 'stdout.txt'), 'utf8');
    expect(stdout).toContain(`hi j t0 ${t0.nodeId}`);
    expect(stdout).toContain(path.join(t0.taskDir!, 'wd'));
    expect(fs.readFileSync(path.join(t0.taskDir!, 'stderr.txt'), 'utf8')).toBe('err\n');
    expect(engine.taskCounts('j')).toEqual({ active: 0, running: 0, completed: 6, succeeded: 6, failed: 0 });
    expect(new Set(tasks.map((t) => t.nodeId)).size).toBe(2);
  });

  it('GIVEN a job with preparation and release WHEN tasks run on 2 nodes THEN preparation runs once per node and release at job end', async () => {
    engine = new LocalEngine();
    engine.addPool({ id: 'p', vmSize: 'x', targetDedicatedNodes: 2 });
    const marker = path.join(engine.rootDir, 'marks');
    fs.mkdirSync(marker);
    engine.addJob({
      id: 'j',
      poolId: 'p',
      preparation: {
        commandLine: `echo "$AZ_BATCH_NODE_ID" >> ${marker}/prep && echo asset > "$AZ_BATCH_NODE_SHARED_DIR/asset"`,
      },
      release: { commandLine: `echo "$AZ_BATCH_NODE_ID" >> ${marker}/release` },
    });
    for (let i = 0; i < 8; i++)
      engine.addTask('j', {
        id: `t${i}`,
        commandLine: 'cat "$AZ_BATCH_NODE_SHARED_DIR/asset" && test -d "$AZ_BATCH_JOB_PREP_WORKING_DIR"',
      });
    const tasks = await until(engine, 'j', allDone(8));
    expect(tasks.filter((t) => t.result !== 'success')).toEqual([]);
    const prep = fs.readFileSync(path.join(marker, 'prep'), 'utf8').trim().split('\n');
    expect(prep.sort()).toEqual([...new Set(tasks.map((t) => t.nodeId!))].sort());
    await engine.terminateJob('j');
    expect(fs.readFileSync(path.join(marker, 'release'), 'utf8').trim().split('\n').sort()).toEqual(
      prep.sort(),
    );
    expect(engine.getJob('j')?.state).toBe('completed');
  });

  it('GIVEN a node that ran a job preparation WHEN it reboots THEN the preparation runs again before its next task', async () => {
    engine = new LocalEngine();
    engine.addPool({ id: 'p', vmSize: 'x', targetDedicatedNodes: 1 });
    const marks = path.join(engine.rootDir, 'prep-runs');
    engine.addJob({ id: 'j', poolId: 'p', preparation: { commandLine: `echo run >> ${marks}` } });
    engine.addTask('j', { id: 'a', commandLine: 'true' });
    const [a] = await until(engine, 'j', allDone(1));
    engine.rebootNode('p', a!.nodeId!);
    engine.addTask('j', { id: 'b', commandLine: 'true' });
    await until(engine, 'j', allDone(2));
    expect(fs.readFileSync(marks, 'utf8')).toBe('run\nrun\n');
  });

  it('GIVEN a failing task with 2 retries WHEN it runs THEN it is tried 3 times and completes failed', async () => {
    engine = new LocalEngine();
    engine.addPool({ id: 'p', vmSize: 'x', targetDedicatedNodes: 1 });
    engine.addJob({ id: 'j', poolId: 'p', maxTaskRetryCount: 2 });
    engine.addTask('j', { id: 'bad', commandLine: 'exit 3' });
    const [t] = await until(engine, 'j', allDone(1));
    expect(t).toMatchObject({ result: 'failure', exitCode: 3, retryCount: 2, requeueCount: 0 });
    expect(t!.failureInfo?.code).toBe('FailureExitCode');
  });

  it('GIVEN a task that starts a background child WHEN its wall clock runs out THEN the whole process tree is killed', async () => {
    engine = new LocalEngine();
    engine.addPool({ id: 'p', vmSize: 'x', targetDedicatedNodes: 1 });
    engine.addJob({ id: 'j', poolId: 'p' });
    const pidFile = path.join(engine.rootDir, 'child.pid');
    engine.addTask('j', {
      id: 'slow',
      commandLine: `sleep 30 & echo $! > ${pidFile}; wait`,
      // Long enough for the shell to record its child on a loaded machine.
      maxWallClockMs: 2_000,
    });
    const [t] = await until(engine, 'j', allDone(1));
    expect(t?.failureInfo?.code).toBe('MaxWallClockTimeExpiry');
    expect(await diesSoon(Number(fs.readFileSync(pidFile, 'utf8')))).toBe(true);
  });

  it('GIVEN a running task WHEN it is terminated THEN its process group dies and it completes with TaskEnded', async () => {
    engine = new LocalEngine();
    engine.addPool({ id: 'p', vmSize: 'x', targetDedicatedNodes: 1 });
    engine.addJob({ id: 'j', poolId: 'p' });
    const pidFile = path.join(engine.rootDir, 'child.pid');
    engine.addTask('j', { id: 'long', commandLine: `sleep 30 & echo $! > ${pidFile}; wait` });
    await until(
      engine,
      'j',
      (ts) => ts[0]?.state === 'running' && fs.existsSync(pidFile) && fs.statSync(pidFile).size > 0,
    );
    engine.terminateTask('j', 'long');
    const [t] = await until(engine, 'j', allDone(1));
    expect(t?.failureInfo?.code).toBe('TaskEnded');
    expect(await diesSoon(Number(fs.readFileSync(pidFile, 'utf8')))).toBe(true);
  });

  it('GIVEN tasks running on spot nodes WHEN the nodes are preempted THEN tasks are requeued without using retries and complete once', async () => {
    engine = new LocalEngine({ spotRecoveryMs: 50, bootDelayMs: 20 });
    engine.addPool({ id: 'p', vmSize: 'x', targetSpotNodes: 2, targetDedicatedNodes: 1 });
    engine.addJob({ id: 'j', poolId: 'p' });
    const events: EngineTaskEvent[] = [];
    engine.onTaskEvent((e) => events.push(e));
    for (let i = 0; i < 3; i++) engine.addTask('j', { id: `t${i}`, commandLine: 'sleep 0.4' });
    await until(engine, 'j', (ts) => ts.filter((t) => t.state === 'running').length === 3);
    const preempted = engine.preemptSpotNodes('p', 2);
    expect(preempted).toHaveLength(2);
    const tasks = await until(engine, 'j', allDone(3));
    expect(tasks.every((t) => t.result === 'success' && t.retryCount === 0)).toBe(true);
    expect(tasks.reduce((n, t) => n + t.requeueCount, 0)).toBe(2);
    expect(events.filter((e) => e.type === 'completed')).toHaveLength(3);
    expect(events.filter((e) => e.type === 'preempted')).toHaveLength(2);
  });

  it('GIVEN a pool resizing WHEN it is resized again THEN it answers 409 PoolBeingResized, and a quota shortfall is a resize error', async () => {
    engine = new LocalEngine({ bootDelayMs: 200, quota: { dedicatedNodes: 2 } });
    engine.addPool({ id: 'p', vmSize: 'x' });
    engine.resizePool('p', { targetDedicatedNodes: 3, targetSpotNodes: 0 });
    expect(() => engine.resizePool('p', { targetDedicatedNodes: 1, targetSpotNodes: 0 })).toThrow(
      expect.objectContaining({ code: 'PoolBeingResized', statusCode: 409 }),
    );
    expect(engine.getPool('p')?.resizeErrors[0]?.code).toBe('AccountCoreQuotaReached');
    expect(engine.currentNodes('p').dedicated).toBe(2);
  });

  it.each([
    // GIVEN the quota WHEN one pool of 4-vCPU nodes asks for 5 THEN what fits, and the error
    [{ dedicatedCores: 10 }, 'dedicated', 2, 'AccountCoreQuotaReached'],
    [{ lowPriorityCores: 12 }, 'spot', 3, 'AccountLowPriorityCoreQuotaReached'],
    [{ dedicatedCores: 900 }, 'dedicated', 5, undefined],
  ] as const)(
    'GIVEN core quota %j WHEN 5 %s nodes of Standard_D4as_v5 are asked for THEN %i are allocated, resize error %s',
    (quota, priority, allocated, code) => {
      engine = new LocalEngine({ quota });
      engine.addPool({ id: 'p', vmSize: 'Standard_D4as_v5' });
      engine.resizePool('p', {
        targetDedicatedNodes: priority === 'dedicated' ? 5 : 0,
        targetSpotNodes: priority === 'spot' ? 5 : 0,
      });
      expect(engine.currentNodes('p')[priority]).toBe(allocated);
      expect(engine.getPool('p')?.resizeErrors[0]?.code).toBe(code);
    },
  );

  it('GIVEN pool and active-job quotas WHEN one more is added THEN 409 PoolQuotaReached / ActiveJobAndScheduleQuotaReached; completed jobs do not count', async () => {
    engine = new LocalEngine({ quota: { pools: 1, activeJobs: 2 } });
    engine.addPool({ id: 'p', vmSize: 'x' });
    expect(() => engine.addPool({ id: 'q', vmSize: 'x' })).toThrow(
      expect.objectContaining({ code: 'PoolQuotaReached', statusCode: 409 }),
    );
    engine.addJob({ id: 'a', poolId: 'p' });
    engine.addJob({ id: 'b', poolId: 'p' });
    expect(() => engine.addJob({ id: 'c', poolId: 'p' })).toThrow(
      expect.objectContaining({ code: 'ActiveJobAndScheduleQuotaReached', statusCode: 409 }),
    );
    await engine.terminateJob('a');
    expect(engine.activeJobCount()).toBe(1);
    expect(engine.addJob({ id: 'c', poolId: 'p' }).state).toBe('active');
  });

  it('GIVEN resizeTimeMs WHEN a pool is resized, even down THEN it stays resizing that long, refusing a second resize', async () => {
    engine = new LocalEngine({ resizeTimeMs: 300 });
    engine.addPool({ id: 'p', vmSize: 'x' });
    const t0 = Date.now();
    engine.resizePool('p', { targetDedicatedNodes: 0, targetSpotNodes: 0 });
    expect(engine.getPool('p')?.allocationState).toBe('resizing');
    expect(() => engine.resizePool('p', { targetDedicatedNodes: 1, targetSpotNodes: 0 })).toThrow(
      expect.objectContaining({ code: 'PoolBeingResized', statusCode: 409 }),
    );
    while (engine.getPool('p')?.allocationState !== 'steady') await new Promise((r) => setTimeout(r, 20));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('GIVEN resizeTimeMs WHEN its timer fires before the wall clock reaches the end of the hold THEN the pool still becomes steady', async () => {
    // Timers run on the monotonic clock, Date.now() on the wall clock: a timer may fire a
    // millisecond "early" by Date.now(), or more when the wall clock is stepped back. The end
    // of the hold is the timer's: the pool must not stay resizing for ever (it did, in CI).
    engine = new LocalEngine({ resizeTimeMs: 100 });
    engine.addPool({ id: 'p', vmSize: 'x' });
    const realNow = Date.now.bind(Date);
    const ahead = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 50);
    try {
      engine.resizePool('p', { targetDedicatedNodes: 0, targetSpotNodes: 0 });
    } finally {
      ahead.mockRestore();
    }
    const t0 = Date.now();
    while (engine.getPool('p')?.allocationState !== 'steady' && Date.now() - t0 < 1_000)
      await new Promise((r) => setTimeout(r, 20));
    expect(engine.getPool('p')?.allocationState).toBe('steady');
  });

  it('GIVEN a failed task WHEN reactivated THEN it runs again with its retry count reset; a succeeded one is refused', async () => {
    engine = new LocalEngine();
    engine.addPool({ id: 'p', vmSize: 'x', targetDedicatedNodes: 1 });
    engine.addJob({ id: 'j', poolId: 'p', maxTaskRetryCount: 1 });
    const marker = path.join(engine.rootDir, 'second-run');
    engine.addTask('j', { id: 'flaky', commandLine: `[ -e ${marker} ] || { touch ${marker}.try; exit 4; }` });
    engine.addTask('j', { id: 'fine', commandLine: 'true' });
    await until(engine, 'j', allDone(2));
    expect(engine.getTask('j', 'flaky')).toMatchObject({ result: 'failure', retryCount: 1, exitCode: 4 });
    expect(engine.taskCounts('j')).toMatchObject({ failed: 1, succeeded: 1 });
    fs.writeFileSync(marker, '');
    expect(engine.reactivateTask('j', 'flaky')).toMatchObject({ state: 'active', retryCount: 0 });
    await until(engine, 'j', allDone(2));
    expect(engine.getTask('j', 'flaky')).toMatchObject({ result: 'success', exitCode: 0 });
    expect(engine.taskCounts('j')).toMatchObject({ failed: 0, succeeded: 2, completed: 2 });
    expect(() => engine.reactivateTask('j', 'fine')).toThrow(
      expect.objectContaining({ code: 'TaskSucceeded' }),
    );
  });

  it('GIVEN a job with done tasks WHEN onAllTasksComplete becomes terminatejob THEN it ends, and cannot go back', async () => {
    engine = new LocalEngine();
    engine.addPool({ id: 'p', vmSize: 'x', targetDedicatedNodes: 1 });
    engine.addJob({ id: 'j', poolId: 'p' });
    engine.addTask('j', { id: 't', commandLine: 'true' });
    await until(engine, 'j', allDone(1));
    expect(engine.getJob('j')?.state).toBe('active');
    engine.updateJob('j', { onAllTasksComplete: 'terminatejob' });
    while (engine.getJob('j')?.state !== 'completed') await new Promise((r) => setTimeout(r, 20));
    expect(engine.getJob('j')?.terminateReason).toBe('AllTasksComplete');
    expect(() => engine.updateJob('j', { onAllTasksComplete: 'noaction' })).toThrow(
      expect.objectContaining({ code: 'JobCompleted' }),
    );
  });

  it('GIVEN a running task WHEN deleted THEN its process group is killed and it is gone from the counts', async () => {
    engine = new LocalEngine();
    engine.addPool({ id: 'p', vmSize: 'x', targetDedicatedNodes: 1 });
    engine.addJob({ id: 'j', poolId: 'p' });
    const pidFile = path.join(engine.rootDir, 'long.pid');
    engine.addTask('j', { id: 'long', commandLine: `echo $$ > ${pidFile}; exec sleep 30` });
    await until(engine, 'j', (ts) => ts[0]?.state === 'running' && fs.existsSync(pidFile));
    while (fs.readFileSync(pidFile, 'utf8').trim() === '') await new Promise((r) => setTimeout(r, 10));
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    engine.deleteTask('j', 'long');
    expect(await diesSoon(pid)).toBe(true);
    expect(engine.getTask('j', 'long')).toBeUndefined();
    expect(engine.taskCounts('j')).toEqual({ active: 0, running: 0, completed: 0, succeeded: 0, failed: 0 });
    expect(engine.listNodes('p')[0]?.runningTasks).toBe(0);
  });

  it('GIVEN 10,000 queued tasks on a pool with no nodes WHEN counted THEN adding them is cheap and all are active', async () => {
    engine = new LocalEngine();
    engine.addPool({ id: 'p', vmSize: 'x' });
    engine.addJob({ id: 'j', poolId: 'p' });
    for (let i = 0; i < 10_000; i++) engine.addTask('j', { id: `t${i}`, commandLine: 'true' });
    expect(engine.taskCounts('j').active).toBe(10_000);
    expect(() => engine.addTask('j', { id: 'T5', commandLine: 'true' })).toThrow(
      expect.objectContaining({ code: 'TaskExists' }),
    );
  });
});
