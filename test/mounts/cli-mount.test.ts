import * as path from 'node:path';
import { run } from '../support/process';
import { startTestService, type TestService } from '../support/service';

// GIVEN a real service (local engine, ephemeral loopback port)
// WHEN `spillway pools create --mount ...` runs as a real child process
// THEN the group carries the mounts as the service stored them (credentials by reference),
// and a malformed --mount or a value the service refuses is a usage error naming the flag.

const bin = path.resolve(__dirname, '../../sdk/bin/spillway.js');

function cli(address: string, ...args: string[]): ReturnType<typeof run> {
  return run(process.execPath, [bin, ...args, '--address', address]);
}

describe('spillway pools create --mount', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ nodes: 1 });
  });
  afterAll(() => svc.close());

  it('creates a group whose nodes mount an NFS export and a blob container', async () => {
    const r = await cli(
      svc.address,
      'pools',
      'create',
      'shared',
      '--vm-size',
      'local',
      '--max-dedicated',
      '1',
      '--mount',
      'projects=nfs:nas.studio.internal:/export/projects;writable;options=vers=4.1,nconnect=4',
      '--mount',
      'tex=azure-blob:https://acct.blob.core.windows.net/textures;cred=file:/etc/spillway/blob.key;cache-timeout=300',
      '--json',
    );
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout).group.mounts).toEqual([
      {
        name: 'projects',
        kind: 'nfs',
        source: 'nas.studio.internal:/export/projects',
        mountOptions: 'vers=4.1,nconnect=4',
        writable: true,
      },
      {
        name: 'tex',
        kind: 'azureBlob',
        source: 'https://acct.blob.core.windows.net/textures',
        credentialReference: 'file:/etc/spillway/blob.key',
        fileCache: { timeoutSeconds: 300 },
      },
    ]);
    const got = await svc.client.capacity.get('shared');
    expect(got.mounts.map((m) => m.name)).toEqual(['projects', 'tex']);
  }, 60_000);

  it('refuses a malformed --mount, and one the service refuses, naming the flag', async () => {
    const bad = await cli(
      svc.address,
      'pools',
      'create',
      'bad',
      '--vm-size',
      'local',
      '--mount',
      'projects=zfs:x',
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--mount "projects=zfs:x"');
    const refused = await cli(
      svc.address,
      'pools',
      'create',
      'bad',
      '--vm-size',
      'local',
      '--max-dedicated',
      '1',
      '--mount',
      'tex=azure-blob:https://acct.blob.core.windows.net/textures',
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/spec\.mounts\[0\]\.credential_reference|credential/);
    expect(refused.stderr).toContain('[set with --mount]');
  }, 60_000);
});
