import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { BurstClient, BurstServiceError, createLogger } from '@spillway/sdk';
import { generateLoopbackCertificate } from '@spillway/sdk/emulate';
import { spawnService, startTestService, type TestService } from '../support/service';

// GIVEN the service's security rules
// WHEN it is asked to listen off loopback without TLS, or called without a valid token,
// or served over TLS with a token
// THEN it refuses clearly, answers UNAUTHENTICATED, or serves; and no secret is ever logged.

const spillway = path.resolve(__dirname, '../../sdk/bin/spillway.js');
const token = 'svc-token-5f0c3e2a9b71d4e8';
const job = { source: 'test:auth', sourceJobId: 'j', commandTemplate: 'true' };
const frames = [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1 }];

describe('service authentication', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-auth-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses to listen off loopback without TLS and a token, and says why', () => {
    const r = spawnSync(
      process.execPath,
      [spillway, 'serve', '--listen', '0.0.0.0:0', '--data-dir', path.join(dir, 'a')],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('refusing to listen on 0.0.0.0:0 without TLS');
    expect(r.stderr).toContain('--tls-cert');
    fs.writeFileSync(path.join(dir, 'token'), token);
    const t = spawnSync(
      process.execPath,
      [
        spillway,
        'serve',
        '--listen',
        '0.0.0.0:0',
        '--token-file',
        path.join(dir, 'token'),
        '--data-dir',
        path.join(dir, 'b'),
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(t.status).toBe(1);
    expect(t.stderr).toContain('without TLS');
    expect(t.stdout + t.stderr).not.toContain(token);
  });

  describe('with a token', () => {
    let service: TestService;
    const lines: string[] = [];
    beforeAll(async () => {
      service = await startTestService({
        token,
        nodes: 1,
        logger: createLogger({ level: 'debug', write: (l) => lines.push(l) }),
      });
    });
    afterAll(() => service.close());

    it('answers UNAUTHENTICATED without a token or with a wrong one, and serves the right one', async () => {
      for (const options of [{}, { token: 'wrong-token-0123456789abcdef' }]) {
        const client = new BurstClient(service.address, options);
        const error = await client.submitFrames(job, frames).catch((e: unknown) => e);
        client.close();
        expect(error).toBeInstanceOf(BurstServiceError);
        expect((error as BurstServiceError).status).toBe(grpc.status.UNAUTHENTICATED);
        expect((error as Error).message).not.toContain(token);
      }
      const ok = await service.client.submitFrames(job, frames);
      expect(ok.frames[0]!.created).toBe(true);
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.join('\n')).not.toContain(token);
    });
  });

  it('serves TLS with a token, and a client trusting the CA gets through', async () => {
    const cert = await generateLoopbackCertificate(path.join(dir, 'tls'));
    fs.writeFileSync(path.join(dir, 'tls', 'key.pem'), cert.keyPem);
    fs.writeFileSync(path.join(dir, 'token2'), token);
    const svc = await spawnService({
      dataDir: fs.mkdtempSync(path.join(dir, 'c')),
      nodes: 1,
      extraArgs: [
        '--tls-cert',
        cert.caPath,
        '--tls-key',
        path.join(dir, 'tls', 'key.pem'),
        '--token-file',
        path.join(dir, 'token2'),
      ],
    });
    try {
      const port = svc.address.split(':').pop();
      const client = new BurstClient(`localhost:${port}`, { token, tls: { ca: Buffer.from(cert.certPem) } });
      const r = await client.submitFrames(job, frames);
      expect(r.frames).toHaveLength(1);
      client.close();
      const plain = new BurstClient(`localhost:${port}`, { token, maxAttempts: 1, callTimeoutMs: 3000 });
      await expect(plain.submitFrames(job, frames)).rejects.toBeInstanceOf(BurstServiceError);
      plain.close();
      expect(svc.output()).not.toContain(token);
    } finally {
      await svc.kill('SIGTERM');
    }
  });
});
