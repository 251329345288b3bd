// The BurstService over real gRPC: the service plans with the burst policy (or the greedy
// baseline when configured), explains every plan, and reports each group's figures.
import * as path from 'node:path';
import { BurstServiceError, type FarmReport, type ReportedJob } from '@spillway/sdk';
import { run } from '../support/process';
import { startTestService, type TestService } from '../support/service';

const bin = path.resolve(__dirname, '../../sdk/bin/spillway.js');
/** `spillway ...` as a real child process (built: `npx tsc -b` first). */
const cli = (address: string, ...args: string[]) =>
  run(process.execPath, [bin, ...args, '--address', address]);

const now = (): Date => new Date();
const inSeconds = (s: number): Date => new Date(Date.now() + s * 1000);

/** A bridge's report: one job, 2 busy local workers. */
const report = (job: Partial<ReportedJob>, source = 'deadline:test'): FarmReport => ({
  source,
  sourceKind: 'deadline',
  observedAt: now(),
  jobs: [
    {
      sourceJobId: 'shot',
      name: 'shot 10',
      priority: 50,
      group: '',
      queuedFrames: 22,
      renderingFrames: 2,
      offloadedFrames: 0,
      completedFrames: 0,
      submittedAt: inSeconds(-5),
      localFrameTime: { meanMs: 2000, stdevMs: 200, samples: 4 },
      rendering: [
        { sourceTaskId: '0', startedAt: inSeconds(-1), progress: 0.5 },
        { sourceTaskId: '1', startedAt: inSeconds(-1), progress: 0.5 },
      ],
      burstable: true,
      ...job,
    },
  ],
  workers: [{ group: '', idle: 0, busy: 2 }],
});

