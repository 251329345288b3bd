import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startBatchEmulator, type BatchEmulator } from '@spillway/sdk/emulate';
import { describeWithTool } from '../support/tools';
import { azCliMissing } from './microsoft-clients';

// GIVEN `spillway emulate batch`
// WHEN Microsoft's `az batch` commands create, list, show and delete pools, jobs and tasks,
// list a task's files and a job's preparation status, reactivate a task, resize a pool
// twice and enable autoscale (each az run signs with SharedKey as the Python SDK does)
// THEN every command exits 0 with what Azure Batch would print, except the second resize,
// refused as Batch refuses it while the first one runs.

const describeWithAz = describeWithTool(azCliMissing());

interface AzResult {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

describeWithAz("the Batch emulator, driven by Microsoft's az CLI", () => {
  let emu: BatchEmulator;
  let work: string;
  let account: string[];

  const az = (...args: string[]): Promise<AzResult> =>
    new Promise((resolve, reject) => {
      const child = spawn('az', ['batch', ...args, ...account], {
        env: {
          PATH: process.env.PATH,
          HOME: work,
          AZURE_CONFIG_DIR: path.join(work, 'az'),
          AZURE_CORE_COLLECT_TELEMETRY: 'false',
          AZURE_CORE_NO_COLOR: 'true',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, out, err }));
    });
  /** Runs an az command that must succeed; its JSON output, parsed. */
  const ok = async (...args: string[]): Promise<unknown> => {
    const r = await az(...args, '--output', 'json');
    if (r.code !== 0) throw new Error(`az batch ${args.join(' ')} exited ${r.code}: ${r.err}`);
    return r.out.trim() ? JSON.parse(r.out) : undefined;
  };
  const until = async (what: string, predicate: () => boolean): Promise<void> => {
    const end = Date.now() + 30_000;
    while (!predicate()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-az-'));
    // A resize holds the pool for 8 s: long enough for az to try a second one meanwhile.
    emu = await startBatchEmulator({ engine: { bootDelayMs: 200, resizeTimeMs: 8000 } });
    account = [
      '--account-name',
      emu.accountName,
      '--account-key',
      emu.accountKey,
      '--account-endpoint',
      emu.url,
    ];
  });
  afterAll(async () => {
    await emu?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('creates, lists, shows and deletes pools, jobs and tasks; serves files, prep status, reactivate, autoscale', async () => {
    await ok(
      'pool',
      'create',
      '--id',
      'az-pool',
      '--vm-size',
      'Standard_D2s_v3',
      '--image',
      'canonical:0001-com-ubuntu-server-jammy:22_04-lts',
      '--node-agent-sku-id',
      'batch.node.ubuntu 22.04',
    );
    expect(await ok('pool', 'list', '--query', '[].id')).toEqual(['az-pool']);
    expect(await ok('pool', 'show', '--pool-id', 'az-pool', '--query', 'vmSize')).toBe('Standard_D2s_v3');

    await ok('pool', 'resize', '--pool-id', 'az-pool', '--target-dedicated-nodes', '1');
    const second = await az('pool', 'resize', '--pool-id', 'az-pool', '--target-dedicated-nodes', '2');
    expect({ code: second.code, err: second.err.split('\n')[0] }).toEqual({
      code: 1,
      err: expect.stringContaining('The specified pool is being resized'),
    });
    await until('the node', () => emu.engine.listNodes('az-pool').some((n) => n.state === 'idle'));

    const jobFile = path.join(work, 'job.json');
    fs.writeFileSync(
      jobFile,
      JSON.stringify({
        id: 'az-job',
        poolInfo: { poolId: 'az-pool' },
        jobPreparationTask: { commandLine: "/bin/sh -c 'echo prepared'" },
      }),
    );
    await ok('job', 'create', '--json-file', jobFile);
    expect(await ok('job', 'list', '--query', '[].id')).toEqual(['az-job']);
    expect(await ok('job', 'show', '--job-id', 'az-job', '--query', 'poolInfo.poolId')).toBe('az-pool');
    await ok(
      'task',
      'create',
      '--job-id',
      'az-job',
      '--task-id',
      't1',
      '--command-line',
      "/bin/sh -c 'echo hi > out.txt'",
    );
    await ok(
      'task',
      'create',
      '--job-id',
      'az-job',
      '--task-id',
      't2',
      '--command-line',
      "/bin/sh -c 'exit 2'",
    );
    await until('both tasks', () =>
      ['t1', 't2'].every((t) => emu.engine.getTask('az-job', t)?.state === 'completed'),
    );
    expect(
      await ok('task', 'list', '--job-id', 'az-job', '--query', '[].[id, executionInfo.exitCode]'),
    ).toEqual([
      ['t1', 0],
      ['t2', 2],
    ]);
    expect(await ok('task', 'show', '--job-id', 'az-job', '--task-id', 't1', '--query', 'state')).toBe(
      'completed',
    );
    expect(
      await ok(
        'task',
        'file',
        'list',
        '--job-id',
        'az-job',
        '--task-id',
        't1',
        '--recursive',
        'true',
        '--query',
        '[].name',
      ),
    ).toEqual(['stderr.txt', 'stdout.txt', 'wd', 'wd/out.txt']);
    expect(
      await ok(
        'job',
        'prep-release-status',
        'list',
        '--job-id',
        'az-job',
        '--query',
        '[].jobPreparationTaskExecutionInfo.[state, exitCode]',
      ),
    ).toEqual([['completed', 0]]);

    // Reactivated, the failed task runs again: it ends a second time.
    const firstEnd = emu.engine.getTask('az-job', 't2')!.endTime!.getTime();
    await ok('task', 'reactivate', '--job-id', 'az-job', '--task-id', 't2');
    await until(
      'the reactivated task to end again',
      () => (emu.engine.getTask('az-job', 't2')?.endTime?.getTime() ?? 0) > firstEnd,
    );
    expect(emu.engine.getTask('az-job', 't2')).toMatchObject({ state: 'completed', exitCode: 2 });

    await ok(
      'pool',
      'autoscale',
      'enable',
      '--pool-id',
      'az-pool',
      '--auto-scale-formula',
      '$TargetDedicatedNodes = $PendingTasks + 1;',
      '--auto-scale-evaluation-interval',
      'PT5M',
    );
    expect(
      await ok('pool', 'show', '--pool-id', 'az-pool', '--query', '[enableAutoScale, autoScaleRun.results]'),
    ).toEqual([true, '$TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue']);

    await ok('task', 'delete', '--job-id', 'az-job', '--task-id', 't1', '--yes');
    expect(await ok('task', 'list', '--job-id', 'az-job', '--query', '[].id')).toEqual(['t2']);
    await ok('job', 'delete', '--job-id', 'az-job', '--yes');
    await ok('pool', 'delete', '--pool-id', 'az-pool', '--yes');
    await until('the pool to go', () => emu.engine.getPool('az-pool') === undefined);
    expect(await ok('job', 'list', '--query', '[].id')).toEqual([]);
    expect(emu.records.byOperation.get('AuthenticationFailed') ?? 0).toBe(0);
  }, 240_000);
});
