import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  allPlaced,
  OutputVerificationError,
  placeStaged,
  removeStaging,
  stagingDirOf,
  verifyStaged,
} from './outputs';

describe('output placement', () => {
  let out: string;
  beforeEach(() => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-place-'));
  });
  afterEach(() => fs.rmSync(out, { recursive: true, force: true }));

  const stage = (files: Record<string, string>, key = 'job1-4'): string => {
    const dir = stagingDirOf(out, key);
    for (const [name, body] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), body);
    }
    return dir;
  };

  it.each<[string, Record<string, string>, number, number, boolean, string | null]>([
    ['every frame present', { 'f_0005.png': 'x', 'f_0006.png': 'y' }, 5, 6, true, null],
    ['a frame missing', { 'f_0005.png': 'x' }, 5, 6, true, 'frame 6'],
    ['an empty file', { 'f_0005.png': '' }, 5, 5, true, 'empty'],
    ['no outputs at all', {}, 5, 5, false, 'no outputs'],
    ['frame numbers not required', { 'beauty.exr': 'x' }, 5, 5, false, null],
    ['frame 1 is not found inside 10', { 'f_0010.png': 'x' }, 1, 1, true, 'frame 1'],
  ])('GIVEN %s WHEN verified THEN it passes or names the problem', (_n, files, a, b, numbers, problem) => {
    const dir = stage(files);
    if (problem === null) expect(verifyStaged(dir, a, b, numbers).length).toBe(Object.keys(files).length);
    else {
      expect(() => verifyStaged(dir, a, b, numbers)).toThrow(OutputVerificationError);
      expect(() => verifyStaged(dir, a, b, numbers)).toThrow(problem);
    }
  });

  it('GIVEN verified files WHEN placed THEN the output folder holds exactly the outputs', () => {
    const dir = stage({ 'f_0005.png': 'x', 'sub/f_0005.json': '{}' });
    const files = verifyStaged(dir, 5, 5, true);
    placeStaged(dir, out, files);
    expect(allPlaced(out, files)).toBe(true);
    expect(fs.readdirSync(out, { recursive: true }).map(String).sort()).toEqual([
      'f_0005.png',
      'sub',
      path.join('sub', 'f_0005.json'),
    ]);
  });

  it('GIVEN two tasks staging WHEN one is placed THEN the other keeps its staging, and the last leaves none', () => {
    const a = stage({ 'f_0005.png': 'x' }, 'job1-4');
    const b = stage({ 'f_0006.png': 'y' }, 'job1-5');
    placeStaged(a, out, verifyStaged(a, 5, 5, true));
    expect(fs.existsSync(b)).toBe(true);
    placeStaged(b, out, verifyStaged(b, 6, 6, true));
    expect(fs.readdirSync(out).sort()).toEqual(['f_0005.png', 'f_0006.png']);
  });

  it('GIVEN a fetch interrupted earlier WHEN verified THEN its .part file is not an output', () => {
    const dir = stage({ 'f_0005.png': 'x', 'f_0006.png.part': 'half' });
    expect(verifyStaged(dir, 5, 5, true)).toEqual(['f_0005.png']);
  });

  it('GIVEN outputs that failed verification WHEN the staging is removed THEN nothing is left', () => {
    const dir = stage({ 'f_0005.png': '' });
    expect(() => verifyStaged(dir, 5, 5, true)).toThrow(OutputVerificationError);
    removeStaging(dir);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('GIVEN a placement interrupted half-way WHEN run again THEN it finishes without error', () => {
    const dir = stage({ 'f_0005.png': 'x', 'f_0006.png': 'y' });
    const files = verifyStaged(dir, 5, 6, true);
    fs.renameSync(path.join(dir, 'f_0005.png'), path.join(out, 'f_0005.png')); // the crash
    placeStaged(dir, out, files);
    expect(
      fs
        .readdirSync(out)
        .filter((f) => f.endsWith('.png'))
        .sort(),
    ).toEqual(['f_0005.png', 'f_0006.png']);
  });

  it('GIVEN a staged file that vanished WHEN placed THEN it refuses', () => {
    const dir = stage({ 'f_0005.png': 'x' });
    expect(() => placeStaged(dir, out, ['f_0005.png', 'f_0006.png'])).toThrow(/vanished/);
  });
});
