import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SpendMeter } from './spend';

const HOUR = 3_600_000;

describe('SpendMeter', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-spend-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('integrates each group’s cost per hour over time, per group and in total', () => {
    let now = 1_000_000;
    const meter = new SpendMeter({ now: () => now });
    meter.observe('a', 3, true); // 3/h
    now += HOUR / 2;
    meter.observe('b', 1, true);
    now += HOUR;
    meter.observe('a', 0, true);
    now += HOUR;
    const s = meter.snapshot();
    // a: 3 × 1.5 h; b: 1 × 2 h
    expect(s.byGroup.get('a')).toBeCloseTo(4.5);
    expect(s.byGroup.get('b')).toBeCloseTo(2);
    expect(s.total).toBeCloseTo(6.5);
    expect(s.perHour).toBe(1);
    expect(s.since).toEqual(new Date(1_000_000));
  });

  it('keeps a deleted group’s spend in the total only', () => {
    let now = 0;
    const meter = new SpendMeter({ now: () => now });
    meter.observe('a', 2, true);
    now += HOUR;
    meter.forget('a');
    now += HOUR;
    const s = meter.snapshot();
    expect(s.total).toBeCloseTo(2);
    expect(s.byGroup.has('a')).toBe(false);
    expect(s.perHour).toBe(0);
  });

  // GIVEN a meter kept in a file WHEN the service is down for an hour and restarts
  // THEN that hour counts for Batch and scale-set groups (Azure bills them) but not for the
  // local engine (its nodes died with the service)
  it('survives a restart and counts the downtime only where nodes kept running', () => {
    const file = path.join(dir, 'spend.json');
    let now = 0;
    const first = new SpendMeter({ file, now: () => now });
    first.observe('batch', 2, true);
    first.observe('local', 5, false);
    now += HOUR;
    first.save();
    now += HOUR; // down
    const second = new SpendMeter({ file, now: () => now });
    const s = second.snapshot();
    expect(s.byGroup.get('batch')).toBeCloseTo(4);
    expect(s.byGroup.get('local')).toBeCloseTo(5);
    expect(s.since).toEqual(new Date(0));
  });
});
