import { AdmissionGate } from './gate';

/** A promise and the function that settles it. */
function latch(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

describe('AdmissionGate', () => {
  test('GIVEN a shared holder WHEN an exclusive one and a later shared one arrive THEN the exclusive one runs alone, before the later one', async () => {
    const gate = new AdmissionGate();
    const order: string[] = [];
    const first = latch();
    const a = gate.shared(async () => {
      order.push('shared-1 in');
      await first.promise;
      order.push('shared-1 out');
    });
    await Promise.resolve();
    const x = gate.exclusive(async () => {
      order.push('exclusive in');
      await new Promise((r) => setTimeout(r, 10));
      order.push('exclusive out');
    });
    const b = gate.shared(async () => {
      order.push('shared-2');
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual(['shared-1 in']);
    first.open();
    await Promise.all([a, x, b]);
    expect(order).toEqual(['shared-1 in', 'shared-1 out', 'exclusive in', 'exclusive out', 'shared-2']);
  });

  test('GIVEN shared holders WHEN they overlap THEN they run together; a failure releases the gate', async () => {
    const gate = new AdmissionGate();
    let inside = 0;
    let most = 0;
    const one = (): Promise<void> =>
      gate.shared(async () => {
        inside++;
        most = Math.max(most, inside);
        await new Promise((r) => setTimeout(r, 5));
        inside--;
      });
    await Promise.all([one(), one(), one()]);
    expect(most).toBe(3);
    await expect(gate.exclusive(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(gate.shared(async () => 'still open')).resolves.toBe('still open');
  });
});
