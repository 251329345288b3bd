import { renderCommand } from './tokens';

describe('renderCommand', () => {
  // GIVEN a template and a frame WHEN rendered THEN every known token is substituted
  it.each([
    ['blender -b s.blend -f #IFRAME#', { frameStart: 7 }, 'blender -b s.blend -f 7'],
    ['out_#ZFRAME#.png', { frameStart: 7 }, 'out_0007.png'],
    ['out_#ZFRAME#.png', { frameStart: 12345 }, 'out_12345.png'],
    ['out_#ZFRAME#.png', { frameStart: -7 }, 'out_-007.png'],
    ['#FRAME#', { frameStart: 3, layer: 'beauty' }, '0003-beauty'],
    ['#FRAME#', { frameStart: 3 }, '0003'],
    ['-s #FRAME_START# -e #FRAME_END#', { frameStart: 1, frameEnd: 10 }, '-s 1 -e 10'],
    ['#FRAME_CHUNK#', { frameStart: 1, frameEnd: 10 }, '10'],
    ['#FRAME_CHUNK#', { frameStart: 1, frameEnd: 10, frameStep: 2 }, '5'],
    ['#FRAMESPEC#', { frameStart: 5 }, '5'],
    ['#FRAMESPEC#', { frameStart: 1, frameEnd: 10 }, '1-10'],
    ['#FRAMESPEC#', { frameStart: 1, frameEnd: 9, frameStep: 2 }, '1-9x2'],
    ['#JOB#/#LAYER#', { frameStart: 1, job: 'shot010', layer: 'fx' }, 'shot010/fx'],
    ['echo #NOT_A_TOKEN# #IFRAME##IFRAME#', { frameStart: 2 }, 'echo #NOT_A_TOKEN# 22'],
    ['no tokens at all', { frameStart: 1 }, 'no tokens at all'],
  ])('%s with %j -> %s', (template, ctx, expected) => {
    expect(renderCommand(template, ctx)).toBe(expected);
  });

  it.each([
    [{ frameStart: 10, frameEnd: 1 }, /10-1/],
    [{ frameStart: 1.5 }, /1.5/],
  ])('refuses the frame range %j', (ctx, message) => {
    expect(() => renderCommand('#IFRAME#', ctx)).toThrow(message);
  });
});
