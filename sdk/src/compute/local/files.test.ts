import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { globToRegExp, matchOutputFiles, withoutQuery } from './files';

describe('globToRegExp', () => {
  it.each([
    ['*.png', 'a.png', true],
    ['*.png', 'd/a.png', false],
    ['**/*.png', 'd/e/a.png', true],
    ['**/*.png', 'a.png', true],
    ['frame_????.exr', 'frame_0001.exr', true],
    ['frame_????.exr', 'frame_01.exr', false],
    ['**', 'x/y/z', true],
    ['a.b', 'aXb', false],
  ])('GIVEN %s WHEN matched against %s THEN %s', (glob, file, expected) => {
    expect(globToRegExp(glob).test(file)).toBe(expected);
  });
});

describe('matchOutputFiles', () => {
  it('GIVEN frames under out/ and logs beside wd WHEN matched THEN blob names keep the path below the pattern', async () => {
    const task = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-files-'));
    const wd = path.join(task, 'wd');
    fs.mkdirSync(path.join(wd, 'out', 'aov'), { recursive: true });
    fs.writeFileSync(path.join(wd, 'out', 'f1.png'), '1');
    fs.writeFileSync(path.join(wd, 'out', 'aov', 'f1.exr'), '2');
    fs.writeFileSync(path.join(task, 'stdout.txt'), 'o');
    const frames = await matchOutputFiles(
      { filePattern: 'out/**', containerUrl: 'http://c', path: 'shot/f1', uploadCondition: 'taskSuccess' },
      wd,
    );
    expect(frames.map((m) => m.blobName).sort()).toEqual(['shot/f1/aov/f1.exr', 'shot/f1/f1.png']);
    const logs = await matchOutputFiles(
      {
        filePattern: '../std*.txt',
        containerUrl: 'http://c',
        path: 'logs',
        uploadCondition: 'taskCompletion',
      },
      wd,
    );
    expect(logs.map((m) => m.blobName)).toEqual(['logs/stdout.txt']);
    const single = await matchOutputFiles(
      { filePattern: 'out/f1.png', containerUrl: 'http://c', path: 'x.png', uploadCondition: 'taskSuccess' },
      wd,
    );
    expect(single.map((m) => m.blobName)).toEqual(['x.png']);
    fs.rmSync(task, { recursive: true, force: true });
  });

  it('GIVEN a SAS URL WHEN named in an error THEN the query is redacted', () => {
    expect(withoutQuery('http://h/c?sv=1&sig=SECRET')).toBe('http://h/c?<redacted>');
  });
});
