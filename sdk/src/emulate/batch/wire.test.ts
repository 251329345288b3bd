import { EngineError } from '../../compute/local/errors';
import { parseJobAdd, parseTaskAdd } from './wire';

describe('request parsing answers as Batch does', () => {
  it.each([
    [{ commandLine: 'x' }, 'MissingRequiredProperty', 'id'],
    [{ id: 'a b', commandLine: 'x' }, 'InvalidPropertyValue', 'id'],
    [{ id: 'a' }, 'MissingRequiredProperty', 'commandLine'],
    [
      { id: 'a', commandLine: 'x', constraints: { maxWallClockTime: '10 minutes' } },
      'InvalidPropertyValue',
      'constraints.maxWallClockTime',
    ],
    [
      { id: 'a', commandLine: 'x', resourceFiles: [{ filePath: 'f' }] },
      'InvalidPropertyValue',
      'resourceFiles[0]',
    ],
    [
      {
        id: 'a',
        commandLine: 'x',
        outputFiles: [
          {
            filePattern: '*',
            destination: { container: { containerUrl: 'http://x' } },
            uploadOptions: { uploadCondition: 'always' },
          },
        ],
      },
      'InvalidPropertyValue',
      'outputFiles[0].uploadOptions.uploadCondition',
    ],
  ])('GIVEN the task %j WHEN added THEN %s naming %s', (body, code, property) => {
    let err: unknown;
    try {
      parseTaskAdd(body);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EngineError);
    expect(err).toMatchObject({ code, statusCode: 400 });
    expect((err as EngineError).values).toContainEqual({ key: 'PropertyName', value: property });
  });

  it('GIVEN a job with a release task but no preparation WHEN added THEN InvalidPropertyValue, as Batch requires both', () => {
    expect(() =>
      parseJobAdd({ id: 'j', poolInfo: { poolId: 'p' }, jobReleaseTask: { commandLine: 'x' } }),
    ).toThrow(expect.objectContaining({ code: 'InvalidPropertyValue' }));
  });
});
