import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { startAzurite } from '@spillway/sdk/storage';

// GIVEN the embedded Azurite on a data directory, and a blob it acknowledged
// WHEN Azurite is SIGKILLed and started again on the same directory
// THEN the blob is there if `flush()` returned before the kill (and, as the reason for the
//   flush, it is gone without one: Azurite saves which blobs exist only every 5 seconds).

jest.setTimeout(120_000);

describe('embedded Azurite durability', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-azurite-kill-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }));

  const uploadThenKill = async (flush: boolean): Promise<boolean> => {
    const first = await startAzurite({ dataDir: dir });
    try {
      const container = BlobServiceClient.fromConnectionString(first.connectionString).getContainerClient(
        'frames',
      );
      await container.createIfNotExists();
      // Whatever the container's creation left unsaved is saved now; the blob below is not, yet.
      await first.flush();
      await container.getBlockBlobClient('frame.txt').upload('rendered', 8);
      if (flush) await first.flush();
      process.kill(first.pid, 'SIGKILL');
    } finally {
      await first.stop();
    }

    const second = await startAzurite({ dataDir: dir });
    try {
      return await BlobServiceClient.fromConnectionString(second.connectionString)
        .getContainerClient('frames')
        .getBlobClient('frame.txt')
        .exists();
    } finally {
      await second.stop();
    }
  };

  it('keeps a blob acknowledged before flush() returned', async () => {
    expect(await uploadThenKill(true)).toBe(true);
  });

  it('loses a blob acknowledged moments before a SIGKILL without a flush (why flush exists)', async () => {
    expect(await uploadThenKill(false)).toBe(false);
  });
});
