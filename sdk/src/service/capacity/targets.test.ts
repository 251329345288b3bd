import { checkBudget, clampPlan, costOf, type ClampGroup, type ClampLimit, type NodePair } from './targets';

const n = (dedicated: number, spot: number): NodePair => ({ dedicated, spot });

/** A frame-offload group with room for 10 + 20 nodes, no pins, nothing busy, at 2/0.5 per hour. */
function group(over: Partial<ClampGroup> = {}): ClampGroup {
  return {
    name: 'nightly',
    requested: n(0, 0),
    max: n(10, 20),
    pin: n(0, 0),
    current: n(0, 0),
    target: n(0, 0),
    busy: n(0, 0),
    holdTarget: false,
    prices: { dedicated: 2, spot: 0.5 },
    ...over,
  };
}

const uncapped = { maxSpendPerHour: 0, currency: 'USD' };

describe('clampPlan', () => {
  // GIVEN one group's state and the plan's wish WHEN clamped THEN the effective target and
  // the limits that applied are as the ownership rules say
  it.each<[string, Partial<ClampGroup>, number, NodePair, ClampLimit[]]>([
    ['a plan within every bound', { requested: n(2, 5) }, 0, n(2, 5), []],
    ['above the maxima', { requested: n(12, 30) }, 0, n(10, 20), ['maximum']],
    [
      'the manual resize undone by a report (pools resize --spot 20, then a 0/0 plan)',
      { requested: n(0, 0), pin: n(0, 20), target: n(0, 20), current: n(0, 20) },
      0,
      n(0, 20),
      ['pin'],
    ],
    ['a pin is a floor, not a ceiling', { requested: n(3, 25), pin: n(1, 2) }, 0, n(3, 20), ['maximum']],
    [
      'a pin above a lowered maximum stops at the maximum',
      { requested: n(0, 0), pin: n(0, 20), max: n(10, 8) },
      0,
      n(0, 8),
      ['pin'],
    ],
    [
      'busy nodes are never removed',
      { requested: n(0, 0), current: n(3, 4), target: n(3, 4), busy: n(2, 1) },
      0,
      n(2, 1),
      ['busy'],
    ],
    [
      'a worker-burst group the report does not involve is not shrunk (2 instances, saturated farm)',
      { requested: n(0, 0), current: n(0, 2), target: n(0, 2), holdTarget: true },
      0,
      n(0, 2),
      ['notServed'],
    ],
    [
      'a worker-burst group the report does not involve may still grow',
      { requested: n(0, 5), current: n(0, 2), target: n(0, 2), holdTarget: true },
      0,
      n(0, 5),
      [],
    ],
    [
      'a worker-burst group the report involves is shrunk down to its busy workers',
      { requested: n(0, 0), current: n(0, 2), target: n(0, 2), busy: n(0, 1) },
      0,
      n(0, 1),
      ['busy'],
    ],
    ['the budget takes growth back, dedicated first', { requested: n(2, 4) }, 3, n(0, 4), ['budget']],
    ['the budget then takes spot', { requested: n(2, 10) }, 3, n(0, 6), ['budget']],
    [
      'the budget never goes below a pin, even when the pin alone exceeds it',
      { requested: n(0, 20), pin: n(0, 20), target: n(0, 20) },
      1,
      n(0, 20),
      [],
    ],
    [
      'the budget keeps busy nodes',
      { requested: n(4, 0), current: n(3, 0), target: n(3, 0), busy: n(3, 0) },
      4,
      n(3, 0),
      ['budget'],
    ],
  ])('%s', (_what, over, cap, effective, limits) => {
    const [t] = clampPlan([group(over)], { maxSpendPerHour: cap, currency: 'USD' });
    expect(t!.effective).toEqual(effective);
    expect(t!.limits).toEqual(limits);
    expect(t!.reasons.length > 0).toBe(limits.length > 0);
    for (const r of t!.reasons) expect(r).toMatch(/^group nightly: /);
  });

  it('says which bound applied and names the cap and the cost when the budget clamps', () => {
    const [t] = clampPlan([group({ requested: n(0, 20) })], { maxSpendPerHour: 1, currency: 'USD' });
    expect(t!.effective).toEqual(n(0, 2));
    expect(t!.reasons).toEqual([
      'group nightly: 2 spot instead of 20: budget.maxSpendPerHour is 1.00 USD/h and the plan would cost 10.00 USD/h',
    ]);
    const [p] = clampPlan([group({ requested: n(0, 0), pin: n(0, 20), target: n(0, 20) })], uncapped);
    expect(p!.reasons).toEqual(['group nightly: kept at 20 spot, pinned by hand (the plan wanted 0)']);
  });

  it('counts groups the plan does not name at their targets, and leaves them alone', () => {
    const other = group({ name: 'other', requested: undefined, target: n(1, 0), current: n(1, 0) });
    const out = clampPlan([other, group({ requested: n(0, 10) })], { maxSpendPerHour: 4, currency: 'USD' });
    expect(out.map((t) => t.group)).toEqual(['nightly']);
    // 4 - 2 (other's dedicated node) leaves 2: four spot nodes at 0.5.
    expect(out[0]!.effective).toEqual(n(0, 4));
  });

  it('takes back growth before shrinking what a group already has', () => {
    const a = group({ name: 'a', requested: n(0, 4), target: n(0, 4), current: n(0, 4) });
    const b = group({ name: 'b', requested: n(0, 4), target: n(0, 0) });
    const out = clampPlan([a, b], { maxSpendPerHour: 3, currency: 'USD' });
    expect(out.map((t) => [t.group, t.effective])).toEqual([
      ['a', n(0, 4)],
      ['b', n(0, 2)],
    ]);
    expect(costOf(n(0, 6), { dedicated: 2, spot: 0.5 })).toBe(3);
  });
});

