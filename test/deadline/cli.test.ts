import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// GIVEN the built `spillway-deadline` binary
// WHEN it is started with bad input
// THEN it exits 2 before doing anything, naming the setting and quoting the value, and a
// password never appears in what it prints.

const bin = path.resolve(__dirname, '../../bridges/deadline/bin/spillway-deadline.js');
const run = (args: string[]): { code: number | null; out: string } => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
};

describe('spillway-deadline command line', () => {
  it.each([
    [
      'a non-http web service',
      ['--webservice', 'ftp://dl', '--service', 'svc:1'],
      'webservice',
      '"ftp://dl"',
    ],
    ['no service', ['--webservice', 'http://dl:8081'], 'service', 'host:port'],
    [
      'a negative turnaround',
      ['--webservice', 'http://dl:8081', '--service', 'svc:1', '--turnaround=-1'],
      'turnaroundSeconds',
      '"-1"',
    ],
    [
      'a missing password file',
      [
        '--webservice',
        'http://dl:8081',
        '--service',
        'svc:1',
        '--user',
        'u',
        '--password-file',
        '/nonexistent/pw',
      ],
      'passwordFile',
      '/nonexistent/pw',
    ],
  ])('GIVEN %s WHEN started THEN it exits 2 naming the setting', (_n, args, field, quoted) => {
    const { code, out } = run(args);
    expect(code).toBe(2);
    expect(out).toContain(field);
    expect(out).toContain(quoted);
  });

  it('GIVEN credentials in the URL WHEN started THEN it refuses without printing the password', () => {
    const { code, out } = run(['--webservice', 'http://admin:Sup3rSecret!@dl:8081', '--service', 'svc:1']);
    expect(code).toBe(2);
    expect(out).toContain('webservice');
    expect(out).not.toContain('Sup3rSecret');
  });

  it('GIVEN an unknown config key WHEN started THEN it is named', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-dl-cli-'));
    const file = path.join(dir, 'c.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ webservice: 'http://dl:8081', service: 'svc:1', turnarround: 5 }),
    );
    const { code, out } = run(['--config', file]);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(code).toBe(2);
    expect(out).toContain('config.turnarround');
  });

  it('GIVEN --help WHEN run THEN it documents the deadline key and the turnaround default', () => {
    const { code, out } = run(['--help']);
    expect(code).toBe(0);
    expect(out).toContain('SpillwayDeadline');
    expect(out).toContain('default 7200');
  });
});
