import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ValidationError } from '../errors';
import { loadScenario, parseScenario } from './scenario';

const valid = {
  name: 'x',
  description: '',
  horizonSeconds: 3600,
  localFarm: { workers: 2, speed: 1 },
  cloud: {
    maxNodes: 5,
    nodeBootSeconds: 60,
    nodeSpeed: 1,
    dedicatedPricePerHour: 1,
    spotPricePerHour: 0.2,
    spotEvictionsPerNodeHour: 0,
    billingGranularitySeconds: 60,
    transferSecondsPerFrame: 0,
  },
  jobs: [{ id: 'j', submitAtSeconds: 0, frames: 3, frameSeconds: { mean: 10, stdev: 1 }, priority: 50 }],
  seed: 1,
};

const set = (mutate: (o: typeof valid & Record<string, unknown>) => void): unknown => {
  const o = structuredClone(valid) as typeof valid & Record<string, unknown>;
  mutate(o);
  return o;
};

describe('parseScenario', () => {
  it('accepts a valid scenario, budget optional', () => {
    // GIVEN a valid document WHEN parsed THEN it comes back typed
    expect(parseScenario(valid).jobs[0]!.frames).toBe(3);
    expect(parseScenario(valid).budget).toBeUndefined();
  });

  it.each([
    ['jobs[0].frames', set((o) => (o.jobs[0]!.frames = 0)), '0'],
    ['jobs[0].frames', set((o) => (o.jobs[0]!.frames = 2.5)), '2.5'],
    ['cloud.nodeSpeed', set((o) => (o.cloud.nodeSpeed = -1)), '-1'],
    ['localFarm.workers', set((o) => ((o.localFarm as Record<string, unknown>).workers = 'many')), '"many"'],
    ['jobs[0].priority', set((o) => (o.jobs[0]!.priority = 101)), '101'],
    ['jobs[0].deadlineAtSeconds', set((o) => Object.assign(o.jobs[0]!, { deadlineAtSeconds: 0 })), '0'],
    ['jobs[1].id', set((o) => o.jobs.push({ ...o.jobs[0]! })), '"j"'],
    ['budget.maxSpendPerHour', set((o) => (o.budget = { maxSpendPerHour: 0 })), '0'],
    ['cloud', set((o) => ((o as Record<string, unknown>).cloud = null)), 'null'],
    ['seed', set((o) => ((o as Record<string, unknown>).seed = undefined)), 'undefined'],
  ])('refuses %s, naming the field and quoting the value', (field, doc, quoted) => {
    // GIVEN a document with one bad field WHEN parsed THEN a ValidationError names it
    let err: unknown;
    try {
      parseScenario(doc);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(field);
    expect((err as Error).message).toContain(quoted);
  });

  it('loadScenario reads any path, and names a missing or non-JSON file', () => {
    // GIVEN a scenario in a temp dir, a missing path and a broken file
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-scenario-'));
    try {
      fs.writeFileSync(path.join(dir, 'ok.json'), JSON.stringify(valid));
      fs.writeFileSync(path.join(dir, 'bad.json'), '{');
      // WHEN loaded THEN the valid one parses and the others name the file
      expect(loadScenario(path.join(dir, 'ok.json')).name).toBe('x');
      expect(() => loadScenario(path.join(dir, 'missing.json'))).toThrow(/missing\.json/);
      expect(() => loadScenario(path.join(dir, 'bad.json'))).toThrow(/is not JSON/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
