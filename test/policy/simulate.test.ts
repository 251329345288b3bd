// `spillway simulate` as a real child process (needs `npx tsc -b` first, like every CLI test).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = path.join(__dirname, '../../sdk/bin/spillway.js');
const scenarios = path.resolve(__dirname, '../../scenarios');

async function spillway(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

interface Doc {
  scenario: string;
  lowerBoundCost: number;
  results: {
    policy: string;
    makespanSeconds: number;
    cost: number;
    deadlinesMet: number;
    deadlinesTotal: number;
    jobs: { id: string; finishedAtSeconds: number | null; deadlineMet: boolean | null }[];
  }[];
}

describe('spillway simulate', () => {
  it('GIVEN a shared scenario and --json WHEN run THEN one JSON document with every policy, Spillway meeting the deadlines at the least cost', async () => {
    const { code, stdout } = await spillway([
      'simulate',
      '--scenario',
      path.join(scenarios, 'overnight-crunch.json'),
      '--json',
    ]);
    expect(code).toBe(0);
    const doc = JSON.parse(stdout) as Doc;
    expect(doc.scenario).toBe('overnight-crunch');
    expect(doc.lowerBoundCost).toBeGreaterThan(0);
    expect(doc.results.map((r) => r.policy)).toEqual([
      'spillway',
      'never',
      'spot-event-plugin',
      'batch-autoscale',
      'avere-scaler',
      'render-hub',
    ]);
    const [mine, never, ...others] = doc.results;
    expect(mine!.deadlinesMet).toBe(mine!.deadlinesTotal);
    expect(never!.cost).toBe(0);
    expect(never!.deadlinesMet).toBeLessThan(never!.deadlinesTotal);
    for (const o of others) expect(mine!.cost).toBeLessThan(o.cost);
    expect(mine!.jobs.map((j) => j.id)).toEqual(['shot1', 'shot2', 'shot3']);
  });

  it('GIVEN --policy and a scenario anywhere on disk WHEN run twice THEN one identical result each time', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-sim-'));
    try {
      const file = path.join(dir, 'copy.json');
      fs.copyFileSync(path.join(scenarios, 'short-spike.json'), file);
      const a = await spillway(['simulate', '--scenario', file, '--policy', 'spot-event-plugin', '--json']);
      const b = await spillway(['simulate', '--scenario', file, '--policy', 'spot-event-plugin', '--json']);
      expect(a.code).toBe(0);
      expect(a.stdout).toBe(b.stdout);
      expect((JSON.parse(a.stdout) as Doc).results.map((r) => r.policy)).toEqual(['spot-event-plugin']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('GIVEN a bad field, an unknown policy or no scenario WHEN run THEN it fails naming what was wrong', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-sim-'));
    try {
      const file = path.join(dir, 'bad.json');
      const doc = JSON.parse(fs.readFileSync(path.join(scenarios, 'short-spike.json'), 'utf8')) as {
        cloud: { nodeBootSeconds: unknown };
      };
      doc.cloud.nodeBootSeconds = 'soon';
      fs.writeFileSync(file, JSON.stringify(doc));
      const bad = await spillway(['simulate', '--scenario', file]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('cloud.nodeBootSeconds');
      expect(bad.stderr).toContain('"soon"');
      expect(bad.stdout).toBe('');
      const unknown = await spillway(['simulate', '--scenario', file, '--policy', 'magic']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('"magic"');
      const missing = await spillway(['simulate']);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('--scenario');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("GIVEN no --json WHEN run THEN a table and each job's finish and deadline", async () => {
    const { code, stdout } = await spillway([
      'simulate',
      '--scenario',
      path.join(scenarios, 'budget-capped.json'),
      '--policy',
      'spillway',
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/hindsight lower bound on cloud cost: \d+\.\d\d/);
    expect(stdout).toMatch(/spillway: seq \d+:\d\d:\d\d \(deadline 10:00:00 met\)/);
  });
});
