import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';

// A misspelt configuration key (#20: `maxSpendPerHr` started the service uncapped without a
// word). GIVEN a configuration file with `budget.maxSpendPerHr` WHEN `spillway serve` starts
// as a real process THEN it refuses to start, naming the key and the one it probably meant.

const bin = path.resolve(__dirname, '../../sdk/bin/spillway.js');

/** Runs `spillway ARGS`; a service that starts after all is stopped (SIGTERM) after 15 s. */
function serve(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { timeout: 15_000, killSignal: 'SIGTERM' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('spillway serve with an unknown configuration key', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-config-cli-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses to start, naming the key and a did-you-mean', async () => {
    const file = path.join(dir, 'spillway.json');
    fs.writeFileSync(file, JSON.stringify({ budget: { maxSpendPerHr: 1.0 } }));
    const r = await serve([
      'serve',
      '--config',
      file,
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      path.join(dir, 'data'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).not.toContain('listening');
    expect(r.stderr.trim()).toBe(
      `spillway serve: budget.maxSpendPerHr: is not a configuration key (in ${file}); did you mean "budget.maxSpendPerHour"? (got 1)`,
    );
    // Nothing was started or written.
    expect(fs.existsSync(path.join(dir, 'data'))).toBe(false);
  }, 30_000);
});
