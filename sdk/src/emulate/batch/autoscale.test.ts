import {
  AutoScaleEvaluationError,
  AutoScaleSyntaxError,
  evaluateFormula,
  type AutoScaleInputs,
} from './autoscale';

const pool: AutoScaleInputs = {
  activeTasks: 30,
  runningTasks: 10,
  succeededTasks: 5,
  failedTasks: 1,
  currentDedicatedNodes: 2,
  currentLowPriorityNodes: 3,
  preemptedNodes: 1,
  targetDedicatedNodes: 2,
  targetLowPriorityNodes: 3,
  taskSlotsPerNode: 4,
};

describe('autoscale formulas', () => {
  it.each([
    ['a constant', '$TargetDedicatedNodes = 4;', 4, 3, 'requeue'],
    ['no assignment keeps the targets', 'x = 1;', 2, 3, 'requeue'],
    [
      "Batch's pending-tasks example",
      `startingNumberOfVMs = 1;
       maxNumberofVMs = 25;
       pendingTaskSamplePercent = $PendingTasks.GetSamplePercent(180 * TimeInterval_Second);
       pendingTaskSamples = pendingTaskSamplePercent < 70 ? startingNumberOfVMs : avg($PendingTasks.GetSample(180 * TimeInterval_Second));
       $TargetDedicatedNodes = min(maxNumberofVMs, pendingTaskSamples);
       $NodeDeallocationOption = taskcompletion;`,
      25,
      3,
      'taskcompletion',
    ],
    [
      'spot nodes for pending tasks by slots, rounded down',
      '$TargetLowPriorityNodes = max(0, $PendingTasks / $TaskSlotsPerNode + 0.9); $TargetDedicatedNodes = 0',
      0,
      10,
      'requeue',
    ],
    ['a negative target is 0', '$TargetDedicatedNodes = -3;', 0, 3, 'requeue'],
    [
      'nested ternaries and logic',
      '$TargetDedicatedNodes = ($ActiveTasks > 100) ? 10 : ($ActiveTasks > 10 && !($FailedTasks > 5)) ? 5 : 1;',
      5,
      3,
      'requeue',
    ],
    [
      'comments and arithmetic',
      '// grow\n$TargetDedicatedNodes = (7 % 4) * 2 - 1; // 5\n$NodeDeallocationOption = retaineddata',
      5,
      3,
      'retaineddata',
    ],
  ])('GIVEN %s WHEN evaluated THEN the targets follow', (_what, formula, dedicated, spot, option) => {
    expect(evaluateFormula(formula, pool)).toMatchObject({
      targetDedicatedNodes: dedicated,
      targetLowPriorityNodes: spot,
      nodeDeallocationOption: option,
    });
  });

  it('GIVEN a formula WHEN evaluated THEN results list every variable as Batch does', () => {
    expect(evaluateFormula('n = 2; $TargetDedicatedNodes = n * 3;', pool).results).toBe(
      '$TargetDedicatedNodes=6;$TargetLowPriorityNodes=3;$NodeDeallocationOption=requeue;n=2',
    );
  });

  it.each([
    ['a dangling operator', '$TargetDedicatedNodes = 1 +;'],
    ['a missing parenthesis', '$TargetDedicatedNodes = min(1, 2;'],
    ['an expression as a statement', '3 = 4;'],
    ['a stray character', '$TargetDedicatedNodes = 1 # 2;'],
    ['no semicolon between statements', '$TargetDedicatedNodes = 1 $TargetLowPriorityNodes = 2'],
    ['a formula over 8192 characters', `$TargetDedicatedNodes = ${'1+'.repeat(5000)}1;`],
  ])('GIVEN %s WHEN parsed THEN a syntax error', (_what, formula) => {
    expect(() => evaluateFormula(formula, pool)).toThrow(AutoScaleSyntaxError);
  });

  it.each([
    ['an unknown variable', '$TargetDedicatedNodes = $Nope;', '"$Nope" is not defined'],
    ['a read-only variable assigned', '$ActiveTasks = 3;', '$ActiveTasks cannot be assigned'],
    ['an unknown function', '$TargetDedicatedNodes = median(1);', 'unknown function median()'],
    ['a division by zero', '$TargetDedicatedNodes = 1 / ($ActiveTasks - 30);', 'division by zero'],
    ['a bad deallocation option', '$NodeDeallocationOption = 3;', '$NodeDeallocationOption must be one of'],
  ])('GIVEN %s WHEN evaluated THEN an evaluation error saying so', (_what, formula, message) => {
    expect(() => evaluateFormula(formula, pool)).toThrow(AutoScaleEvaluationError);
    expect(() => evaluateFormula(formula, pool)).toThrow(message);
  });
});
