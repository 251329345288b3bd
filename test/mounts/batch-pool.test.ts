import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BatchServiceClient, BatchSharedKeyCredentials, type BatchServiceModels } from '@azure/batch';
import { BurstClient, createLogger } from '@spillway/sdk';
import type { MountSpec } from '@spillway/sdk/storage';
import { loadConfig } from '@spillway/sdk/config';
import { startBatchEmulator, type BatchEmulator } from '@spillway/sdk/emulate';
import { embeddedProviders, startService, type RunningService } from '@spillway/sdk/service';

// GIVEN the service on the Azure Batch backend against `spillway emulate batch` (the real
// @azure/batch client over HTTP), secrets in files on the service host, and a local directory
// standing in for an NFS export
// WHEN a capacity group with four mounts (Blob through a managed identity, Azure Files with an
// account key by file: reference, NFS, CIFS with a password by reference) is created over gRPC
// and a frame reads its scene through $SPILLWAY_MOUNT_PROJECTS
// THEN the pool, read back with the real client, carries the four mountConfiguration entries,
// its node has the NFS share under $AZ_BATCH_NODE_MOUNTS_DIR/projects, the frame reads the file
// through the mount, and neither secret appears in the group spec, the pool as Batch answers
// it, the engine's record of the pool, or any log line of the service.

const IMAGE = {
  publisher: 'canonical',
  offer: '0001-com-ubuntu-server-jammy',
  sku: '22_04-lts',
  nodeAgentSkuId: 'batch.node.ubuntu 20.04',
};
const FILES_KEY = 'c3RvcmFnZS1rZXktZm9yLXRoZS10ZXN0LW9ubHktMDEyMzQ1Njc4OUFCQ0RFRg==';
const CIFS_PASSWORD = 'Pa55w0rd-never-in-a-log';
const IDENTITY =
  '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/render';

