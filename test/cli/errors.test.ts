import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../support/process';
import { startTestService, type TestService } from '../support/service';

// GIVEN a real service (local engine, ephemeral loopback port) and the built `spillway`
// WHEN commands run as child processes with bad input, with and without --json
// THEN each error is one JSON object on stderr under --json ({"error": {code, message,
// field}}), nothing on stdout, the message names the flag or field and quotes the value;
// usage errors exit 2 and failures exit 1, the same way for every kind of usage error.

const bin = path.resolve(__dirname, '../../sdk/bin/spillway.js');

interface JsonError {
  error: { code: string; message: string; field: string | null };
}

describe('spillway errors', () => {
  let svc: TestService;
  let dir: string;
  const cli = (...args: string[]): ReturnType<typeof run> =>
    run(process.execPath, [bin, ...args], { env: { ...process.env, SPILLWAY_ADDRESS: svc.address } });
  /** Runs with --json; expects one JSON error on stderr, nothing on stdout. */
  async function jsonError(args: string[]): Promise<{ code: number | null; error: JsonError['error'] }> {
    const r = await cli(...args, '--json');
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    const parsed = JSON.parse(lines[0]!) as JsonError;
    expect(Object.keys(parsed.error).sort()).toEqual(['code', 'field', 'message']);
    return { code: r.code, error: parsed.error };
  }

  beforeAll(async () => {
    svc = await startTestService({ nodes: 0 });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-cli-errors-'));
  });
  afterAll(async () => {
    await svc.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    // [what, args, field, text the message must hold]
    ['an unknown option', ['capacity', '--bogus'], '--bogus', "unknown option '--bogus'"],
    [
      'a missing required option',
      ['recall', 'j-1'],
      '--count',
      "required option '--count <N>' not specified",
    ],
    ['a missing argument', ['cancel'], 'JOB_ID', "missing required argument 'JOB_ID'"],
    ['an unknown command', ['frobnicate'], 'frobnicate', "unknown command 'frobnicate'"],
    [
      'a bad whole number (--chunk abc)',
      ['submit', '--frames', '1-3', '--chunk', 'abc'],
      '--chunk',
      '--chunk "abc": expected a whole number >= 1',
    ],
    [
      'a bad priority (--priority abc)',
      ['submit', '--frames', '1-3', '--command', 'true', '--priority', 'abc'],
      '--priority',
      '--priority "abc": expected a whole number from 0 to 100',
    ],
    [
      'a priority out of range',
      ['submit', '--frames', '1-3', '--command', 'true', '--priority', '101'],
      '--priority',
      '"101"',
    ],
    [
      'a bad frame range',
      ['submit', '--frames', '5-1', '--command', 'true'],
      '--frames',
      '--frames "5-1": has the reversed range "5-1"',
    ],
    ['a missing --command', ['submit', '--frames', '1-3'], '--command', '--command is required'],
    [
      'a bad --env',
      ['submit', '--frames', '1', '--command', 'true', '--env', 'NOVALUE'],
      '--env',
      '--env "NOVALUE": expected NAME=VALUE',
    ],
    [
      'a bad choice',
      ['pools', 'create', 'g', '--vm-size', 'v', '--mode', 'fast'],
      '--mode',
      '--mode "fast": expected one of frame-offload, worker-burst',
    ],
    [
      'conflicting options',
      ['submit', '--frames', '1', '--job-file', 'x.json'],
      '--job-file',
      'cannot be used with',
    ],
    [
      'an unreadable --tls-ca',
      ['capacity', '--tls-ca', '/nonexistent/ca.pem'],
      '--tls-ca',
      '--tls-ca "/nonexistent/ca.pem": cannot be read: ENOENT',
    ],
  ])('%s: exit 2, a USAGE error naming the flag', async (_, args, field, text) => {
    const { code, error } = await jsonError(args);
    expect(code).toBe(2);
    expect(error.code).toBe('USAGE');
    expect(error.field).toBe(field);
    expect(error.message).toContain(text);
    // The same without --json: plain text on stderr, the same exit code.
    const plain = await cli(...args);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain(text);
    expect(plain.stderr).toMatch(/^spillway[ \w]*: /);
  });

  it('a truncated or malformed job file: exit 2, the file named with the place of the fault', async () => {
    const truncated = path.join(dir, 'truncated.json');
    fs.writeFileSync(truncated, '{"job": {"source": "cli:t", "sourceJobId": "t",\n  "commandTemplate": "tr');
    const a = await jsonError(['submit', '--job-file', truncated]);
    expect(a.code).toBe(2);
    expect(a.error.field).toBe('--job-file');
    expect(a.error.message).toContain(
      `--job-file ${JSON.stringify(truncated)}: not valid JSON at line 2, column 25`,
    );

    const malformed = path.join(dir, 'malformed.json');
    fs.writeFileSync(malformed, '{"job": {}, "frames": [1,,2]}');
    const b = await jsonError(['submit', '--job-file', malformed]);
    // Node names no position for an unexpected token, but quotes the text around it.
    expect(b.error.message).toContain(`--job-file ${JSON.stringify(malformed)}: not valid JSON`);
    expect(b.error.message).toContain('[1,,2]');

    const shape = path.join(dir, 'shape.json');
    fs.writeFileSync(shape, '{"frames": []}');
    const c = await jsonError(['submit', '--job-file', shape]);
    expect(c.error.message).toContain('expected {"job": {...}, "frames": [...]}');
  });

  it('a job file with a bad value: exit 1, INVALID_ARGUMENT naming the field and value (not a wire encoding error)', async () => {
    const file = path.join(dir, 'bad-priority.json');
    const frames = Array.from({ length: 12_000 }, (_, i) => ({
      sourceTaskId: String(i),
      frameStart: i,
      frameEnd: i,
    }));
    frames[11_500] = { sourceTaskId: 'x', frameStart: 5, frameEnd: 'soon' as unknown as number };
    fs.writeFileSync(
      file,
      JSON.stringify({
        job: { source: 'cli:t', sourceJobId: 'bad', commandTemplate: 'true', priority: 'abc' },
        frames,
      }),
    );
    const a = await jsonError(['submit', '--job-file', file]);
    expect(a.code).toBe(1);
    expect(a.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'job.priority' });
    expect(a.error.message).toContain('"abc"');

    // A bad frame in the second call of a big submission is named by its place in the file.
    fs.writeFileSync(
      file,
      JSON.stringify({ job: { source: 'cli:t', sourceJobId: 'bad2', commandTemplate: 'true' }, frames }),
    );
    const b = await jsonError(['submit', '--job-file', file]);
    expect(b.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'frames[11500].frame_end' });
    expect(b.error.message).toContain('"soon"');
    expect(b.error.message).toContain('were submitted'); // the first call went through
  });

  it('errors from the service: exit 1 with the status as the code', async () => {
    const missing = await jsonError(['recall', 'j-nosuchjob', '--count', '1']);
    expect(missing.code).toBe(1);
    expect(missing.error.code).toBe('NOT_FOUND');
    expect(missing.error.message).toContain('j-nosuchjob');

    const watch = await jsonError(['watch', 'j-nosuchjob']);
    expect(watch.code).toBe(1);
    expect(watch.error.code).toBe('NOT_FOUND');

    // After `--`, a word starting with - is an argument, not an option.
    const dashed = await cli('cancel', '--json', '--', '-odd-job-id');
    expect(dashed.code).toBe(1);
    expect(JSON.parse(dashed.stderr)).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect(dashed.stderr).toContain('-odd-job-id');
    expect((await cli('cancel', '-odd-job-id')).code).toBe(2); // without it: an unknown option

    const resize = await jsonError(['pools', 'resize', 'no-such-group', '--dedicated', '1', '--spot', '0']);
    expect(resize.code).toBe(1);
    expect(resize.error.code).toBe('NOT_FOUND');

    const unreachable = await run(process.execPath, [bin, 'capacity', '--json', '--address', '127.0.0.1:1']);
    expect(unreachable.code).toBe(1);
    expect(JSON.parse(unreachable.stderr) as JsonError).toMatchObject({
      error: { code: 'UNAVAILABLE', field: null },
    });
  });

  it('help and version exit 0; a command group without its subcommand is a usage error', async () => {
    expect((await cli('submit', '-h')).code).toBe(0);
    expect((await cli('help', 'submit')).stdout).toContain('Usage: spillway submit');
    const group = await jsonError(['pools']);
    expect(group.code).toBe(2);
    expect(group.error.code).toBe('USAGE');
    const none = await cli();
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: spillway');
  });
});
