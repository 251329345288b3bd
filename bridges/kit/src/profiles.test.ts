import { shellQuote as shq } from '@spillway/sdk/template';
import { frameFile, namesFrame, RENDERERS, type RenderArgs } from './profiles';

const word = (p: string): string => shq(p);
const args = (over: Partial<RenderArgs>): RenderArgs => ({
  scene: '/s/a.blend',
  inputWord: word,
  frameStart: 1,
  frameEnd: 1,
  ...over,
});

describe('renderer profiles', () => {
  it.each<[string, keyof typeof RENDERERS, Partial<RenderArgs>, string, boolean]>([
    [
      'Blender range',
      'blender',
      { output: 'out/f_####', frameStart: 3, frameEnd: 4 },
      "blender -b /s/a.blend -o 'out/f_####' -s 3 -e 4 -a",
      true,
    ],
    [
      'Blender threads',
      'blender',
      { options: { threads: '8' } },
      'blender -b /s/a.blend -t 8 -s 1 -e 1 -a',
      false,
    ],
    [
      'Arnold chunk 7-9',
      'arnold',
      { scene: '/a/shot.####.ass', output: 'out/frame_####.exr', frameStart: 7, frameEnd: 9 },
      [7, 8, 9]
        .map((n) => `kick -i /a/shot.000${n}.ass -dw -dp -nstdin -o out/frame_000${n}.exr`)
        .join(' && '),
      true,
    ],
    [
      'Arnold chunk with an output naming no frame',
      'arnold',
      { scene: '/a/s.0001.ass', output: 'out/beauty.exr', frameStart: 1, frameEnd: 2 },
      'kick -i /a/s.0001.ass -dw -dp -nstdin -o out/beauty.0001.exr && kick -i /a/s.0002.ass -dw -dp -nstdin -o out/beauty.0002.exr',
      true,
    ],
    [
      'Arnold one frame, no output',
      'arnold',
      { scene: '/a/s.ass' },
      'kick -i /a/s.ass -dw -dp -nstdin',
      false,
    ],
    [
      'V-Ray',
      'vray',
      { scene: '/v/s.vrscene', output: 'out/f.exr', frameEnd: 3 },
      'vray -scenefile=/v/s.vrscene -frames=1-3 -display=0 -imgFile=out/f.exr',
      false,
    ],
    [
      'Maya',
      'maya',
      { scene: '/m/s.mb', output: 'out', options: { renderer: 'arnold', project: '/m' } },
      'Render -r arnold -s 1 -e 1 -rd out -proj /m /m/s.mb',
      false,
    ],
  ])(
    'GIVEN %s WHEN built THEN the command and its output check are right',
    (_n, id, over, command, numbered) => {
      expect(RENDERERS[id].command(args(over))).toEqual({ command, expectFrameNumbers: numbered });
    },
  );

  it.each([
    ['/a/shot.####.ass', 12, '/a/shot.0012.ass', true],
    ['/a/shot.0001.ass', 12, '/a/shot.0012.ass', true],
    ['/a/shot_v002.ass', 12, '/a/shot_v002.ass', false],
    ['/a/s.ass', 3, '/a/s.ass', false],
  ])('GIVEN %s WHEN frame %d is asked THEN %s', (p, n, want, named) => {
    expect(frameFile(p, n)).toBe(want);
    expect(namesFrame(p)).toBe(named);
  });

  it('GIVEN an .ass sequence WHEN asked THEN it is not a single scene; a .blend is', () => {
    expect(RENDERERS.arnold.singleScene('/a/s.####.ass')).toBe(false);
    expect(RENDERERS.blender.singleScene('/a/s.blend')).toBe(true);
  });
});
