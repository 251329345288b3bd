import { ValidationError } from '../../errors';
import { entriesFromWire } from './assets';

const h = (c: string): string => c.repeat(64);
const entry = (path: string, sha256 = h('a'), sizeBytes = 10, executable = false) => ({
  path,
  sha256,
  sizeBytes,
  executable,
});

describe('entriesFromWire', () => {
  it('normalises paths and keeps order, sizes and hashes', () => {
    expect(entriesFromWire([entry('scene//shot.blend'), entry('./tex/a.png', h('b'), 3)], 10)).toEqual([
      { path: 'scene/shot.blend', sha256: h('a'), sizeBytes: 10 },
      { path: 'tex/a.png', sha256: h('b'), sizeBytes: 3 },
    ]);
  });

  it.each([
    ['an absolute path', [entry('/etc/passwd')], 'entries[0].path'],
    ['a drive path', [entry('ok'), entry('C:\\show\\a.exr', h('b'))], 'entries[1].path'],
    ['a ".." segment', [entry('a/../../b')], 'entries[0].path'],
    ['an empty path', [entry('')], 'entries[0].path'],
    ['a duplicate path', [entry('a'), entry('b', h('b')), entry('./a', h('c'))], 'entries[2].path'],
    ['an upper-case hash', [entry('a', 'A'.repeat(64))], 'entries[0].sha256'],
    ['a short hash', [entry('a'), entry('b', 'abc')], 'entries[1].sha256'],
    ['a negative size', [entry('a', h('a'), -1)], 'entries[0].size_bytes'],
    ['a fractional size', [entry('a', h('a'), 1.5)], 'entries[0].size_bytes'],
    ['one hash with two sizes', [entry('a', h('a'), 10), entry('b', h('a'), 11)], 'entries[1].size_bytes'],
    ['an executable file', [entry('run.sh', h('a'), 10, true)], 'entries[0].executable'],
  ])('refuses %s, naming the field', (_what, entries, field) => {
    let error: unknown;
    try {
      entriesFromWire(entries, 10);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect((error as Error).message).toContain(field);
  });

  it('refuses more entries than the limit, saying how many', () => {
    const entries = Array.from({ length: 4 }, (_, i) => entry(`f${i}`, h(String(i))));
    expect(entriesFromWire(entries, 4)).toHaveLength(4);
    expect(() => entriesFromWire(entries, 3)).toThrow('entries: must have at most 3 (got "4 entries")');
  });
});
