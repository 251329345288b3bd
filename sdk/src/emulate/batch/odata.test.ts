import { ODataSyntaxError, applySelect, parseFilter, parseSelect } from './odata';

const task = {
  id: 'frame-7',
  state: 'completed',
  stateTransitionTime: '2026-01-01T10:00:05.000Z',
  executionInfo: { exitCode: 0, result: 'success' },
};

describe('parseFilter', () => {
  it.each([
    ['', true],
    ["state eq 'completed'", true],
    ["state eq 'Completed'", true],
    ["state ne 'completed'", false],
    ["stateTransitionTime gt datetime'2026-01-01T10:00:00Z'", true],
    ["stateTransitionTime gt datetime'2026-01-01T10:00:05Z'", false],
    ["stateTransitionTime ge datetime'2026-01-01T10:00:05Z'", true],
    ["state eq 'running' or id eq 'frame-7'", true],
    ["state eq 'running' or (id eq 'frame-7' and executionInfo/exitCode eq 1)", false],
    ['executionInfo/exitCode eq 0', true],
    ["not (state eq 'active')", true],
    ["executionInfo/result eq 'failure'", false],
    ["missing/path eq 'x'", false],
  ])('GIVEN %j WHEN applied to a completed task THEN %s', (filter, expected) => {
    expect(parseFilter(filter)(task)).toBe(expected);
  });

  it.each([
    ["state eq 'active"],
    ['state eq'],
    ["state like 'x'"],
    ["(state eq 'a'"],
    ["state eq 'a' extra"],
    ["datetime'nope' eq 1"],
  ])('GIVEN the malformed %j WHEN parsed THEN ODataSyntaxError', (filter) => {
    expect(() => parseFilter(filter)).toThrow(ODataSyntaxError);
  });
});

describe('parseSelect / applySelect', () => {
  it('GIVEN id,state WHEN applied THEN only those properties remain', () => {
    expect(applySelect(task, parseSelect('id, state'))).toEqual({ id: 'frame-7', state: 'completed' });
    expect(applySelect(task, parseSelect(undefined))).toBe(task);
    expect(() => parseSelect('id,execution/info')).toThrow(ODataSyntaxError);
  });
});