describe('checkBudget', () => {
  const groups = [
    { name: 'nightly', target: n(0, 0), prices: { dedicated: 0.6, spot: 0.15 } },
    { name: 'other', target: n(0, 2), prices: { dedicated: 1, spot: 0.1 } },
  ];
  const cap = { maxSpendPerHour: 1, currency: 'USD' };

  // GIVEN a 1.00/h cap WHEN a resize asks for 20 spot nodes at 0.15 THEN it is refused,
  // naming the cap, the cost and what would fit
  it('refuses a resize that takes the studio over its cap, naming the cap and the cost', () => {
    const r = checkBudget(
      groups,
      {
        group: 'nightly',
        target: n(0, 20),
        prices: groups[0]!.prices,
        what: 'resizing "nightly" to 0 dedicated + 20 spot',
      },
      cap,
    );
    expect(r).toMatchObject({ maxSpendPerHour: 1, groupCostPerHour: 3, projectedCostPerHour: 3.2 });
    expect(r!.message).toBe(
      'resizing "nightly" to 0 dedicated + 20 spot would cost 3.00 USD/h (3.20 USD/h for every group together), ' +
        'over budget.maxSpendPerHour of 1.00 USD/h; 0.80 USD/h is left, enough for 5 spot node(s); ask for less or raise the cap',
    );
  });

  it.each<[string, NodePair, number, boolean]>([
    ['within the cap', n(0, 5), 1, false],
    ['uncapped', n(0, 20), 0, false],
    ['over the cap', n(0, 6), 1, true],
  ])('%s', (_what, target, maxSpendPerHour, refused) => {
    const r = checkBudget(
      groups,
      { group: 'nightly', target, prices: groups[0]!.prices, what: 'x' },
      {
        maxSpendPerHour,
        currency: 'USD',
      },
    );
    expect(r !== undefined).toBe(refused);
  });

  it('never refuses a change that lowers the cost, even over the cap', () => {
    const over = [{ name: 'nightly', target: n(0, 20), prices: { dedicated: 0.6, spot: 0.15 } }];
    expect(
      checkBudget(over, { group: 'nightly', target: n(0, 10), prices: over[0]!.prices, what: 'x' }, cap),
    ).toBeUndefined();
  });
});
