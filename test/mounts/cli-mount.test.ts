import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { BurstServiceError } from '@spillway/sdk';
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
    const createBad = (...args: string[]) =>
      cli(svc.address, 'pools', 'create', 'bad', '--vm-size', 'local', ...args);
    const bad = await createBad('--mount', 'projects=zfs:x');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--mount "projects=zfs:x"');
    const refused = await createBad(
      '--max-dedicated',
      '1',
      '--mount',
      'tex=azure-blob:https://acct.blob.core.windows.net/textures',
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('spec.mounts[0].credential_reference');
    expect(refused.stderr).toContain('[set with --mount #1 cred=]');
    const badPath = await createBad(
      '--max-dedicated',
      '1',
      '--mount',
      'projects=nfs:nas.studio.internal:/export/projects',
      '--mount',
      'tex=nfs:nas.studio.internal:/export/tex;path=../up',
    );
    expect(badPath.code).not.toBe(0);
    expect(badPath.stderr).toContain('spec.mounts[1].relative_mount_path');
    expect(badPath.stderr).toContain('"../up"');
    expect(badPath.stderr).toContain('[set with --mount #2 path=]');
  }, 60_000);

  it('names the proto field (snake_case) of a refused mount over gRPC', async () => {
    const refusal = async (mounts: Parameters<typeof svc.client.capacity.ensure>[0]['mounts']) => {
      try {
        await svc.client.capacity.ensure({
          name: 'wire',
          mode: 'frame-offload',
          vmSize: 'local',
          maxDedicatedNodes: 1,
          mounts,
        });
      } catch (e) {
        return e as BurstServiceError;
      }
      throw new Error('expected the service to refuse the mounts');
    };
    const nfs = { name: 'projects', kind: 'nfs', source: 'nas.studio.internal:/export/projects' } as const;
    const cases: [NonNullable<Parameters<typeof refusal>[0]>, string][] = [
      [[nfs, { ...nfs, name: 'tex', relativeMountPath: '/abs' }], 'spec.mounts[1].relative_mount_path'],
      [[{ ...nfs, mountOptions: 'ro;rm -rf' }], 'spec.mounts[0].mount_options'],
      [
        [{ name: 'tex', kind: 'azureBlob', source: 'https://acct.blob.core.windows.net/textures' }],
        'spec.mounts[0].credential_reference',
      ],
      [[{ ...nfs, fileCache: { maxSizeMb: 1024 } }], 'spec.mounts[0].file_cache'],
    ];
    // A scale set's instances cannot read a file on the service's host.
    const onScaleSet = await svc.client.capacity
      .ensure({
        name: 'wire-ss',
        mode: 'worker-burst',
        backend: 'scale-set',
        vmSize: 'Standard_D4as_v5',
        image: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server' },
        maxDedicatedNodes: 1,
        resourceGroup: 'render',
        location: 'westeurope',
        workerStartup: { renderManager: 'deadline', farmAddress: 'repo.studio.internal:4433' },
        mounts: [
          {
            name: 'tex',
            kind: 'azureBlob',
            source: 'https://acct.blob.core.windows.net/textures',
            credentialReference: 'file:/etc/spillway/key',
          },
        ],
      })
      .catch((e: unknown) => e as BurstServiceError);
    expect(onScaleSet).toBeInstanceOf(BurstServiceError);
    expect((onScaleSet as BurstServiceError).field).toBe('spec.mounts[0].credential_reference');
    expect((onScaleSet as BurstServiceError).message).toContain('file:/etc/spillway/key');
    for (const [mounts, field] of cases) {
      const err = await refusal(mounts);
      expect(err).toBeInstanceOf(BurstServiceError);
      expect([err.status, err.field, err.message]).toEqual([
        grpc.status.INVALID_ARGUMENT,
        field,
        expect.any(String),
      ]);
      expect(err.field).toBe(field);
      expect(err.message).toContain(field);
    }
  }, 60_000);
});
