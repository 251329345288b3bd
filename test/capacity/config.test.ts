import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../support/process';

// A misspelt configuration key (#20: `maxSpendPerHr` started the service uncapped without a
// word). GIVEN a configuration file with `budget.maxSpendPerHr` WHEN `spillway serve` starts
// as a real process THEN it refuses to start, naming the key and the one it probably meant.

const bin = path.resolve(__dirname, '../../sdk/bin/spillway.js');

describe('spillway serve with an unknown configuration key', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-config-cli-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses to start, naming the key and a did-you-mean', async () => {
    const file = path.join(dir, 'spillway.json');
    fs.writeFileSync(file, JSON.stringify({ budget: { maxSpendPerHr: 1.0 } }));
    const r = await run(process.execPath, [
      bin,
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
