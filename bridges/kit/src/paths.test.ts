import { execFileSync } from 'node:child_process';
import { ValidationError } from '@spillway/sdk';
import { cloudPathRules, mapPath, mapPathsInText, parsePathRule, pathWord, validatePathRules } from './paths';

const rules = [
  { from: 'Z:\\projects', to: '/mnt/projects' },
  { from: '\\\\filer\\show', to: '/mnt/show' },
  { from: '/farm/show', to: '/mnt/cloud/show' },
  { from: '/farm/show/sh010', to: '/scratch/sh010' },
];

describe('mapPathsInText', () => {
  it.each([
    ['-o "Z:\\projects\\out"', '-o "/mnt/projects/out"'],
    ['-o Z:\\projects\\out -i z:/PROJECTS/a.usd', '-o /mnt/projects/out -i /mnt/projects/a.usd'],
    ['--scene="Z:\\projects\\my shot\\a.blend"', '--scene="/mnt/projects/my shot/a.blend"'],
    ["cat '\\\\filer\\show\\a b.txt'", "cat '/mnt/show/a b.txt'"],
    ['X=Z:\\projects;Y=1', 'X=/mnt/projects;Y=1'],
    ['PATH=/usr/bin:/farm/show/bin', 'PATH=/usr/bin:/mnt/cloud/show/bin'],
    ['blender -b /farm/show/sh010/s.blend', 'blender -b /scratch/sh010/s.blend'],
    ['cp /farm/showreel/x Z:\\projectsX\\y', 'cp /farm/showreel/x Z:\\projectsX\\y'],
    ['echo x/farm/show/y', 'echo x/farm/show/y'],
    ['(cd /farm/show)', '(cd /mnt/cloud/show)'],
  ])('GIVEN %p WHEN mapped THEN %p', (text, want) => {
    expect(mapPathsInText(text, rules)).toBe(want);
  });

  it('GIVEN one path WHEN mapped THEN the longest rule wins', () => {
    expect(mapPath('/farm/show/sh010/a', rules)).toBe('/scratch/sh010/a');
  });
});

describe('validatePathRules', () => {
  it('GIVEN Windows, UNC and POSIX sources WHEN validated THEN they are accepted', () => {
    expect(
      validatePathRules(
        'pathMap',
        rules.map((r) => ({ ...r })),
      ),
    ).toHaveLength(4);
    expect(parsePathRule('Z:\\projects=/mnt/projects')).toEqual({
      from: 'Z:\\projects',
      to: '/mnt/projects',
    });
  });

  it.each<[unknown, string]>([
    [{}, 'pathMap'],
    [[{ from: 'relative', to: '/x' }], 'pathMap[0].from'],
    [[{ from: 'Z:projects', to: '/x' }], 'pathMap[0].from'],
    [[{ from: '/a', to: 'Y:\\x' }], 'pathMap[0].to'],
    [[{ from: '/a\n', to: '/x' }], 'pathMap[0].from'],
    [
      [
        { from: 'Z:\\p', to: '/x' },
        { from: 'z:/P', to: '/y' },
      ],
      'pathMap[1].from',
    ],
  ])('GIVEN %j WHEN validated THEN the error names %s', (input, field) => {
    let err: unknown;
    try {
      validatePathRules('pathMap', input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(field);
  });
});

describe('paths onto a mount variable (SHARED storage locations)', () => {
  const rules = cloudPathRules(
    [{ path: 'P:\\', storage: 'shared', mount: 'projects' }],
    [{ from: 'P:\\', to: '/mnt/p' }],
  );
  it.each<[string, string]>([
    ['render -i P:\\proj\\a.txt', 'render -i "$SPILLWAY_MOUNT_PROJECTS"/proj/a.txt'],
    ['render -i "P:\\proj\\a b.txt"', 'render -i "$SPILLWAY_MOUNT_PROJECTS/proj/a b.txt"'],
    ["render -i 'P:\\proj\\a b.txt'", `render -i ''"$SPILLWAY_MOUNT_PROJECTS"'/proj/a b.txt'`],
    ['render --out=P:\\proj\\renders', 'render --out="$SPILLWAY_MOUNT_PROJECTS"/proj/renders'],
  ])('maps %s', (text, want) => {
    expect(mapPathsInText(text, rules)).toBe(want);
  });

  it('expands to the same path whatever the quoting, under a real shell', () => {
    const texts = ['printf %s P:\\proj\\a.txt', 'printf %s "P:\\proj\\a.txt"', "printf %s 'P:\\proj\\a.txt'"];
    for (const t of texts) {
      const out = execFileSync('/bin/sh', ['-c', mapPathsInText(t, rules)], {
        env: { SPILLWAY_MOUNT_PROJECTS: '/n/fsmounts/projects' },
        encoding: 'utf8',
      });
      expect(out).toBe('/n/fsmounts/projects/proj/a.txt');
    }
    expect(pathWord('P:\\proj\\my shot.blend', rules)).toBe(
      `"$SPILLWAY_MOUNT_PROJECTS"/'proj/my shot.blend'`,
    );
  });
});
