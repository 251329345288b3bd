import { ValidationError } from '../errors';
import type { FrameSpec, JobSpec } from './frames';
import { validateSubmission } from './validate';

const job: JobSpec = { source: 'deadline:studio', sourceJobId: 'job-1', commandTemplate: 'render #IFRAME#' };
const frame: FrameSpec = { sourceTaskId: '0', frameStart: 1, frameEnd: 1 };

describe('validateSubmission', () => {
  it('accepts a well-formed submission', () => {
    expect(() => validateSubmission(job, [frame, { ...frame, sourceTaskId: '1' }])).not.toThrow();
  });

  // GIVEN one bad field WHEN validated THEN the error names the field path and quotes the value
  it.each<[string, JobSpec, FrameSpec[], string, string]>([
    ['empty source', { ...job, source: '' }, [frame], 'job.source', '""'],
    ['source with a space', { ...job, source: 'a b' }, [frame], 'job.source', '"a b"'],
    ['empty job id', { ...job, sourceJobId: '' }, [frame], 'job.source_job_id', '""'],
    ['priority 101', { ...job, priority: 101 }, [frame], 'job.priority', '101'],
    ['bad group', { ...job, capacityGroup: 'Big_Pool' }, [frame], 'job.capacity_group', '"Big_Pool"'],
    ['bad env name', { ...job, environment: { '1X': 'y' } }, [frame], 'job.environment["1X"]', '"1X"'],
    ['no frames', job, [], 'frames', '[]'],
    ['reversed range', job, [{ ...frame, frameStart: 10, frameEnd: 2 }], 'frames[0].frame_end', '2'],
    ['fractional start', job, [{ ...frame, frameStart: 1.5, frameEnd: 2 }], 'frames[0].frame_start', '1.5'],
    ['repeated key', job, [frame, frame], 'frames[1].source_task_id', '"0"'],
    ['empty task id', job, [{ ...frame, sourceTaskId: '' }], 'frames[0].source_task_id', '""'],
    ['no command anywhere', { ...job, commandTemplate: ' ' }, [frame], 'frames[0].command', '""'],
    [
      'command too long',
      { ...job, commandTemplate: 'x'.repeat(8001) },
      [frame],
      'job.command_template',
      '"8001 characters"',
    ],
  ])('refuses %s', (_what, j, frames, field, quoted) => {
    let error: unknown;
    try {
      validateSubmission(j, frames);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect((error as ValidationError).message).toContain(field);
    expect((error as ValidationError).message).toContain(quoted);
  });

  it('refuses more than 10,000 frames in one call', () => {
    const frames = Array.from({ length: 10_001 }, (_, i) => ({ ...frame, sourceTaskId: String(i) }));
    expect(() => validateSubmission(job, frames)).toThrow(/frames: .*10000/);
  });
});
