import * as grpc from '@grpc/grpc-js';
import { wire } from '@spillway/sdk';
import { startTestService, type TestService } from '../support/service';
import { closedPort, eventsUntilDone, tcpListener as licenceServer, until } from '../support/waits';

// GIVEN a real service on the embedded default and a real TCP listener standing in for a
// licence server (and a port where nothing listens)
// WHEN a capacity group names the server
// THEN a node of the group connects to it before the group's first frame is sent, every task
// gets the renderer's variables; an unreachable server makes the group unhealthy with an error
// naming it, its frames go back to the farm (recalled, naming it) and submissions are refused.

describe('licence servers per capacity group', () => {
  let svc: TestService;
  beforeAll(async () => {
    // The plan test below asks the burst policy (the product's planner) for a plan.
    svc = await startTestService({ nodes: 1, planner: 'policy' });
  });
  afterAll(() => svc.close());

  it('a reachable server passes the check on a node before the first frame; tasks get port@host', async () => {
    const lic = await licenceServer();
    try {
      await svc.client.capacity.ensure({
        name: 'lic-ok',
        mode: 'frame-offload',
        vmSize: 'local',
        maxDedicatedNodes: 1,
        licenseServers: [
          {
            address: `127.0.0.1:${lic.port}`,
            environmentVariables: ['RLM_LICENSE', 'foundry_LICENSE'],
            name: 'rlm',
          },
        ],
      });
      await svc.client.capacity.resize('lic-ok', { dedicated: 1, spot: 0 });
      const { jobId } = await svc.client.submitFrames(
        {
          source: 'test',
          sourceJobId: 'lic-ok-1',
          capacityGroup: 'lic-ok',
          commandTemplate:
            'mkdir -p out && printf "%s %s" "$RLM_LICENSE" "$foundry_LICENSE" > out/lic-#IFRAME#.txt',
        },
        [1, 2].map((n) => ({ sourceTaskId: String(n), frameStart: n, frameEnd: n })),
      );
      const events = await eventsUntilDone(svc, jobId, 2);
      expect(events.filter((e) => e.type === 'succeeded')).toHaveLength(2);
      // The check connected before any frame of the group started.
      const firstStart = Math.min(...events.filter((e) => e.type === 'started').map((e) => e.time.getTime()));
      expect(lic.connections.length).toBeGreaterThanOrEqual(1);
      expect(lic.connections[0]!).toBeLessThan(firstStart);
      const group = await svc.client.capacity.get('lic-ok');
      expect(group.preflight).toEqual(
        expect.objectContaining({ state: 'passed', failures: [], checks: ['licence servers'] }),
      );
      expect(group.healthy).toBe(true);
      const succeeded = events.find((e) => e.type === 'succeeded')!;
      const out = succeeded.outputs![0]!;
      expect(out.path).toMatch(/^lic-\d\.txt$/);
      const value = `${lic.port}@127.0.0.1`;
      expect(out.sizeBytes).toBe(`${value} ${value}`.length);
    } finally {
      await lic.close();
    }
  }, 180_000);

  it('an unreachable server: the group is unhealthy naming it, held frames come back, submissions are refused', async () => {
    const port = await closedPort();
    const address = `127.0.0.1:${port}`;
    await svc.client.capacity.ensure({
      name: 'lic-down',
      mode: 'frame-offload',
      vmSize: 'local',
      maxDedicatedNodes: 1,
      licenseServers: [{ address, environmentVariables: ['ADSKFLEX_LICENSE_FILE'], name: 'arnold' }],
    });
    // Frames submitted before the check has run are held, not sent.
    const { jobId } = await svc.client.submitFrames(
      { source: 'test', sourceJobId: 'lic-down-1', capacityGroup: 'lic-down', commandTemplate: 'echo never' },
      [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1 }],
    );
    await svc.client.capacity.resize('lic-down', { dedicated: 1, spot: 0 });
    const events = await eventsUntilDone(svc, jobId, 1);
    expect(events.map((e) => e.type)).toEqual(['queued', 'recalled']);
    expect(events[1]!.message).toContain(`arnold (${address})`);
    expect(events.some((e) => e.type === 'started')).toBe(false);

    const group = await until('the failed check', async () => {
      const g = await svc.client.capacity.get('lic-down');
      return g.preflight?.state === 'failed' ? g : undefined;
    });
    expect(group.healthy).toBe(false);
    expect(group.preflight!.failures).toEqual([
      {
        code: 'LicenseServerUnreachable',
        subject: `licence server arnold (${address})`,
        message: expect.stringContaining(`arnold (${address}): ConnectionRefusedError`),
      },
    ]);
    // A client built before `preflight` still reads the deprecated `license_check` (field 15).
    const raw = new wire.capacity.CapacityServiceClient(svc.address, grpc.credentials.createInsecure());
    try {
      const res = await new Promise<wire.capacity.GetCapacityGroupResponse>((resolve, reject) =>
        raw.getCapacityGroup({ name: 'lic-down' }, (err, r) => (err ? reject(err) : resolve(r))),
      );
      expect(res.group?.status?.licenseCheck).toEqual(
        expect.objectContaining({
          state: wire.capacity.LicenseCheckState.LICENSE_CHECK_STATE_FAILED,
          unreachable: [expect.stringContaining(`arnold (${address})`)],
        }),
      );
      expect(res.group?.status?.preflight?.state).toBe(wire.capacity.PreflightState.PREFLIGHT_STATE_FAILED);
    } finally {
      raw.close();
    }
    expect(group.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          code: 'LicenseServerUnreachable',
          message: expect.stringContaining(`arnold (${address})`),
        }),
      ]),
    );

    await expect(
      svc.client.submitFrames(
        {
          source: 'test',
          sourceJobId: 'lic-down-2',
          capacityGroup: 'lic-down',
          commandTemplate: 'echo never',
        },
        [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1 }],
      ),
    ).rejects.toThrow(new RegExp(`licence server arnold \\(${address.replace(/\./g, '\\.')}\\)`));
  }, 180_000);

  it('the burst plan sends no frames to the unhealthy group and says why', async () => {
    // (After the previous test: lic-down's check failed.)
    const plan = await svc.client.reportFarmState({
      source: 'deadline:test',
      sourceKind: 'deadline',
      observedAt: new Date(),
      jobs: [
        {
          // No local worker and a deadline in an hour: the policy would offload it.
          sourceJobId: 'j1',
          priority: 50,
          group: '',
          queuedFrames: 50,
          renderingFrames: 0,
          offloadedFrames: 0,
          deadline: new Date(Date.now() + 3_600_000),
          localFrameTime: { meanMs: 120_000, stdevMs: 0, samples: 5 },
          burstable: true,
          capacityGroup: 'lic-down',
        },
      ],
      workers: [],
    });
    expect(plan.offload.filter((o) => o.capacityGroup === 'lic-down')).toEqual([]);
    expect(plan.reasons).toEqual(
      expect.arrayContaining([expect.stringMatching(/^j1: \d+ frames stay local: licence server arnold/)]),
    );
  }, 60_000);

  it('refuses a malformed server address naming the field', async () => {
    await expect(
      svc.client.capacity.ensure({
        name: 'lic-bad',
        mode: 'frame-offload',
        vmSize: 'local',
        maxDedicatedNodes: 1,
        licenseServers: [{ address: 'lic.studio.internal', environmentVariables: ['RLM_LICENSE'] }],
      }),
    ).rejects.toThrow(/spec\.license_servers\[0\]\.address: must be host:port/);
  });
});
