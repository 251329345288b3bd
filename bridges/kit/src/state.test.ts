import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ValidationError } from '@spillway/sdk';
import { defaultStateDir, JsonStateFile, warnOfLegacyState } from './state';

interface S {
  version: 2;
  cursor: string;
}

describe('JsonStateFile', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-state-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const open = (file = path.join(dir, 'sub', 's.json')): JsonStateFile<S> =>
    new JsonStateFile<S>({
      file,
      version: 2,
      initial: () => ({ version: 2, cursor: '' }),
      check: (s) => (typeof s.cursor === 'string' ? undefined : 'no cursor'),
    });

  it('GIVEN no file WHEN opened, updated and reopened THEN the change is there and no temp file is left', () => {
    const a = open();
    expect(a.current).toEqual({ version: 2, cursor: '' });
    a.update((s) => (s.cursor = '42'));
    expect(open().current.cursor).toBe('42');
    expect(fs.readdirSync(path.join(dir, 'sub'))).toEqual(['s.json']);
  });

  it.each([
    ['not JSON', '{"version":2,', /not JSON/],
    ['not an object', '[1]', /not a JSON object/],
    ['another version', '{"version":1,"cursor":""}', /version 1, not 2/],
    ['a damaged shape', '{"version":2}', /damaged state file \(no cursor\)/],
  ])(
    'GIVEN a state file that is %s WHEN opened THEN a ValidationError names stateDir and the file',
    (_n, text, msg) => {
      const file = path.join(dir, 's.json');
      fs.writeFileSync(file, text);
      let err: unknown;
      try {
        open(file);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe('stateDir');
      expect((err as Error).message).toMatch(msg);
      expect((err as Error).message).toContain(file);
    },
  );

  it.each([
    [{ SPILLWAY_DATA_DIR: '/data/sp' }, '/data/sp/bridges/deadline'],
    [{ HOME: '/home/ann' }, path.join(os.homedir(), '.spillway', 'bridges', 'deadline')],
  ])(
    'GIVEN env %j WHEN the default state dir is asked THEN it is %s, never the current directory',
    (env, want) => {
      expect(defaultStateDir('deadline', env as NodeJS.ProcessEnv)).toBe(want);
    },
  );

  it('GIVEN state left in the legacy folder WHEN the bridge uses another THEN it warns once, naming the flag', () => {
    const legacy = path.join(dir, 'spillway-deadline-state');
    fs.mkdirSync(legacy);
    fs.writeFileSync(path.join(legacy, 'deadline-a.json'), '{}');
    const warned: string[] = [];
    const logger = {
      warn: (m: string, f?: Record<string, unknown>) => void warned.push(`${m} ${String(f?.hint)}`),
    };
    warnOfLegacyState(logger, legacy, path.join(dir, 'new'), 'deadline-a.json');
    warnOfLegacyState(logger, legacy, legacy, 'deadline-a.json');
    warnOfLegacyState(logger, legacy, path.join(dir, 'new'), 'deadline-b.json');
    expect(warned).toEqual([
      `a state file of an earlier version is in the current directory and is not used pass --state-dir ${legacy} to keep using it`,
    ]);
  });
});
