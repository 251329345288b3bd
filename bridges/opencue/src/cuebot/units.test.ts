import { coresToUnits, hostCoreUnits, parseFrameName, renderHostCores, unitsToCores } from './units';

describe('Cuebot units', () => {
  it.each([
    [1, 100],
    [1.5, 150],
    [0, 0],
    [0.333, 33],
  ])('GIVEN %p cores WHEN converted THEN %p core units', (cores, units) => {
    expect(coresToUnits(cores)).toBe(units);
  });

  it('GIVEN 250 core units WHEN converted THEN 2.5 cores', () => {
    expect(unitsToCores(250)).toBe(2.5);
  });

  it.each([
    [4, { num_procs: 1, cores_per_proc: 400 }, 400],
    [0, { num_procs: 1, cores_per_proc: 0 }, 0],
  ])('GIVEN %p cores WHEN described as a render host THEN %p (%p units)', (cores, pair, units) => {
    expect(renderHostCores(cores)).toEqual(pair);
    expect(hostCoreUnits(renderHostCores(cores))).toBe(units);
  });

  it('GIVEN a fractional core count WHEN described THEN it is refused naming the value', () => {
    expect(() => renderHostCores(1.5)).toThrow(/1\.5/);
  });

  it.each([
    ['0007-render', { number: 7, layer: 'render' }],
    ['1001-comp-2', { number: 1001, layer: 'comp-2' }],
    ['-007-render', { number: -7, layer: 'render' }],
    ['render', undefined],
    ['0007', undefined],
  ])('GIVEN frame name %p WHEN parsed THEN %p', (name, parsed) => {
    expect(parseFrameName(name)).toEqual(parsed);
  });
});
