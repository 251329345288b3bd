import { loadConfig } from '../config';
import { ValidationError } from '../errors';
import { figuresOf, GROUP_FIGURE_DEFAULTS, parseBurstConfig } from './config';

const from =
  (json: Record<string, unknown>) =>
  (key: string): unknown =>
    key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], json);

describe('burst configuration', () => {
  it('defaults to the policy planner and the documented group figures', () => {
    // GIVEN no burst section WHEN read THEN
    const c = parseBurstConfig(from({}));
    expect(c).toEqual({
      planner: 'policy',
      reportIntervalMs: 5000,
      groupDefaults: GROUP_FIGURE_DEFAULTS,
      groups: {},
    });
    expect(figuresOf(c, 'any')).toEqual(GROUP_FIGURE_DEFAULTS);
  });

  it('takes the greedy baseline only when named, from the file or SPILLWAY_PLANNER', () => {
    expect(parseBurstConfig(from({ burst: { planner: 'greedy' } })).planner).toBe('greedy');
    expect(loadConfig({ env: { SPILLWAY_PLANNER: 'greedy' } }).burst.planner).toBe('greedy');
    expect(loadConfig({ env: {} }).burst.planner).toBe('policy');
  });

  it('layers per-group figures over the defaults', () => {
    const c = parseBurstConfig(
      from({
        burst: {
          groupDefaults: { nodeBootSeconds: 300, turnaroundTargetSeconds: 0 },
          groups: { gpu: { cloudFrameTimeRatio: 0.5, transferSecondsPerFrame: '20' } },
        },
      }),
    );
    expect(figuresOf(c, 'gpu')).toEqual({
      ...GROUP_FIGURE_DEFAULTS,
      nodeBootSeconds: 300,
      turnaroundTargetSeconds: 0,
      cloudFrameTimeRatio: 0.5,
      transferSecondsPerFrame: 20,
    });
    expect(figuresOf(c, 'cpu').cloudFrameTimeRatio).toBe(1);
  });

  it.each([
    [{ burst: { planner: 'simple' } }, 'burst.planner', '"simple"'],
    [{ burst: { reportIntervalMs: 10 } }, 'burst.reportIntervalMs', '10'],
    [{ burst: { groupDefaults: { nodeBootSeconds: -1 } } }, 'burst.groupDefaults.nodeBootSeconds', '-1'],
    [
      { burst: { groupDefaults: { cloudFrameTimeRatio: 0 } } },
      'burst.groupDefaults.cloudFrameTimeRatio',
      '0',
    ],
    [{ burst: { groups: { gpu: { bootTime: 5 } } } }, 'burst.groups.gpu.bootTime', '5'],
    [
      { burst: { groups: { gpu: { spotEvictionsPerNodeHour: 'often' } } } },
      'burst.groups.gpu.spotEvictionsPerNodeHour',
      '"often"',
    ],
    [{ burst: { groups: [] } }, 'burst.groups', '[]'],
    [
      { burst: { groups: { gpu: { billingGranularitySeconds: 0 } } } },
      'burst.groups.gpu.billingGranularitySeconds',
      '0',
    ],
  ])('refuses %j, naming %s and quoting %s', (json, field, quoted) => {
    // GIVEN a bad key WHEN read THEN a ValidationError names it and quotes the value
    let err: unknown;
    try {
      parseBurstConfig(from(json));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toContain(field);
    expect((err as ValidationError).message).toContain(quoted);
  });
});
