import { ValidationError } from '@spillway/sdk';
import { bridgeHelp, runBridgeCommand, type BridgeCommandSpec, type RunningBridge } from './cli';

interface C {
  readonly logLevel: 'info';
  readonly name: string;
  readonly map: readonly string[];
}

function spec(start: (c: C) => Promise<RunningBridge>): BridgeCommandSpec<C> {
  return {
    name: 'spillway-test',
    logName: 'test',
    usage: '--name NAME [options]',
    description: 'A bridge for tests.',
    flags: [
      { flags: '--name <name>', key: 'name', description: 'its name (required)' },
      { flags: '--map <from=to>', key: 'map', description: 'a rule (repeatable)', repeatable: true },
    ],
    epilogue: 'Exit codes: 0, 1, 2.',
    readConfigFile: () => ({}),
    resolve: (flags) => {
      if (typeof flags.name !== 'string') throw new ValidationError('name', flags.name, 'is required');
      return { logLevel: 'info', name: flags.name, map: (flags.map as string[] | undefined) ?? [] };
    },
    start: (c) => start(c),
  };
}

async function run(argv: string[], start: (c: C) => Promise<RunningBridge>, stop = Promise.resolve()) {
  let out = '';
  let err = '';
  const code = await runBridgeCommand(spec(start), argv, {
    out: (t) => (out += t),
    err: (t) => (err += t),
    stopSignal: () => stop,
  });
  return { code, out, err };
}

const idle =
  (log: string[]): ((c: C) => Promise<RunningBridge>) =>
  async (c) => {
    log.push(`start ${c.name} ${c.map.join(',')}`);
    return { close: async () => void log.push('close') };
  };

describe('runBridgeCommand', () => {
  it('GIVEN --help WHEN run THEN the help lists every flag and the epilogue, exit 0, nothing started', async () => {
    const log: string[] = [];
    const r = await run(['--help'], idle(log));
    expect(r.code).toBe(0);
    expect(r.out).toContain('Usage: spillway-test --name NAME [options]');
    for (const f of [
      '--name <name>',
      '--map <from=to>',
      '--config <file>',
      '--log-format',
      '-h, --help',
      'Exit codes',
    ])
      expect(r.out).toContain(f);
    expect(log).toEqual([]);
    expect(bridgeHelp(spec(idle([])))).toBe(r.out);
  });

  it.each([
    ['an unknown flag', ['--nme', 'x'], /unknown option '--nme'/],
    ['a stray argument', ['--name', 'x', 'extra'], /too many arguments/],
    ['a missing value', ['--name'], /argument missing/],
    ['a bad setting', [], /name: is required/],
  ])('GIVEN %s WHEN run THEN exit 2 with the reason, nothing started', async (_n, argv, msg) => {
    const log: string[] = [];
    const r = await run(argv, idle(log));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(msg);
    expect(log).toEqual([]);
  });

  it('GIVEN repeated flags WHEN run until a stop THEN they collect, the bridge starts, closes, exit 0', async () => {
    const log: string[] = [];
    const r = await run(['--name', 'a', '--map', 'Z:\\p=/p', '--map', '/q=/r'], idle(log));
    expect(r.code).toBe(0);
    expect(log).toEqual(['start a Z:\\p=/p,/q=/r', 'close']);
  });

  it('GIVEN --log-format json WHEN the bridge logs THEN each line is one JSON object; a bad format is usage', async () => {
    const lines: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const r = await run(['--name', 'a', '--log-format', 'json'], async (c) => ({
        close: async () => undefined,
        summary: () => ({ bridge: c.name, completed: 3 }),
      }));
      expect(r.code).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const stopped = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((o) => o.message === 'bridge stopped');
    expect(stopped).toMatchObject({
      level: 'info',
      name: 'test',
      message: 'bridge stopped',
      bridge: 'a',
      completed: 3,
    });
    const bad = await run(['--name', 'a', '--log-format', 'xml'], idle([]));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--log-format.*xml/);
  });

  it('GIVEN a bridge that cannot start WHEN run THEN exit 1 with the reason', async () => {
    const r = await run(['--name', 'a'], async () => {
      throw new Error('Cuebot unreachable');
    });
    expect(r).toMatchObject({ code: 1, err: 'spillway-test: Cuebot unreachable\n' });
  });

  it('GIVEN a bridge that fails for good while running WHEN run THEN it is closed, exit 1', async () => {
    const log: string[] = [];
    const r = await run(
      ['--name', 'a'],
      async () => ({
        close: async () => void log.push('close'),
        stopped: Promise.reject(new Error('refused')),
      }),
      new Promise<void>(() => undefined),
    );
    expect(r.code).toBe(1);
    expect(log).toEqual(['close']);
  });
});
