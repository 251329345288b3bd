import { shouldOpen, type OpenInput } from './open';
import { cloudJobId, coreDetail, jobDeadline } from './policy';

const busy: OpenInput = {
  localIdleCores: 0,
  burstableWaiting: 10,
  planOffload: 4,
  bookedUnits: 0,
  totalUnits: 400,
};

describe('shouldOpen', () => {
  it.each<[string, Partial<OpenInput>, boolean]>([
    ['saturated farm, waiting burst frames, plan offloads', {}, true],
    ['a local core idle', { localIdleCores: 1 }, false],
    ['less than a core idle locally', { localIdleCores: 0.5 }, true],
    ['nothing burstable waits', { burstableWaiting: 0 }, false],
    ['plan offloads nothing', { planOffload: 0 }, false],
    ['host fully booked', { bookedUnits: 400 }, false],
  ])('GIVEN %s WHEN deciding THEN open is %p', (_name, over, open) => {
    expect(shouldOpen({ ...busy, ...over }).open).toBe(open);
  });
});

describe('coreDetail', () => {
  it.each([
    [400, 100, true, { total_cores: 400, idle_cores: 300, locked_cores: 0, booked_cores: 100 }],
    [400, 100, false, { total_cores: 400, idle_cores: 0, locked_cores: 400, booked_cores: 100 }],
    [400, 500, true, { total_cores: 400, idle_cores: 0, locked_cores: 0, booked_cores: 400 }],
  ])('GIVEN %p units, %p booked, open %p WHEN reported THEN %p', (total, booked, open, detail) => {
    expect(coreDetail(total, booked, open)).toEqual(detail);
  });
});

describe('jobDeadline', () => {
  it.each<[string, Record<string, string>, string]>([
    ['no deadline carried', {}, '2026-01-01T02:00:00.000Z'],
    ['an ISO deadline', { SPILLWAY_DEADLINE: '2026-01-01T00:30:00Z' }, '2026-01-01T00:30:00.000Z'],
    ['an epoch deadline', { SPILLWAY_DEADLINE: '1767229200' }, '2026-01-01T01:00:00.000Z'],
    ['an unreadable deadline', { SPILLWAY_DEADLINE: 'soon' }, '2026-01-01T02:00:00.000Z'],
  ])('GIVEN %s WHEN resolved THEN %s', (_name, env, iso) => {
    const submitted = Date.parse('2026-01-01T00:00:00Z') / 1000;
    expect(jobDeadline(submitted, 7200, env).toISOString()).toBe(iso);
  });
});

describe('cloudJobId', () => {
  it('GIVEN a relaunch WHEN named THEN it differs from the first launch', () => {
    expect(cloudJobId('j', 'f', 1)).not.toBe(cloudJobId('j', 'f', 2));
  });
});
