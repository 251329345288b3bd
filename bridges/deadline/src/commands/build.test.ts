import { execFileSync } from 'node:child_process';
import { buildCommand, substituteDeadlineTokens, type CommandInput } from './build';
import { mapPath } from './paths';

describe('buildCommand', () => {
  const rules = [{ from: 'Z:\\projects', to: '/mnt/projects' }];
  const table: [string, CommandInput, string][] = [
    [
      'Blender with output and path mapping',
      {
        plugin: 'Blender',
        pluginInfo: { SceneFile: 'Z:\\projects\\shot.blend', OutputFile: 'Z:\\projects\\out\\f_####' },
        frameStart: 3,
        frameEnd: 4,
        pathRules: rules,
      },
      "blender -b /mnt/projects/shot.blend -o '/mnt/projects/out/f_####' -s 3 -e 4 -a",
    ],
    [
      'Blender redirected into a staging directory keeps the file name',
      {
        plugin: 'blender',
        pluginInfo: { SceneFile: '/s/a b.blend', OutputFile: '/o/f_####' },
        frameStart: 7,
        outputDirectory: '/o/.st/7',
      },
      "blender -b '/s/a b.blend' -o '/o/.st/7/f_####' -s 7 -e 7 -a",
    ],
    [
      'CommandLine with Deadline tokens and a startup directory',
      {
        plugin: 'CommandLine',
        pluginInfo: {
          Executable: '/bin/echo',
          Arguments: '<QUOTE>f<STARTFRAME%4><QUOTE> <ENDFRAME>',
          StartupDirectory: '/tmp',
        },
        frameStart: 5,
        frameEnd: 6,
      },
      'cd /tmp && /bin/echo "f0005" 6',
    ],
    [
      'Arnold per-frame .ass',
      { plugin: 'Arnold', pluginInfo: { InputFile: '/a/shot.####.ass' }, frameStart: 12 },
      'kick -i /a/shot.0012.ass -dw -dp -nstdin',
    ],
    [
      'V-Ray standalone',
      {
        plugin: 'Vray',
        pluginInfo: { InputFilename: 'Z:\\projects\\s.vrscene', OutputFilename: 'Z:\\projects\\o\\img.exr' },
        frameStart: 1,
        frameEnd: 10,
        pathRules: rules,
      },
      'vray -scenefile=/mnt/projects/s.vrscene -frames=1-10 -display=0 -imgFile=/mnt/projects/o/img.exr',
    ],
    [
      'Maya batch render',
      {
        plugin: 'MayaBatch',
        pluginInfo: {
          SceneFile: '/m/s.mb',
          Renderer: 'arnold',
          OutputFilePath: '/m/images',
          ProjectPath: '/m',
        },
        frameStart: 2,
        frameEnd: 2,
      },
      'Render -r arnold -s 2 -e 2 -rd /m/images -proj /m /m/s.mb',
    ],
  ];
  it.each(table)('GIVEN %s WHEN built THEN the command is right', (_name, input, want) => {
    const built = buildCommand(input);
    expect(built).toMatchObject({ supported: true, command: want });
  });

  it('GIVEN a chunked Arnold task (frames 7-9) WHEN built THEN every frame of the chunk is rendered, in order', () => {
    const built = buildCommand({
      plugin: 'Arnold',
      pluginInfo: { InputFile: 'Z:\\shots\\shot.####.ass', OutputFile: 'Z:\\renders\\beauty.####.exr' },
      frameStart: 7,
      frameEnd: 9,
      pathRules: rules.concat([{ from: 'Z:\\shots', to: '/mnt/shots' }]),
      outputDirectory: 'out',
    });
    expect(built).toMatchObject({
      supported: true,
      expectFrameNumbers: true,
      command: [7, 8, 9]
        .map((n) => `kick -i /mnt/shots/shot.000${n}.ass -dw -dp -nstdin -o out/beauty.000${n}.exr`)
        .join(' && '),
    });
  });

  it('GIVEN a chunked Arnold task whose .ass names its first frame WHEN built THEN each frame reads its own .ass', () => {
    const built = buildCommand({
      plugin: 'Arnold',
      pluginInfo: { InputFile: '/a/shot.0001.ass' },
      frameStart: 2,
      frameEnd: 3,
    });
    expect(built.supported && built.command).toBe(
      'kick -i /a/shot.0002.ass -dw -dp -nstdin && kick -i /a/shot.0003.ass -dw -dp -nstdin',
    );
  });

  it('GIVEN CommandLine arguments with Windows paths WHEN built THEN they are path-mapped like scene paths', () => {
    const built = buildCommand({
      plugin: 'CommandLine',
      pluginInfo: {
        Executable: 'Z:\\projects\\bin\\render.sh',
        Arguments:
          '-i Z:\\projects\\shot.usd -o <QUOTE>Z:\\projects\\out<QUOTE> --log=Z:\\projects\\logs\\f<STARTFRAME%4>.txt -f <STARTFRAME>',
      },
      frameStart: 12,
      pathRules: rules,
    });
    expect(built.supported && built.command).toBe(
      '/mnt/projects/bin/render.sh -i /mnt/projects/shot.usd -o "/mnt/projects/out" --log=/mnt/projects/logs/f0012.txt -f 12',
    );
  });

  it.each([
    [
      'an unsupported plugin',
      { plugin: 'Houdini', pluginInfo: {}, frameStart: 1 },
      'not one Spillway can run',
    ],
    ['Blender without a scene', { plugin: 'Blender', pluginInfo: {}, frameStart: 1 }, 'no SceneFile'],
    [
      'a reversed range',
      { plugin: 'Blender', pluginInfo: { SceneFile: '/a' }, frameStart: 5, frameEnd: 4 },
      'not a range',
    ],
  ])('GIVEN %s WHEN built THEN it is refused with a reason', (_n, input, reason) => {
    const built = buildCommand(input as CommandInput);
    expect(built.supported).toBe(false);
    expect(!built.supported && built.reason).toContain(reason);
  });

  it.each([
    [
      'Blender',
      { SceneFile: 'Z:\\shots\\010\\my shot.blend' },
      `blender -b "$SPILLWAY_ASSETS_DIR"/'my shot.blend' -o 'out/####' -s 1 -e 1 -a`,
    ],
    [
      'Vray',
      { InputFilename: 'Z:\\shots\\010\\scene.vrscene' },
      `vray -scenefile="$SPILLWAY_ASSETS_DIR"/scene.vrscene -frames=1-1 -display=0 -imgFile=out/frame.exr`,
    ],
    [
      'MayaBatch',
      { SceneFile: 'Z:\\shots\\010\\a.mb', ProjectPath: 'Z:\\maya' },
      `Render -r file -s 1 -e 1 -rd out -proj /mnt/z/maya "$SPILLWAY_ASSETS_DIR"/a.mb`,
    ],
  ])(
    'GIVEN a %s job whose scene was synced WHEN built THEN the scene comes from the assets directory',
    (plugin, pluginInfo, want) => {
      const built = buildCommand({
        plugin,
        pluginInfo,
        frameStart: 1,
        pathRules: [{ from: 'Z:\\', to: '/mnt/z' }],
        outputDirectory: 'out',
        assetRoot: 'Z:\\shots\\010',
      });
      expect(built.supported && built.command).toBe(want);
      // The shell expands the directory and keeps the quoted rest whole.
      const scene = /"\$SPILLWAY_ASSETS_DIR"\/('[^']*'|\S+)/.exec(want)![0];
      const echoed = execFileSync('/bin/sh', ['-c', `printf %s ${scene}`], {
        env: { SPILLWAY_ASSETS_DIR: '/node/shared/assets/m1' },
        encoding: 'utf8',
      });
      expect(echoed).toMatch(/^\/node\/shared\/assets\/m1\/(my shot\.blend|scene\.vrscene|a\.mb)$/);
    },
  );

  it('GIVEN padded tokens WHEN substituted THEN widths and quotes follow Deadline', () => {
    expect(substituteDeadlineTokens('<STARTFRAME%3>-<ENDFRAME%2><QUOTE>', 7, 12)).toBe('007-12"');
  });
});

describe('mapPath', () => {
  it.each([
    ['Z:\\projects\\a\\b.blend', [{ from: 'z:\\Projects', to: '/mnt/p' }], '/mnt/p/a/b.blend'],
    ['\\\\filer\\show\\x.ass', [{ from: '\\\\filer\\show', to: '/mnt/show' }], '/mnt/show/x.ass'],
    ['/already/posix', [{ from: 'Z:\\projects', to: '/mnt/p' }], '/already/posix'],
    ['Z:\\projectsX\\a', [{ from: 'Z:\\projects', to: '/mnt/p' }], 'Z:/projectsX/a'],
    ['/srv/a', [{ from: '/SRV', to: '/x' }], '/srv/a'],
  ])('GIVEN %s WHEN mapped THEN %s', (p, rules, want) => {
    expect(mapPath(p, rules)).toBe(want);
  });
});
