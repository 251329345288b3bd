import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { SUBSCRIPTION } from './support';

// GIVEN the built CLI (`npm test` builds first)
// WHEN `spillway emulate arm --json` runs as a real child process
// THEN it prints its URL and CA file; a separate Node process that trusts the CA only
// through NODE_EXTRA_CA_CERTS talks to it with a bearer token; SIGTERM stops it cleanly.

const root = path.resolve(__dirname, '../..');
const bin = path.join(root, 'sdk/bin/spillway.js');

describe('spillway emulate arm', () => {
  it('serves HTTPS with a CA that NODE_EXTRA_CA_CERTS makes trusted, and stops on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [bin, 'emulate', 'arm', '--port', '0', '--json', '--lro-delay-ms', '20'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      const first = await new Promise<string>((resolve, reject) => {
        readline.createInterface({ input: child.stdout! }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
      });
      const info = JSON.parse(first) as { url: string; caPath: string };
      expect(info.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);

      const script = `
        const https = require('node:https');
        const url = process.argv[1] + '/subscriptions/${SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets?api-version=2026-03-01';
        https.get(url, { headers: { authorization: 'Bearer t' } }, (res) => {
          let body = ''; res.on('data', (c) => (body += c)); res.on('end', () => console.log(res.statusCode + ' ' + body));
        }).on('error', (e) => { console.log('error ' + e.code); });`;
      const trusted = spawnSync(process.execPath, ['-e', script, info.url], {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: info.caPath },
        encoding: 'utf8',
      });
      expect(trusted.stdout.trim()).toBe('200 {"value":[]}');
      const untrusted = spawnSync(process.execPath, ['-e', script, info.url], {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: '' },
        encoding: 'utf8',
      });
      expect(untrusted.stdout.trim()).toMatch(/^error /);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
  });

  it('refuses a bad option with a usage error', () => {
    const res = spawnSync(process.execPath, [bin, 'emulate', 'arm', '--port', 'eighty'], {
      encoding: 'utf8',
    });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('--port "eighty": expected a whole number from 0 to 65535');
  });
});
