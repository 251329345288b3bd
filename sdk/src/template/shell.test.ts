import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { shellQuote } from './shell';
import { renderCommand, type FrameContext } from './tokens';

/** Names a render manager or a user could give a job or a layer, each trying to run `touch MARKER`. */
const HOSTILE_NAMES: readonly string[] = [
  'shot$(touch MARKER)',
  'shot`touch MARKER`',
  '$(touch MARKER)',
  "'$(touch MARKER)'",
  '"$(touch MARKER)"',
  "it's; touch MARKER",
  'a"; touch MARKER; "b',
  "a'; touch MARKER; 'b",
  '; touch MARKER',
  'x && touch MARKER',
  'x || touch MARKER; false',
  'x | touch MARKER',
  'x > MARKER',
  'line1\ntouch MARKER',
  'line1\r\ntouch MARKER',
  '\\"; touch MARKER; #',
  "\\'; touch MARKER; #",
  '${IFS}touch${IFS}MARKER',
  '$((1+1))$(touch MARKER)',
  '*',
  '-n',
  '  spaced   name  ',
  '#JOB# #LAYER#',
  '$HOME ~ !! %s',
  'ünïcødé ✓',
  '\t)touch MARKER(',
  '`',
  "'",
  '"',
  '\\',
];

/** Templates placing a token in every quoting context a command can have. */
const CONTEXTS: readonly [
  context: string,
  template: (token: string) => string,
  expected: (v: string) => string,
][] = [
  ['unquoted', (t) => `printf '%s|' ${t}`, (v) => `${v}|`],
  ['double-quoted', (t) => `printf '%s|' "name=${t}."`, (v) => `name=${v}.|`],
  ['single-quoted', (t) => `printf '%s|' 'name=${t}.'`, (v) => `name=${v}.|`],
  [
    'in $(...) in double quotes',
    (t) => `printf '%s|' "[$(printf '%s' ${t})]"`,
    (v) => `[${v.replace(/\n+$/, '')}]|`,
  ],
  ['in backticks', (t) => `printf '%s|' "[\`printf '%s' ${t}\`]"`, (v) => `[${v.replace(/\n+$/, '')}]|`],
  ['after a comment', (t) => `true # ${t}\nprintf '%s|' done`, () => 'done|'],
  ['twice, mixed', (t) => `printf '%s|' ${t} "${t}"`, (v) => `${v}|${v}|`],
];

describe('shell quoting of tokens (real sh)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-quote-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const run = (command: string): string =>
    execFileSync('/bin/sh', ['-c', command], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH } });

  const cases = HOSTILE_NAMES.flatMap((name) =>
    (['JOB', 'LAYER'] as const).map((token) => ({ name, token })),
  );

  // GIVEN a hostile name WHEN it fills #JOB# or #LAYER# in every quoting context (one line each)
  // and sh runs the command THEN nothing injected runs (no MARKER) and every line sees the
  // name, byte for byte.
  it.each(cases)('#$token# = $name, in every context', ({ name, token }) => {
    const ctx: FrameContext = token === 'JOB' ? { frameStart: 1, job: name } : { frameStart: 1, layer: name };
    const template = CONTEXTS.map(([, line]) => line(`#${token}#`)).join('\n');
    const out = run(renderCommand(template, ctx));
    expect(fs.existsSync(path.join(dir, 'MARKER'))).toBe(false);
    expect(out).toBe(CONTEXTS.map(([, , expected]) => expected(name)).join(''));
  });

  // GIVEN a layer with a hostile name WHEN #FRAME# (zero-padded frame and layer) is filled
  // THEN it is the frame name as OpenCue writes it, as data.
  it.each(HOSTILE_NAMES.map((name) => [name]))('#FRAME# with layer %j', (name) => {
    const out = run(renderCommand(`printf '%s|' #FRAME# "#FRAME#"`, { frameStart: 7, layer: name }));
    expect(fs.existsSync(path.join(dir, 'MARKER'))).toBe(false);
    expect(out).toBe(`0007-${name}|0007-${name}|`);
  });

  // GIVEN any string WHEN quoted by shellQuote and read back by sh THEN it is the same string.
  it.each(HOSTILE_NAMES.map((name) => [name]).concat([[''], ['plain-word_1.0']]))(
    'shellQuote(%j) round-trips',
    (value) => {
      expect(run(`printf '%s' ${shellQuote(value)}`)).toBe(value);
      expect(fs.existsSync(path.join(dir, 'MARKER'))).toBe(false);
    },
  );
});

describe('renderCommand keeps plain commands plain', () => {
  // GIVEN names of plain characters WHEN substituted THEN they go in as they are (no variables).
  it.each([
    [
      'blender -o out/#JOB#_#LAYER#_####',
      { frameStart: 1, job: 'shot010', layer: 'fx' },
      'blender -o out/shot010_fx_####',
    ],
    ['echo "#JOB#"', { frameStart: 1, job: 'a.b-c' }, 'echo "a.b-c"'],
  ])('%s', (template, ctx, expected) => {
    expect(renderCommand(template, ctx)).toBe(expected);
  });

  // GIVEN a name with a space WHEN substituted THEN it is assigned once and referenced per context.
  it('assigns an unsafe name once, quoted, and references it', () => {
    expect(renderCommand(`a #JOB# "#JOB#" '#JOB#'`, { frameStart: 1, job: 'my shot' })).toBe(
      `SPILLWAY_JOB_NAME='my shot'; a "\${SPILLWAY_JOB_NAME}" "\${SPILLWAY_JOB_NAME}" ''"\${SPILLWAY_JOB_NAME}"''`,
    );
  });
});
