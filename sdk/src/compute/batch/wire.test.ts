import type { BatchServiceModels } from '@azure/batch';
import { ValidationError } from '../../errors';
import { chunkTasks, sameTask, toWireTask, wireBytes } from './wire';

const task = (id: string, size = 10): BatchServiceModels.TaskAddParameter => ({
  id,
  commandLine: `echo ${'x'.repeat(size)}`,
});

describe('chunkTasks', () => {
  it.each([
    [0, 10, 100, []],
    [1, 10, 100, [1]],
    [250, 10, 100, [100, 100, 50]],
    [250, 10, 1, Array(250).fill(1)],
    [7, 10, 3, [3, 3, 1]],
    // 100 tasks of ~20 KB: the 1 MB budget binds before the 100-task limit.
    [100, 20_000, 100, [51, 49]],
  ])(
    'GIVEN %d tasks of %d bytes, %d per call WHEN chunked THEN chunk sizes %j',
    (n, size, perCall, expected) => {
      const chunks = chunkTasks(
        Array.from({ length: n }, (_, i) => task(`t${i}`, size)),
        perCall,
      );
      expect(chunks.map((c) => c.length)).toEqual(expected);
      for (const c of chunks) {
        expect(Buffer.byteLength(JSON.stringify({ value: c }))).toBeLessThan(1024 * 1024);
      }
      expect(chunks.flat().map((t) => t.id)).toEqual(Array.from({ length: n }, (_, i) => `t${i}`));
    },
  );

  it('GIVEN one task bigger than a call WHEN chunked THEN a ValidationError names it', () => {
    expect(() => chunkTasks([task('ok'), task('huge', 1_100_000)])).toThrow(
      expect.objectContaining({ field: 'tasks[1]', value: 'huge' }),
    );
    expect(() => chunkTasks([], 101)).toThrow(ValidationError);
    expect(wireBytes(task('a', 1))).toBe(JSON.stringify(task('a', 1)).length);
  });
});

describe('sameTask', () => {
  const sent = toWireTask({
    id: 'f1',
    commandLine: 'render 1',
    environment: { A: '1', B: '2' },
    maxWallClockMs: 60_000,
    outputFiles: [
      { filePattern: 'out/*', containerUrl: 'http://c?sig=s', path: 'p', uploadCondition: 'taskSuccess' },
    ],
  });
  const got: BatchServiceModels.CloudTask = {
    id: 'f1',
    commandLine: 'render 1',
    environmentSettings: [
      { name: 'B', value: '2' },
      { name: 'A', value: '1' },
    ],
    constraints: { maxWallClockTime: 'PT1M', retentionTime: 'P7D', maxTaskRetryCount: 0 },
    outputFiles: [
      {
        filePattern: 'out/*',
        destination: { container: { containerUrl: 'http://c?sig=s', path: 'p' } },
        uploadOptions: { uploadCondition: 'tasksuccess' },
      },
    ],
  };
  it.each([
    ['the same task, with Batch defaults filled in', got, true],
    ['another command', { ...got, commandLine: 'render 2' }, false],
    ['another environment', { ...got, environmentSettings: [{ name: 'A', value: '1' }] }, false],
    ['another wall clock', { ...got, constraints: { maxWallClockTime: 'PT2M' } }, false],
    ['no output files', { ...got, outputFiles: [] }, false],
  ])('GIVEN %s WHEN compared THEN %s', (_what, other, expected) => {
    expect(sameTask(sent, other)).toBe(expected);
  });
});
