import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

// GIVEN the repository after `npm ci` (and `npx tsc -b`)
// WHEN a user types `npx spillway-deadline --help` or `npx spillway-opencue --help` at its root
// THEN each prints its help and exits 0 without asking the registry (the workspace's bin is
// linked because package-lock.json records it: `npm ci` links only what the lock records).

const repoRoot = path.resolve(__dirname, '../..');

describe('the bridges run by name from the repository', () => {
  it.each([
    ['spillway-deadline', 'bridges/deadline', '--webservice'],
    ['spillway-opencue', 'bridges/opencue', '--cuebot'],
  ])('GIVEN npm ci WHEN `npx %s --help` runs at the root THEN it prints its help', (bin, workspace, flag) => {
    const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { bin?: Record<string, string> }>;
    };
    expect(lock.packages[workspace]?.bin?.[bin]).toBe(`bin/${bin}.js`);

    const r = spawnSync('npx', ['--no-install', bin, '--help'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, npm_config_yes: 'false' },
    });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(r.stdout).toContain(`Usage: ${bin}`);
    expect(r.stdout).toContain(flag);
    expect(r.stdout).toContain('Exit codes');
  });
});

// GIVEN a command whose reader stops early (`spillway-deadline --help | head -c 10`)
// WHEN the pipe closes THEN the command ends with 0 and no EPIPE stack trace.
describe('commands piped into a reader that stops early', () => {
  it.each(['spillway-deadline', 'spillway-opencue', 'spillway'])(
    'GIVEN `%s --help | head -c 10` WHEN head exits THEN the command exits 0 quietly',
    (bin) => {
      const r = spawnSync('bash', ['-o', 'pipefail', '-c', `npx --no-install ${bin} --help | head -c 10`], {
        cwd: repoRoot,
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
      expect(r.stdout).toBe('Usage: spi');
    },
  );
});