describe('BurstService plans with the burst policy', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ nodes: 2, planner: 'policy' });
  }, 60_000);
  afterAll(async () => {
    await svc?.close();
  });

  it('sends 0 frames when the local farm meets the deadline, and says why', async () => {
    // GIVEN 24 frames of 2 s on 2 workers, due in 3 hours
    // WHEN the bridge reports
    const plan = await svc.client.reportFarmState(report({ deadline: inSeconds(3 * 3600) }));
    // THEN nothing leaves the farm, and the job's line gives its due moment and local finish
    expect(plan.planner).toBe('policy');
    expect(plan.offload).toEqual([]);
    const line = plan.jobs.find((j) => j.sourceJobId === 'shot')!;
    expect(line.offloadFrames).toBe(0);
    expect(line.dueAt!.getTime()).toBeGreaterThan(Date.now() + 3 * 3600 * 1000 - 60_000);
    expect(line.projectedLocalFinishAt!.getTime()).toBeLessThan(Date.now() + 60_000);
    expect(line.reason).toMatch(/^in time locally/);
  });

  it('offloads part of a job that cannot make its deadline locally', async () => {
    // GIVEN 60 queued frames of 2 s on 2 workers (about a minute), due in 30 s; a cloud frame
    // takes 12 s (the default 10 s transfer per frame)
    const plan = await svc.client.reportFarmState(
      report({ queuedFrames: 60, deadline: inSeconds(30) }, 'deadline:late'),
    );
    // THEN frames go to the cloud for the nodes that take work now, and the line says why
    const offloaded = plan.offload.reduce((n, o) => n + o.frameCount, 0);
    expect(offloaded).toBeGreaterThan(0);
    expect(offloaded).toBeLessThan(60);
    const line = plan.jobs.find((j) => j.sourceJobId === 'shot')!;
    expect(line.offloadFrames).toBe(offloaded);
    expect(line.reason).toMatch(/would finish locally too late/);
    expect(line.projectedLocalFinishAt!.getTime()).toBeGreaterThan(line.dueAt!.getTime());
  });

  it('GetBurstStatus shows each source with its last plan, and the figures of each group', async () => {
    const status = await svc.client.burstStatus();
    expect(status.planner).toBe('policy');
    const sources = new Map(status.sources.map((s) => [s.source, s]));
    expect(sources.get('deadline:test')!.sourceKind).toBe('deadline');
    expect(sources.get('deadline:test')!.lastPlan!.jobs[0]!.reason).toMatch(/^in time locally/);
    expect(sources.get('deadline:late')!.lastPlan!.offload.length).toBe(1);
    const figures = status.parameters.find((p) => p.capacityGroup === 'default')!;
    // Nothing observed yet: every figure is the configured one (the embedded engine boots at once)
    expect(figures.nodeBootSeconds).toEqual({ value: 0, source: 'configured', samples: 0 });
    expect(figures.cloudFrameTimeRatio).toEqual({ value: 1, source: 'configured', samples: 0 });
    expect(figures.spotEvictionsPerNodeHour.source).toBe('configured');
  });

  it('spillway plan shows each job: due, local finish, frames to move and why; --json the same and the figures', async () => {
    // WHEN `spillway plan` runs against the service
    const text = await cli(svc.address, 'plan', '--source', 'deadline:late');
    // THEN the late job's line shows its due moment, local finish, frames and reason
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^deadline:late \(deadline\), reported .* ago: plan \w+ by policy, [1-9]\d* frame\(s\) to offload/m,
    );
    expect(text.stdout).toMatch(/JOB +GROUP +DUE +LOCAL FINISH +CLOUD +OFFLOAD +RECALL +WHY/);
    expect(text.stdout).toMatch(
      /shot +default +in [\dms]+ +in [\dms]+ +\d+ +[1-9]\d* +0 +\d+ frames would finish locally too late/,
    );
    expect(text.stdout).toMatch(/GROUP +TARGET \(DED\/SPOT\) +COST\/H +WHY/);
    const json = JSON.parse((await cli(svc.address, 'plan', '--json')).stdout) as {
      planner: string;
      sources: { source: string; plan: { jobs: { sourceJobId: string; dueAt: string; reason: string }[] } }[];
      parameters: { capacityGroup: string; nodeBootSeconds: { source: string } }[];
    };
    expect(json.planner).toBe('policy');
    expect(json.sources.map((s) => s.source).sort()).toEqual(['deadline:late', 'deadline:test']);
    expect(json.sources.find((s) => s.source === 'deadline:test')!.plan.jobs[0]!.reason).toMatch(
      /^in time locally/,
    );
    expect(json.parameters[0]!.nodeBootSeconds.source).toBe('configured');
  });

  it('spillway capacity --json shows each group figure and whether it was configured or observed', async () => {
    const out = await cli(svc.address, 'capacity', '--json');
    expect(out.code).toBe(0);
    const doc = JSON.parse(out.stdout) as {
      parameters: { capacityGroup: string; cloudFrameTimeRatio: unknown }[];
    };
    expect(doc.parameters.find((p) => p.capacityGroup === 'default')!.cloudFrameTimeRatio).toEqual({
      value: 1,
      source: 'configured',
      samples: 0,
    });
    const text = await cli(svc.address, 'capacity');
    expect(text.stdout).toMatch(
      /planned with:\n {2}default: boot 0 s \(configured\), cloud:local 1\.00× \(configured\)/,
    );
  });

  it('refuses a bad report, naming the field and the value', async () => {
    const bad = report({ rendering: [{ startedAt: now(), progress: 1.5 }] });
    const err = await svc.client.reportFarmState(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BurstServiceError);
    expect((err as Error).message).toContain('state.jobs[0].rendering[0].progress');
    expect((err as Error).message).toContain('1.5');
  });
});

describe('BurstService with planner: greedy (the baseline)', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ nodes: 2, config: { 'burst.planner': 'greedy' } });
  }, 60_000);
  afterAll(async () => {
    await svc?.close();
  });

  it('offloads whatever no idle worker can take, even when the farm would be in time', async () => {
    const plan = await svc.client.reportFarmState(report({ deadline: inSeconds(3 * 3600) }));
    expect(plan.planner).toBe('greedy');
    expect(plan.offload.reduce((n, o) => n + o.frameCount, 0)).toBeGreaterThan(0);
    expect((await svc.client.burstStatus()).planner).toBe('greedy');
  });
});
