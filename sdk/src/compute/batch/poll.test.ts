import { nextPollDelay } from './poll';

describe('nextPollDelay', () => {
  const intervals = { activeMs: 500, idleMs: 5000 };
  it.each([
    // previous, busy, next
    [5000, true, 500],
    [500, true, 500],
    [500, false, 1000],
    [1000, false, 2000],
    [4000, false, 5000],
    [5000, false, 5000],
    [0, false, 500],
  ])('after %d ms, busy %s: %d ms', (previous, busy, next) => {
    expect(nextPollDelay(previous, busy, intervals)).toBe(next);
  });

  it('never polls faster than the idle interval when that is the shorter', () => {
    expect(nextPollDelay(100, true, { activeMs: 500, idleMs: 200 })).toBe(200);
    expect(nextPollDelay(100, false, { activeMs: 500, idleMs: 200 })).toBe(200);
  });
});
