import * as path from 'node:path';
import type { CapacityGroupInfo, CapacityNodeInfo } from '@spillway/sdk';
import { run } from '../support/process';
import { startTestService, type TestService } from '../support/service';

// GIVEN a real service (local engine, ephemeral loopback port)
// WHEN `spillway pools ...` and `spillway capacity` run as real child processes
// THEN groups are created (idempotently), resized, listed with their nodes and cost, and
// deleted; bad input gets a usage error naming the flag and value.

const bin = path.resolve(__dirname, '../../sdk/bin/spillway.js');

function cli(address: string, ...args: string[]): ReturnType<typeof run> {
  return run(process.execPath, [bin, ...args, '--address', address]);
}

describe('spillway pools and capacity', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ nodes: 1 });
  });
  afterAll(() => svc.close());

  it('creates, resizes, lists and deletes a group', async () => {
    const create = [
      'pools',
      'create',
      'nightly',
      '--vm-size',
      'local-8',
      '--backend',
      'local',
      '--slots',
      '2',
      '--max-dedicated',
      '3',
      '--max-spot',
      '2',
      '--dedicated-price',
      '1.5',
      '--spot-price',
      '0.25',
    ];
    const first = await cli(svc.address, ...create, '--json');
    expect(first.stderr).toBe('');
    expect(JSON.parse(first.stdout)).toMatchObject({
      created: true,
      group: {
        name: 'nightly',
        mode: 'frame-offload',
        backend: 'local',
        vmSize: 'local-8',
        taskSlotsPerNode: 2,
      },
    });
    const again = await cli(svc.address, ...create);
    expect(again.stdout.trim()).toBe('reconciled nightly (frame-offload, local, local-8)');

    const resize = await cli(
      svc.address,
      'pools',
      'resize',
      'nightly',
      '--dedicated',
      '2',
      '--spot',
      '1',
      '--json',
    );
    expect(resize.code).toBe(0);
    expect((JSON.parse(resize.stdout) as CapacityGroupInfo).target).toEqual({ dedicated: 2, spot: 1 });

    // The local engine boots nodes at once; wait for them to be listed.
    let nodes: CapacityNodeInfo[] = [];
    for (let i = 0; i < 100 && nodes.length < 3; i++) {
      nodes = JSON.parse(
        (await cli(svc.address, 'pools', 'nodes', 'nightly', '--json')).stdout,
      ) as CapacityNodeInfo[];
      if (nodes.length < 3) await new Promise((r) => setTimeout(r, 100));
    }
    expect(nodes.map((n) => n.priority).sort()).toEqual(['dedicated', 'dedicated', 'spot']);
    expect(new Set(nodes.map((n) => n.group))).toEqual(new Set(['nightly']));

    const capacity = JSON.parse((await cli(svc.address, 'capacity', '--json')).stdout) as {
      total: { dedicated: number; spot: number; costPerHour: number };
      groups: CapacityGroupInfo[];
    };
    const nightly = capacity.groups.find((g) => g.name === 'nightly')!;
    expect(nightly.current).toEqual({ dedicated: 2, spot: 1 });
    expect(nightly.costPerHour).toBeCloseTo(2 * 1.5 + 0.25);
    expect(capacity.total.dedicated).toBeGreaterThanOrEqual(2);
    expect(capacity.total.costPerHour).toBeGreaterThanOrEqual(nightly.costPerHour);

    const text = await cli(svc.address, 'capacity', '--nodes');
    expect(text.stdout).toMatch(/^NAME +MODE/m);
    expect(text.stdout).toMatch(/^nightly +frame-offload +local +local-8 +\w+ +2\/1 +2\/1 +2 +3\.25$/m);
    expect(text.stdout).toMatch(/^total: \d+ group\(s\)/m);

    // Above the group's maximum: the service refuses, naming the field.
    const tooMany = await cli(svc.address, 'pools', 'resize', 'nightly', '--dedicated', '9', '--spot', '0');
    expect(tooMany.code).toBe(1);
    expect(tooMany.stderr).toMatch(/dedicated/);
    expect(tooMany.stderr).toMatch(/9/);

    const del = await cli(svc.address, 'pools', 'delete', 'nightly');
    expect(del.stdout.trim()).toBe('deleted nightly');
    const list = JSON.parse(
      (await cli(svc.address, 'pools', 'list', '--json')).stdout,
    ) as CapacityGroupInfo[];
    expect(list.map((g) => g.name)).not.toContain('nightly');
  });

  it('answers bad input with a usage error naming the flag and value', async () => {
    const bad = await cli(svc.address, 'pools', 'resize', 'nightly', '--dedicated', 'two', '--spot', '0');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--dedicated "two": expected a whole number >= 0');
    const noAction = await cli(svc.address, 'pools', 'grow');
    expect(noAction.code).toBe(2);
    expect(noAction.stderr).toContain("unknown command 'grow'");
    const price = await cli(svc.address, 'pools', 'create', 'x', '--vm-size', 'v', '--spot-price', '0.1');
    expect(price.code).toBe(2);
    expect(price.stderr).toContain('--dedicated-price and --spot-price go together');
  });
});
