import { BatchServiceClient, BatchSharedKeyCredentials, type BatchServiceModels } from '@azure/batch';
import { startBatchEmulator, type BatchEmulator } from '@spillway/sdk/emulate';

// GIVEN `spillway emulate batch`, spoken to by the real @azure/batch client
// WHEN pools are added with a malformed mountConfiguration
// THEN each is refused as Batch refuses it (400, MissingRequiredProperty or
// InvalidPropertyValue naming the property), no pool is created, and no secret sent in the
// request is repeated in the error.

const VMC: BatchServiceModels.VirtualMachineConfiguration = {
  imageReference: { publisher: 'canonical', offer: '0001-com-ubuntu-server-focal', sku: '20_04-lts' },
  nodeAgentSKUId: 'batch.node.ubuntu 20.04',
};
const KEY = 'c2VjcmV0LWFjY291bnQta2V5LWZvci10aGUtZW11bGF0b3ItdGVzdC0wMTIzNDU=';

type Mount = BatchServiceModels.MountConfiguration;
const blob = (extra: Partial<BatchServiceModels.AzureBlobFileSystemConfiguration>): Mount => ({
  azureBlobFileSystemConfiguration: {
    accountName: 'acct',
    containerName: 'textures',
    relativeMountPath: 'textures',
    ...extra,
  },
});

describe('mountConfiguration in the Batch emulator', () => {
  let emu: BatchEmulator;
  let client: BatchServiceClient;
  beforeAll(async () => {
    emu = await startBatchEmulator({ engine: { bootDelayMs: 0 } });
    client = new BatchServiceClient(new BatchSharedKeyCredentials(emu.accountName, emu.accountKey), emu.url, {
      noRetryPolicy: true,
    } as never);
  });
  afterAll(async () => emu.close());

  it.each<[string, string, string, Mount[]]>([
    [
      'a Blob container with no credential',
      'InvalidPropertyValue',
      'mountConfiguration[0].azureBlobFileSystemConfiguration',
      [blob({})],
    ],
    [
      'a Blob container with a key and an identity',
      'InvalidPropertyValue',
      'mountConfiguration[0].azureBlobFileSystemConfiguration',
      [blob({ accountKey: KEY, identityReference: { resourceId: '/subscriptions/s/id' } })],
    ],
    [
      'an Azure Files share without its key',
      'MissingRequiredProperty',
      'mountConfiguration[0].azureFileShareConfiguration.accountKey',
      [
        {
          azureFileShareConfiguration: {
            accountName: 'acct',
            azureFileUrl: 'https://acct.file.core.windows.net/share',
            relativeMountPath: 's',
          } as BatchServiceModels.AzureFileShareConfiguration,
        },
      ],
    ],
    [
      'an NFS mount escaping the mounts directory',
      'InvalidPropertyValue',
      'mountConfiguration[0].nfsMountConfiguration.relativeMountPath',
      [{ nfsMountConfiguration: { source: 'nas:/export', relativeMountPath: '../etc' } }],
    ],
    [
      'two file systems in one entry',
      'InvalidPropertyValue',
      'mountConfiguration[0]',
      [
        {
          nfsMountConfiguration: { source: 'nas:/export', relativeMountPath: 'a' },
          cifsMountConfiguration: { source: '//f/s', relativeMountPath: 'b', username: 'u', password: KEY },
        },
      ],
    ],
    [
      'two mounts at one path',
      'InvalidPropertyValue',
      'mountConfiguration[1].azureBlobFileSystemConfiguration.relativeMountPath',
      [
        { nfsMountConfiguration: { source: 'nas:/a', relativeMountPath: 'p' } },
        blob({ accountKey: KEY, relativeMountPath: 'p' }),
      ],
    ],
    [
      'eleven mounts',
      'InvalidPropertyValue',
      'mountConfiguration',
      Array.from({ length: 11 }, (_, i) => ({
        nfsMountConfiguration: { source: `nas:/e${i}`, relativeMountPath: `m${i}` },
      })),
    ],
  ])(
    'GIVEN %s WHEN the pool is added THEN %s naming %s',
    async (_what, code, property, mountConfiguration) => {
      const id = `p${Math.random().toString(36).slice(2, 10)}`;
      // Sent signed through the client's pipeline: its serializer would refuse some of these itself.
      const res = await client.sendRequest({
        method: 'POST',
        url: `${emu.url}/pools`,
        queryParameters: { 'api-version': '2022-10-01.16.0' },
        headers: {
          'Content-Type': 'application/json; odata=minimalmetadata; charset=utf-8',
          'ocp-date': new Date().toUTCString(),
        },
        body: { id, vmSize: 'Standard_D2as_v5', virtualMachineConfiguration: VMC, mountConfiguration },
      });
      const err = {
        statusCode: res.status,
        body: res.parsedBody as BatchServiceModels.BatchError | undefined,
      };
      expect(err.statusCode).toBe(400);
      expect(err.body?.code).toBe(code);
      expect(err.body?.values).toEqual(expect.arrayContaining([{ key: 'PropertyName', value: property }]));
      expect(JSON.stringify(err.body)).not.toContain(KEY);
      expect(emu.engine.getPool(id)).toBeUndefined();
    },
  );

  it('GIVEN a valid configuration WHEN the pool is read back THEN it is as sent, less the secrets', async () => {
    await client.pool.add({
      id: 'mounted',
      vmSize: 'Standard_D2as_v5',
      virtualMachineConfiguration: VMC,
      mountConfiguration: [
        blob({ sasKey: 'sv=2022-11-02&sig=abc', blobfuseOptions: '-o allow_other' }),
        {
          cifsMountConfiguration: {
            source: '//filer/lib',
            relativeMountPath: 'lib',
            username: 'render',
            password: KEY,
          },
        },
      ],
    });
    const pool = await client.pool.get('mounted');
    expect(pool.mountConfiguration).toEqual([
      {
        azureBlobFileSystemConfiguration: {
          accountName: 'acct',
          containerName: 'textures',
          blobfuseOptions: '-o allow_other',
          relativeMountPath: 'textures',
        },
      },
      { cifsMountConfiguration: { source: '//filer/lib', relativeMountPath: 'lib', username: 'render' } },
    ]);
  });
});
