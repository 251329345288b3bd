import { FirstSeen, jobDeadline, parseCarriedDeadline } from './turnaround';

describe('jobDeadline', () => {
  const submittedAt = new Date('2026-01-01T00:00:00Z');
  const firstSeen = new Date('2026-01-01T01:00:00Z');
  it.each<[string, string | undefined, Date | undefined, string]>([
    ['an ISO deadline carried', '2026-01-01T00:30:00Z', submittedAt, '2026-01-01T00:30:00.000Z'],
    ['an epoch deadline carried', '1767229200', submittedAt, '2026-01-01T01:00:00.000Z'],
    ['nothing carried', undefined, submittedAt, '2026-01-01T02:00:00.000Z'],
    ['an unreadable deadline', 'soon', submittedAt, '2026-01-01T02:00:00.000Z'],
    ['a blank deadline', '  ', submittedAt, '2026-01-01T02:00:00.000Z'],
    ['no submission time', undefined, undefined, '2026-01-01T03:00:00.000Z'],
  ])('GIVEN %s WHEN resolved THEN %s', (_n, carried, sub, want) => {
    const d = jobDeadline({
      carried,
      ...(sub ? { submittedAt: sub } : {}),
      firstSeen,
      turnaroundSeconds: 7200,
    });
    expect(d.toISOString()).toBe(want);
  });

  it('GIVEN garbage WHEN parsed THEN undefined', () => expect(parseCarriedDeadline('12:xx')).toBeUndefined());

  it('GIVEN a job seen twice WHEN asked THEN the first sighting stays; forgotten jobs start again', () => {
    const seen = new FirstSeen();
    const t1 = seen.of('a', () => new Date(1));
    expect(seen.of('a', () => new Date(2))).toBe(t1);
    seen.retain(new Set());
    expect(seen.of('a', () => new Date(3)).getTime()).toBe(3);
  });
});
