import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { DEFAULT_BATCH_QUOTA, startBatchEmulator, type BatchEmulator } from '@spillway/sdk/emulate';
import { describeWithTool } from '../support/tools';
import { PYTHON, pythonBatchSdkMissing } from './microsoft-clients';

// GIVEN `spillway emulate batch` with an active-job quota of 2
// WHEN Microsoft's Python Batch SDK (azure.batch, as Debian's python3-azure ships it) drives
// pools, jobs, tasks, task files, job preparation status, task reactivation, autoscale,
// the job quota and deletes, as a pipeline TD would
// THEN each call answers as Azure Batch does: SharedKey as Python signs it (DELETE with
// Content-Length 0 included), 409 PoolBeingResized on a second resize, the task's files, a
// reactivated task rerun, the formula applied, ActiveJobAndScheduleQuotaReached past the quota.

const describeWithSdk = describeWithTool(pythonBatchSdkMissing());
const script = path.join(__dirname, 'clients/batch_sdk.py');

function runScript(
  emu: BatchEmulator,
  jobQuota: number,
): Promise<{ code: number | null; steps: Record<string, Record<string, unknown>>; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [script], {
      env: {
        PATH: process.env.PATH,
        BATCH_URL: emu.url,
        BATCH_ACCOUNT: emu.accountName,
        BATCH_KEY: emu.accountKey,
        JOB_QUOTA: String(jobQuota),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const steps: Record<string, Record<string, unknown>> = {};
      for (const line of out.split('\n').filter(Boolean)) {
        const o = JSON.parse(line) as { step: string };
        steps[o.step] = o;
      }
      resolve({ code, steps, err });
    });
  });
}

describeWithSdk("the Batch emulator, driven by Microsoft's Python Batch SDK", () => {
  let emu: BatchEmulator;
  beforeAll(async () => {
    emu = await startBatchEmulator({
      engine: { bootDelayMs: 200, resizeTimeMs: 300, quota: { ...DEFAULT_BATCH_QUOTA, activeJobs: 2 } },
    });
  });
  afterAll(async () => emu?.close());

  it('runs pools, jobs, tasks, files, reactivate, autoscale, quota and deletes clean', async () => {
    const { code, steps, err } = await runScript(emu, 2);
    expect({ code, err: code === 0 ? '' : err }).toEqual({ code: 0, err: '' });
    expect(steps.pool).toMatchObject({ exists: true, vmSize: 'Standard_D2s_v3', listed: ['py-pool'] });
    expect(steps.resize).toEqual({
      step: 'resize',
      secondResize: { status: 409, code: 'PoolBeingResized' },
      dedicated: 1,
    });
    expect(steps.tasks).toEqual({
      step: 'tasks',
      listed: ['bad', 'ok'],
      exitCodes: { ok: 0, bad: 3 },
      files: ['stderr.txt', 'stdout.txt', 'wd', 'wd/out.txt'],
      stdout: 'hello\n',
      outLength: 'data\n'.length,
      prep: [['completed', 0]],
    });
    expect(steps.reactivate).toMatchObject({
      rerunExitCode: 3,
      succeeded: { status: 409, code: 'TaskSucceeded' },
    });
    expect(steps.reactivate!.stateAfter).not.toBe('completed');
    expect(steps.autoscale).toEqual({
      step: 'autoscale',
      enabled: true,
      target: 1,
      results: '$TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue',
      evaluated: '$TargetDedicatedNodes=3;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue',
      resizeWhileOn: { status: 409, code: 'OperationInvalidForCurrentState' },
      badFormula: { status: 400, code: 'AutoScalingFormulaSyntaxError' },
      enabledAfterDisable: false,
    });
    expect(steps.quota).toEqual({
      step: 'quota',
      jobState: 'completed',
      added: 2,
      overQuota: { status: 409, code: 'ActiveJobAndScheduleQuotaReached' },
    });
    expect(steps.delete).toEqual({
      step: 'delete',
      taskGone: { status: 404, code: 'TaskNotFound' },
      jobs: [],
    });
    // Every request was signed as Python signs it, the bodiless DELETEs included.
    expect(emu.records.byOperation.get('AuthenticationFailed') ?? 0).toBe(0);
    expect(emu.records.byOperation.get('Job_Delete')).toBe(3);
    expect(emu.records.byOperation.get('Pool_Delete')).toBe(1);
  }, 120_000);
});
