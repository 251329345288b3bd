import { mapPath, normaliseRelativePath, relativeToRoot, resolveInside, type PathMappingRule } from './paths';
import { PathEscapeError } from './errors';

const rules: PathMappingRule[] = [
  { from: 'Z:\\projects', to: '/mnt/projects' },
  { from: '\\\\filer\\show', to: '/mnt/show' },
  { from: '/Volumes/assets', to: '/mnt/assets' },
];

describe('mapPath', () => {
  test.each<[string, string]>([
    ['Z:\\projects\\shot\\a.blend', '/mnt/projects/shot/a.blend'],
    ['z:/Projects/shot/a.blend', '/mnt/projects/shot/a.blend'],
    ['Z:\\projects', '/mnt/projects'],
    ['Z:\\projectsX\\a.blend', 'Z:/projectsX/a.blend'],
    ['\\\\filer\\show\\tex\\wood.png', '/mnt/show/tex/wood.png'],
    ['/Volumes/assets/tex/wood.png', '/mnt/assets/tex/wood.png'],
    ['/volumes/assets/tex/wood.png', '/volumes/assets/tex/wood.png'],
    ['/home/me/a.blend', '/home/me/a.blend'],
  ])('GIVEN %j WHEN mapped THEN %j', (input, expected) => {
    expect(mapPath(input, rules)).toBe(expected);
  });

  test('GIVEN two matching rules WHEN mapped THEN the first wins', () => {
    expect(
      mapPath('C:\\a\\b', [
        { from: 'C:\\a', to: '/x' },
        { from: 'C:\\a\\b', to: '/y' },
      ]),
    ).toBe('/x/b');
  });
});

describe('normaliseRelativePath', () => {
  test.each<[string, string]>([
    ['a/b.txt', 'a/b.txt'],
    ['./a//b.txt', 'a/b.txt'],
    ['a\\b\\c.png', 'a/b/c.png'],
    ['a/./b/', 'a/b'],
  ])('GIVEN %j THEN %j', (input, expected) => {
    expect(normaliseRelativePath(input)).toBe(expected);
  });

  test.each<[string, RegExp]>([
    ['', /non-empty/],
    ['/etc/passwd', /absolute/],
    ['C:\\Windows\\x', /absolute and drive/],
    ['C:x', /absolute and drive/],
    ['\\\\server\\share\\x', /absolute/],
    ['../x', /"\.\."/],
    ['a/../../x', /"\.\."/],
    ['a/..', /"\.\."/],
    ['.', /must name a file/],
    ['a\u0000b', /control/],
  ])('GIVEN %j THEN refused with %s', (input, message) => {
    expect(() => normaliseRelativePath(input, 'files[0]')).toThrow(PathEscapeError);
    expect(() => normaliseRelativePath(input, 'files[0]')).toThrow(message);
    if (input) expect(() => normaliseRelativePath(input, 'files[0]')).toThrow(/^files\[0\]: /);
  });
});

describe('relativeToRoot and resolveInside', () => {
  test.each<[string, string, string | RegExp]>([
    ['/r', '/r/a/b', 'a/b'],
    ['/r/', '/r/a', 'a'],
    ['/r', '/rx/a', /inside the root/],
    ['/r', '/r', /inside the root/],
    ['/r', '/a', /inside the root/],
  ])('GIVEN root %j and %j THEN %s', (root, abs, expected) => {
    if (typeof expected === 'string') expect(relativeToRoot(root, abs)).toBe(expected);
    else expect(() => relativeToRoot(root, abs)).toThrow(expected);
  });

  test('GIVEN a relative path WHEN resolved THEN inside the root, and ".." refused', () => {
    expect(resolveInside('/r', 'a/b')).toBe('/r/a/b');
    expect(() => resolveInside('/r', 'a/../../b', 'outputs[1].path')).toThrow(/outputs\[1\]\.path/);
  });
});
