import { mapPaths } from './paths';

const rules = [
  { from: '/mnt/show', to: '/mnt/cloud/show' },
  { from: '/mnt/show/sh010', to: '/scratch/sh010' },
];

describe('mapPaths', () => {
  it.each([
    [
      'blender -b /mnt/show/a.blend -o /mnt/show/out/f_####',
      'blender -b /mnt/cloud/show/a.blend -o /mnt/cloud/show/out/f_####',
    ],
    ['blender -b /mnt/show/sh010/s.blend', 'blender -b /scratch/sh010/s.blend'],
    ['cp /mnt/showreel/x /tmp', 'cp /mnt/showreel/x /tmp'],
    ['render --scene="/mnt/show/a.blend"', 'render --scene="/mnt/cloud/show/a.blend"'],
    ["sh -c 'cat /mnt/show/x'", "sh -c 'cat /mnt/cloud/show/x'"],
    ['OUT=/mnt/show', 'OUT=/mnt/cloud/show'],
    ['/mnt/show', '/mnt/cloud/show'],
    ['PATH=/usr/bin:/mnt/show/bin', 'PATH=/usr/bin:/mnt/cloud/show/bin'],
    ['echo x/mnt/show/y', 'echo x/mnt/show/y'],
  ])('GIVEN %p WHEN mapped THEN %p', (input, expected) => {
    expect(mapPaths(input, rules)).toBe(expected);
  });

  it.each([
    [
      'blender -b Z:\\projects\\sh010\\a.blend -o Z:\\projects\\out\\f_####',
      'blender -b /mnt/projects/sh010/a.blend -o /mnt/projects/out/f_####',
    ],
    ['render -o "Z:\\projects\\my shot\\out"', 'render -o "/mnt/projects/my shot/out"'],
    ['kick -i z:/Projects/a.ass', 'kick -i /mnt/projects/a.ass'],
    ['cp Z:\\projectsX\\a .', 'cp Z:\\projectsX\\a .'],
  ])('GIVEN a Windows source %p WHEN mapped THEN %p', (input, expected) => {
    expect(mapPaths(input, [{ from: 'Z:\\projects', to: '/mnt/projects' }])).toBe(expected);
  });

  it('GIVEN no rules WHEN mapped THEN the text is unchanged', () => {
    expect(mapPaths('blender -b /mnt/show/a.blend', [])).toBe('blender -b /mnt/show/a.blend');
  });
});
