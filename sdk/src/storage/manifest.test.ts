import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ValidationError } from '../errors';
import {
  buildManifest,
  canonicalManifestJson,
  manifestId,
  parseManifest,
  sha256Hex,
  type Manifest,
} from './manifest';

const h = (s: string): string => sha256Hex(s);

describe('canonicalManifestJson and manifestId', () => {
  test('GIVEN the same files in any order THEN the same canonical JSON and id', () => {
    const a: Manifest = {
      version: 1,
      files: [
        { path: 'b.txt', sizeBytes: 1, sha256: h('b') },
        { path: 'a.txt', sizeBytes: 1, sha256: h('a') },
      ],
    };
    const b: Manifest = { version: 1, files: [...a.files].reverse() };
    expect(canonicalManifestJson(a)).toBe(canonicalManifestJson(b));
    expect(canonicalManifestJson(a)).toBe(
      `{"version":1,"files":[{"path":"a.txt","sizeBytes":1,"sha256":"${h('a')}"},{"path":"b.txt","sizeBytes":1,"sha256":"${h('b')}"}]}`,
    );
    expect(manifestId(a)).toBe(sha256Hex(canonicalManifestJson(a)));
  });

  test('GIVEN one size differs THEN the id differs', () => {
    const base: Manifest = { version: 1, files: [{ path: 'a', sizeBytes: 1, sha256: h('a') }] };
    expect(manifestId(base)).not.toBe(
      manifestId({ version: 1, files: [{ path: 'a', sizeBytes: 2, sha256: h('a') }] }),
    );
  });
});

describe('parseManifest', () => {
  const ok = { path: 'a/b', sizeBytes: 3, sha256: h('x') };
  test.each<[string, unknown, RegExp]>([
    ['not JSON', 'nope', /manifest: is not JSON/],
    ['wrong version', { version: 2, files: [] }, /manifest\.version: must be 1/],
    [
      'escaping path',
      { version: 1, files: [{ ...ok, path: '../x' }] },
      /manifest\.files\[0\]\.path: must not contain "\.\."/,
    ],
    [
      'absolute path',
      { version: 1, files: [ok, { ...ok, path: '/etc/x' }] },
      /manifest\.files\[1\]\.path: must be relative/,
    ],
    [
      'bad hash',
      { version: 1, files: [{ ...ok, sha256: 'ABC' }] },
      /manifest\.files\[0\]\.sha256: must be 64/,
    ],
    [
      'negative size',
      { version: 1, files: [{ ...ok, sizeBytes: -1 }] },
      /sizeBytes: must be a non-negative integer/,
    ],
    ['duplicate', { version: 1, files: [ok, { ...ok, path: './a//b' }] }, /files\[1\]\.path: appears twice/],
  ])('GIVEN %s THEN a ValidationError naming the field', (_name, value, message) => {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    expect(() => parseManifest(text)).toThrow(ValidationError);
    expect(() => parseManifest(text)).toThrow(message);
  });

  test('GIVEN a valid manifest THEN paths are normalised', () => {
    expect(
      parseManifest(JSON.stringify({ version: 1, files: [{ ...ok, path: './a\\b' }] })).files[0]!.path,
    ).toBe('a/b');
  });
});

describe('buildManifest hash cache', () => {
  let root: string;
  let cacheFile: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-manifest-'));
    cacheFile = path.join(root, '..', `${path.basename(root)}-cache.json`);
    fs.mkdirSync(path.join(root, 'd'));
    fs.writeFileSync(path.join(root, 'd', 'x.txt'), 'x');
    fs.writeFileSync(path.join(root, 'y.txt'), 'yy');
  });
  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(cacheFile, { force: true });
  });

  test('GIVEN an unchanged tree WHEN built twice THEN the second reads no file', async () => {
    const first = await buildManifest(root, { hashCacheFile: cacheFile });
    expect(first.filesHashed).toBe(2);
    expect(first.manifest.files).toEqual([
      { path: 'd/x.txt', sizeBytes: 1, sha256: h('x') },
      { path: 'y.txt', sizeBytes: 2, sha256: h('yy') },
    ]);
    const second = await buildManifest(root, { hashCacheFile: cacheFile });
    expect(second).toMatchObject({ filesHashed: 0, filesFromCache: 2, id: first.id });
    const verified = await buildManifest(root, { hashCacheFile: cacheFile, verify: true });
    expect(verified).toMatchObject({ filesHashed: 2, filesFromCache: 0, id: first.id });
  });

  test('GIVEN a file replaced (new inode) with the same size and mtime THEN it is re-hashed', async () => {
    await buildManifest(root, { hashCacheFile: cacheFile });
    const p = path.join(root, 'y.txt');
    const st = fs.statSync(p);
    fs.writeFileSync(`${p}.new`, 'zz');
    fs.utimesSync(`${p}.new`, st.atime, st.mtime);
    fs.renameSync(`${p}.new`, p);
    const again = await buildManifest(root, { hashCacheFile: cacheFile });
    expect(again.filesHashed).toBe(1);
    expect(again.manifest.files[1]!.sha256).toBe(h('zz'));
  });

  test('GIVEN small files hashed cold THEN onEntry hands over the bytes hashed; larger or cached ones not', async () => {
    const seen = new Map<string, string | undefined>();
    const onEntry = (e: { path: string }, _local: string, _cached: boolean, content?: Buffer): void => {
      seen.set(e.path, content?.toString());
    };
    await buildManifest(root, { hashCacheFile: cacheFile, wholeFileBytes: 1, onEntry });
    expect(Object.fromEntries(seen)).toEqual({ 'd/x.txt': 'x', 'y.txt': undefined }); // 'yy' is 2 bytes
    seen.clear();
    await buildManifest(root, { hashCacheFile: cacheFile, onEntry });
    expect(Object.fromEntries(seen)).toEqual({ 'd/x.txt': undefined, 'y.txt': undefined }); // from the cache
  });

  test('GIVEN a missing root THEN a ValidationError naming it', async () => {
    await expect(buildManifest(path.join(root, 'nope'))).rejects.toThrow(
      /root: must be an existing directory/,
    );
  });

  test('GIVEN a symlink inside the root THEN followed; a directory loop THEN walked once', async () => {
    fs.symlinkSync(path.join(root, 'y.txt'), path.join(root, 'link.txt'));
    fs.symlinkSync(root, path.join(root, 'd', 'loop'));
    const m = await buildManifest(root, { hashCacheFile: false });
    expect(m.manifest.files.map((f) => f.path)).toEqual(['d/x.txt', 'link.txt', 'y.txt']);
  });
});
