import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FakeCuebot } from '@spillway/bridge-opencue/testing';
import { startTestService, type TestService } from '../support/service';
import { freePort } from './ports';

// GIVEN the built `spillway-opencue` binary as a real child process
// WHEN it gets bad input, or a wrong bearer token for the service
// THEN bad input is refused naming the key and quoting the value before anything happens,
// and the token never appears in its output while the host stays closed to bookings.

const repoRoot = path.resolve(__dirname, '../..');
const bin = path.join(repoRoot, 'bridges/opencue/bin/spillway-opencue.js');

describe('spillway-opencue CLI', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-opencue-cli-'));
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it('GIVEN --cores 0 WHEN run THEN it exits 2 naming cores, quoting the value, creating no state', () => {
    const stateDir = path.join(work, 'never');
    const r = spawnSync(
      process.execPath,
      [
        bin,
        '--cuebot',
        '127.0.0.1:1',
        '--service',
        '127.0.0.1:1',
        '--host-name',
        'h',
        '--cores',
        '0',
        '--state-dir',
        stateDir,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('cores: must be a whole number from 1 to 100000 (got "0")');
    expect(fs.existsSync(stateDir)).toBe(false);
  });

  it('GIVEN a config file with an unknown key WHEN run THEN the key is named', () => {
    const file = path.join(work, 'bad.json');
    fs.writeFileSync(file, JSON.stringify({ cuebot: 'c:1', service: 's:1', hostName: 'h', rqdPrt: 8444 }));
    const r = spawnSync(process.execPath, [bin, '--config', file], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('rqdPrt');
  });

  it('GIVEN a Windows source in --path-map WHEN run THEN it is accepted (it gets as far as dialing Cuebot)', () => {
    const r = spawnSync(
      process.execPath,
      [
        bin,
        '--cuebot',
        '127.0.0.1:1',
        '--service',
        '127.0.0.1:1',
        '--host-name',
        'h',
        '--path-map',
        'Z:\\projects=/mnt/projects',
        '--path-map',
        '\\\\filer\\show=/mnt/show',
        '--state-dir',
        path.join(work, 'pm'),
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.stderr).not.toContain('pathMap');
    expect(r.status).toBe(1); // Cuebot is unreachable: could not start, not bad usage
    expect(r.stderr).toMatch(/GetSystemStats/);
  });

  describe('GIVEN a service that requires a bearer token', () => {
    let svc: TestService;
    let cuebot: FakeCuebot;
    const secret = 'tok-OPENCUE-e2e-7f3a9c';

    beforeAll(async () => {
      svc = await startTestService({ nodes: 1, token: secret });
      cuebot = await FakeCuebot.start();
    });
    afterAll(async () => {
      await cuebot.close();
      await svc.close();
    });

    it('WHEN the host runs with a wrong token THEN it stays closed, stops with exit 1 saying why, and no token is printed', async () => {
      const wrong = 'tok-WRONG-b41d2e';
      const tokenFile = path.join(work, 'token');
      fs.writeFileSync(tokenFile, wrong, { mode: 0o600 });
      const child = spawn(
        process.execPath,
        [
          bin,
          '--cuebot',
          cuebot.address,
          '--service',
          svc.address,
          '--host-name',
          'azure-tok',
          '--rqd-port',
          String(await freePort()),
          '--rqd-listen-host',
          '127.0.0.1',
          '--report-interval-ms',
          '200',
          '--state-dir',
          path.join(work, 'state'),
          '--token-file',
          tokenFile,
          '--log-level',
          'debug',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let log = '';
      child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      try {
        // The frame watch is refused for good (UNAUTHENTICATED is not a passing fault): the
        // host stops rather than sit there forever.
        await cuebot.waitFor(() => child.exitCode !== null, { timeoutMs: 30_000, what: 'the host to stop' });
        expect(child.exitCode).toBe(1);
        expect(log).toMatch(/ERROR \[opencue\] bridge failed; stopping error=invalid bearer/);
        expect(cuebot.getHosts().find((h) => h.name === 'azure-tok')?.lock_state).toBe('LOCKED');
        expect(log).not.toContain(wrong);
        expect(log).not.toContain(secret);
      } finally {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        }
      }
      expect(log).not.toContain(wrong);
    });
  });
});
