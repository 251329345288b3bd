import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../support/process';

// GIVEN `spillway serve` configured for Azure Batch at an address where nothing listens
// WHEN it starts (twice: the second time with the group it recorded the first time)
// THEN it exits non-zero, naming the backend and its address, and leaves no process behind
//   (no Azurite child keeps it alive), instead of printing the error and hanging.

jest.setTimeout(120_000);

const bin = path.resolve(__dirname, '../../sdk/bin/spillway.js');

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('spillway serve with an unreachable compute backend', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-unreachable-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }));

  it('exits non-zero with the reason', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    fs.writeFileSync(path.join(dir, 'key'), Buffer.from('not-a-real-key-0123456789').toString('base64'));
    fs.writeFileSync(
      path.join(dir, 'config.json'),
      JSON.stringify({
        compute: {
          backend: 'batch',
          batch: { accountUrl: url, accountName: 'studio', accountKeyFile: path.join(dir, 'key') },
        },
      }),
    );
    for (let attempt = 1; attempt <= 2; attempt++) {
      const started = Date.now();
      const result = await run(process.execPath, [
        bin,
        'serve',
        '--listen',
        '127.0.0.1:0',
        '--data-dir',
        path.join(dir, 'data'),
        '--config',
        path.join(dir, 'config.json'),
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`the compute backend (batch at ${url}) could not be reached at start`);
      expect(result.stdout).not.toContain('listening');
      // It ended on its own, well before the start-up deadline (no hang on a refused connection).
      expect(Date.now() - started).toBeLessThan(60_000);
    }
  });
});
