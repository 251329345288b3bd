import { FaultPlan } from './faults';

describe('FaultPlan', () => {
  it('GIVEN 10% busy and 10% timed out WHEN 10,000 requests are drawn THEN about 20% fault, half of the 500s after apply on writes', () => {
    const plan = new FaultPlan({ serverBusyRate: 0.1, operationTimedOutRate: 0.1, seed: 5 });
    const kinds = { none: 0, serverBusy: 0, operationTimedOut: 0, drop: 0 };
    let after = 0;
    for (let i = 0; i < 10_000; i++) {
      const d = plan.decide('Task_AddCollection', true);
      kinds[d.kind]++;
      if (d.kind !== 'none' && d.afterApply) after++;
    }
    expect(kinds.serverBusy).toBeGreaterThan(900);
    expect(kinds.serverBusy).toBeLessThan(1100);
    expect(kinds.operationTimedOut).toBeGreaterThan(900);
    expect(kinds.operationTimedOut).toBeLessThan(1100);
    expect(kinds.drop).toBe(0);
    expect(after / kinds.operationTimedOut).toBeGreaterThan(0.4);
    expect(after / kinds.operationTimedOut).toBeLessThan(0.6);
  });

  it('GIVEN the same seed WHEN drawn twice THEN the same faults; reads never fault after apply; other operations untouched', () => {
    const a = new FaultPlan({ dropConnectionRate: 0.5, seed: 9, operations: ['Task_Get'] });
    const b = new FaultPlan({ dropConnectionRate: 0.5, seed: 9, operations: ['Task_Get'] });
    const da = Array.from({ length: 50 }, () => a.decide('Task_Get', false));
    expect(da).toEqual(Array.from({ length: 50 }, () => b.decide('Task_Get', false)));
    expect(da.some((d) => d.kind === 'drop')).toBe(true);
    expect(da.every((d) => d.kind === 'none' || !d.afterApply)).toBe(true);
    expect(a.decide('Pool_Get', false)).toEqual({ kind: 'none' });
  });

  it('GIVEN a scripted after-apply fault WHEN that operation comes THEN it is forced once, before random draws, other operations untouched', () => {
    const plan = new FaultPlan({
      script: [{ operation: 'Task_AddCollection', kind: 'operationTimedOut', afterApply: true }],
    });
    expect(plan.decide('Task_Get', false)).toEqual({ kind: 'none' });
    expect(plan.decide('Task_AddCollection', true)).toEqual({ kind: 'operationTimedOut', afterApply: true });
    expect(plan.decide('Task_AddCollection', true)).toEqual({ kind: 'none' });
  });
});
