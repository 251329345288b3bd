import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildManifest } from './manifest';

// GIVEN a tree holding a file whose name the service refuses
// WHEN its manifest is built (what `spillway assets sync` does first)
// THEN the sync is refused, naming the file, instead of succeeding and failing later.

describe('file names a manifest cannot carry', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-names-'));
    fs.mkdirSync(path.join(dir, 'a'));
    fs.writeFileSync(path.join(dir, 'a', 'b.txt'), 'real');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['a backslash, which would collapse onto a/b.txt', 'a\\b.txt', /backslash/],
    ['a line break', 'new\nline.txt', /control character/],
    ['a carriage return', 'cr\r.txt', /control character/],
  ])('refuses %s', async (_what, name, reason) => {
    fs.writeFileSync(path.join(dir, name), 'odd');
    await expect(buildManifest(dir, { hashCacheFile: false })).rejects.toThrow(reason);
    await expect(buildManifest(dir, { hashCacheFile: false })).rejects.toThrow(JSON.stringify(name));
  });

  it('builds the tree without them', async () => {
    const built = await buildManifest(dir, { hashCacheFile: false });
    expect(built.manifest.files.map((f) => f.path)).toEqual(['a/b.txt']);
  });
});
