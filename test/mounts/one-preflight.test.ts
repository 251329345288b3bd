import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startTestService, type TestService } from '../support/service';
import { closedPort, eventsUntilDone, tcpListener as listener } from '../support/waits';

// GIVEN a real service on the embedded engine, a share standing in for an NFS export, a real
// TCP listener standing in for a licence server and a port where nothing listens
// WHEN capacity groups mount the share and name licence servers
// THEN ONE preflight runs both checks as one task on a node of the group before its first
// frame: a group whose mount and server are fine renders (the check ran first, tasks see
// SPILLWAY_MOUNT_<NAME> and port@host); a group with a missing mount AND an unreachable
// server is unhealthy with one failure naming each, in one status field, and its frames come
// back naming both.

describe('one group preflight: mounts and licence servers', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-one-preflight-'));
  const share = path.join(work, 'projects');
  let svc: TestService;
  let lic: Awaited<ReturnType<typeof listener>>;

  beforeAll(async () => {
    fs.mkdirSync(share, { recursive: true });
    fs.writeFileSync(path.join(share, 'scene.txt'), 'on the share\n');
    lic = await listener();
    svc = await startTestService({
      nodes: 1,
      config: {
        'compute.local.shares': {
          'nas.studio.internal:/export/projects': share,
          'nas.studio.internal:/export/gone': path.join(work, 'gone'),
        },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await svc.close();
    await lic.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('both checks pass in one task before the first frame; tasks see the mount and the server', async () => {
    await svc.client.capacity.ensure({
      name: 'both-ok',
      mode: 'frame-offload',
      vmSize: 'local',
      maxDedicatedNodes: 1,
      mounts: [{ name: 'projects', kind: 'nfs', source: 'nas.studio.internal:/export/projects' }],
      licenseServers: [
        { address: `127.0.0.1:${lic.port}`, environmentVariables: ['RLM_LICENSE'], name: 'rlm' },
      ],
    });
    await svc.client.capacity.resize('both-ok', { dedicated: 1, spot: 0 });
    const { jobId } = await svc.client.submitFrames(
      {
        source: 'test',
        sourceJobId: 'both-ok-1',
        capacityGroup: 'both-ok',
        commandTemplate:
          'mkdir -p out && printf "%s|%s" "$RLM_LICENSE" "$(cat "$SPILLWAY_MOUNT_PROJECTS/scene.txt")" > out/f-#IFRAME#.txt',
      },
      [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1 }],
    );
    const events = await eventsUntilDone(svc, jobId, 1);
    expect(events.map((e) => e.type)).toContain('succeeded');
    const started = events.find((e) => e.type === 'started')!.time.getTime();
    expect(lic.connections[0]!).toBeLessThan(started);
    const out = events.find((e) => e.type === 'succeeded')!.outputs![0]!;
    expect(out.sizeBytes).toBe(`${lic.port}@127.0.0.1|on the share`.length);
    const group = await svc.client.capacity.get('both-ok');
    expect(group.healthy).toBe(true);
    expect(group.preflight).toEqual(
      expect.objectContaining({ state: 'passed', failures: [], checks: ['mounts', 'licence servers'] }),
    );
  }, 180_000);

  it('a missing mount and an unreachable server: one failed preflight naming each', async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    await svc.client.capacity.ensure({
      name: 'both-bad',
      mode: 'frame-offload',
      vmSize: 'local',
      maxDedicatedNodes: 1,
      mounts: [{ name: 'library', kind: 'nfs', source: 'nas.studio.internal:/export/gone' }],
      licenseServers: [{ address, environmentVariables: ['ADSKFLEX_LICENSE_FILE'], name: 'arnold' }],
    });
    const { jobId } = await svc.client.submitFrames(
      { source: 'test', sourceJobId: 'both-bad-1', capacityGroup: 'both-bad', commandTemplate: 'echo never' },
      [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1 }],
    );
    await svc.client.capacity.resize('both-bad', { dedicated: 1, spot: 0 });
    const events = await eventsUntilDone(svc, jobId, 1);
    expect(events.map((e) => e.type)).toEqual(['queued', 'recalled']);
    expect(events[1]!.message).toContain('mount "library"');
    expect(events[1]!.message).toContain(`licence server arnold (${address})`);

    const group = await svc.client.capacity.get('both-bad');
    expect(group.healthy).toBe(false);
    expect(group.preflight).toEqual(
      expect.objectContaining({ state: 'failed', checks: ['mounts', 'licence servers'] }),
    );
    expect(group.preflight!.failures).toEqual([
      {
        code: 'MountUnavailable',
        subject: expect.stringMatching(/^mount "library" \(nfs nas\.studio\.internal:\/export\/gone/),
        message: expect.stringContaining('not mounted'),
      },
      {
        code: 'LicenseServerUnreachable',
        subject: `licence server arnold (${address})`,
        message: expect.stringContaining('ConnectionRefusedError'),
      },
    ]);
    expect(group.errors.map((e) => e.code)).toEqual(
      expect.arrayContaining(['MountUnavailable', 'LicenseServerUnreachable']),
    );
  }, 180_000);
});