describe('mounts on a Batch pool', () => {
  let dir: string;
  let emulator: BatchEmulator;
  let service: RunningService;
  let client: BurstClient;
  let batch: BatchServiceClient;
  const lines: string[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-mounts-batch-'));
    const share = path.join(dir, 'nas-projects');
    fs.mkdirSync(path.join(share, 'shot010'), { recursive: true });
    fs.writeFileSync(path.join(share, 'shot010', 'scene.txt'), 'scene through NFS\n');
    emulator = await startBatchEmulator({
      engine: { bootDelayMs: 200, shares: { 'nas.studio.internal:/export/projects': share } },
    });
    fs.writeFileSync(path.join(dir, 'batch.key'), emulator.accountKey);
    fs.writeFileSync(path.join(dir, 'files.key'), FILES_KEY + '\n', { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'cifs.password'), CIFS_PASSWORD, { mode: 0o600 });
    const config = loadConfig({
      env: {},
      overrides: {
        listen: '127.0.0.1:0',
        dataDir: path.join(dir, 'data'),
        'compute.backend': 'batch',
        'compute.local.nodes': 0,
        'compute.batch.accountUrl': emulator.url,
        'compute.batch.accountName': emulator.accountName,
        'compute.batch.accountKeyFile': path.join(dir, 'batch.key'),
      },
    });
    const logger = createLogger({ name: 'svc', level: 'debug', write: (l) => lines.push(l) });
    service = await startService(config, embeddedProviders(config), logger);
    client = new BurstClient(service.address);
    batch = new BatchServiceClient(
      new BatchSharedKeyCredentials(emulator.accountName, emulator.accountKey),
      emulator.url,
    );
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await service?.close();
    await emulator?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates the pool with its mountConfiguration, mounts the share on its node, and leaks no secret', async () => {
    const mounts: MountSpec[] = [
      {
        name: 'textures',
        kind: 'azureBlob',
        source: 'https://studiotex.blob.core.windows.net/textures',
        credentialReference: `identity:${IDENTITY}`,
        fileCache: { timeoutSeconds: 600, maxSizeMb: 20_000 },
      },
      {
        name: 'renders',
        kind: 'azureFiles',
        source: 'https://studiofiles.file.core.windows.net/renders',
        credentialReference: `file:${path.join(dir, 'files.key')}`,
        writable: true,
      },
      { name: 'projects', kind: 'nfs', source: 'nas.studio.internal:/export/projects' },
      {
        name: 'library',
        kind: 'cifs',
        source: '//filer.studio.internal/library',
        username: 'render',
        credentialReference: `file:${path.join(dir, 'cifs.password')}`,
        relativeMountPath: 'lib/shared',
      },
    ];
    const { group } = await client.capacity.ensure({
      name: 'shared',
      mode: 'frame-offload',
      vmSize: 'Standard_D4as_v5',
      maxDedicatedNodes: 1,
      image: IMAGE,
      mounts,
    });
    expect(group.name).toBe('shared');

    const pool = await batch.pool.get('shared');
    expect(pool.mountConfiguration).toEqual<BatchServiceModels.MountConfiguration[]>([
      {
        azureBlobFileSystemConfiguration: {
          accountName: 'studiotex',
          containerName: 'textures',
          identityReference: { resourceId: IDENTITY },
          blobfuseOptions: expect.stringContaining(
            '--file-cache-timeout-in-seconds=600',
          ) as unknown as string,
          relativeMountPath: 'textures',
        },
      },
      {
        azureFileShareConfiguration: {
          accountName: 'studiofiles',
          azureFileUrl: 'https://studiofiles.file.core.windows.net/renders',
          relativeMountPath: 'renders',
          mountOptions: expect.stringContaining('vers=3.1.1') as unknown as string,
        } as BatchServiceModels.AzureFileShareConfiguration,
      },
      {
        nfsMountConfiguration: {
          source: 'nas.studio.internal:/export/projects',
          relativeMountPath: 'projects',
          mountOptions: expect.stringContaining('vers=3') as unknown as string,
        },
      },
      {
        cifsMountConfiguration: {
          username: 'render',
          source: '//filer.studio.internal/library',
          relativeMountPath: 'lib/shared',
          mountOptions: expect.any(String) as unknown as string,
        } as BatchServiceModels.CIFSMountConfiguration,
      },
    ]);

    await client.capacity.resize('shared', { dedicated: 1, spot: 0 });
    const { jobId, frames } = await client.submitFrames(
      {
        source: 'test:mounts',
        sourceJobId: 'reads-the-share',
        capacityGroup: 'shared',
        commandTemplate:
          'cat "$SPILLWAY_MOUNT_PROJECTS/shot010/scene.txt" > out/seen.txt && echo "$SPILLWAY_MOUNT_LIBRARY" > out/library.txt',
      },
      [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1 }],
    );
    const frameId = frames[0]!.frameId;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 120_000);
    let outcome: { type: string; message?: string } | undefined;
    for await (const e of client.watchFrames({ jobId, abortSignal: abort.signal })) {
      if (e.type === 'succeeded' || e.type === 'failed') {
        outcome = { type: e.type, message: (e as { message?: string }).message };
        break;
      }
    }
    clearTimeout(timer);
    expect(outcome).toMatchObject({ type: 'succeeded' });
    const seen = path.join(dir, 'seen.txt');
    await client.assets.fetchOutput(frameId, 'seen.txt', seen);
    expect(fs.readFileSync(seen, 'utf8')).toBe('scene through NFS\n');
    const lib = path.join(dir, 'library.txt');
    await client.assets.fetchOutput(frameId, 'library.txt', lib);
    expect(fs.readFileSync(lib, 'utf8').trim()).toMatch(/\/fsmounts\/lib\/shared$/);

    // No secret anywhere a person or a log reads.
    const nodes = emulator.engine.listNodes('shared');
    const haystacks = [
      JSON.stringify(pool),
      JSON.stringify((await client.capacity.get('shared')) as unknown),
      JSON.stringify(emulator.engine.getPool('shared')!.spec),
      JSON.stringify(await batch.computeNode.list('shared').then((p) => [...p])),
      lines.join('\n'),
      ...nodes.flatMap((n) =>
        fs
          .readdirSync(path.join(n.rootDir, 'fsmounts'))
          .filter((f) => f.endsWith('.log'))
          .map((f) => fs.readFileSync(path.join(n.rootDir, 'fsmounts', f), 'utf8')),
      ),
    ];
    expect(lines.length).toBeGreaterThan(0);
    for (const text of haystacks) {
      expect(text).not.toContain(FILES_KEY);
      expect(text).not.toContain(CIFS_PASSWORD);
    }
  }, 180_000);
});
