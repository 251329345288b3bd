import {
  chunkValues,
  formatIntRangeExpr,
  instantiateJobTemplate,
  parseIntRangeExpr,
  parseJobTemplate,
  TemplateError,
} from './index';

describe('parseIntRangeExpr (OJD 2023-09 §3.4.1.1.1)', () => {
  // GIVEN the specification's own examples WHEN parsed THEN the listed values come out
  test.each([
    ['1 - 5', [1, 2, 3, 4, 5]],
    ['1 - -1', [1]],
    ['-1 - 1', [-1, 0, 1]],
    ['1-5:2', [1, 3, 5]],
    ['10-15:2,1-5', [1, 2, 3, 4, 5, 10, 12, 14]],
    ['1-10:4', [1, 5, 9]],
    ['7', [7]],
    ['10-1:-3', [1, 4, 7, 10]],
    ['1-100:2', Array.from({ length: 50 }, (_, i) => 1 + 2 * i)],
  ])('%j', (expr, values) => {
    expect(parseIntRangeExpr(expr)).toEqual(values);
  });

  test.each([
    ['1-10:4,10-15', /overlapping ranges "1-10:4" and "10-15"/],
    ['', /is empty/],
    ['1-5:0', /skip 0/],
    ['a-b', /not N, N-M or N-M:SKIP/],
    ['1-', /not N, N-M or N-M:SKIP/],
  ])('%j is refused', (expr, message) => {
    expect(() => parseIntRangeExpr(expr)).toThrow(message);
  });

  test.each([
    [[1, 2, 3, 4], '1-4'],
    [[1, 3, 5, 7], '1-7:2'],
    [[1, 2, 7, 10, 15, 20], '1-2,7,10-20:5'],
    [[4], '4'],
    [[1, 3], '1,3'],
  ])('formatIntRangeExpr(%j) = %j, which parses back', (values, expr) => {
    expect(formatIntRangeExpr(values)).toBe(expr);
    expect(parseIntRangeExpr(expr)).toEqual(values);
  });

  test.each([
    [[1, 2, 3, 4, 5, 6, 7], 3, 'CONTIGUOUS', [[1, 2, 3], [4, 5, 6], [7]]],
    [
      [1, 2, 3, 7, 8, 9],
      4,
      'CONTIGUOUS',
      [
        [1, 2, 3],
        [7, 8, 9],
      ],
    ],
    [[1, 3, 5, 7], 2, 'CONTIGUOUS', [[1], [3], [5], [7]]],
    [[1, 3, 5, 7, 9], 2, 'NONCONTIGUOUS', [[1, 3], [5, 7], [9]]],
  ] as const)('chunkValues(%j, %d, %s)', (values, size, constraint, chunks) => {
    expect(chunkValues(values, size, constraint)).toEqual(chunks);
  });
});

const sweep = `
specificationVersion: jobtemplate-2023-09
name: Sweep {{Param.Label}}
parameterDefinitions:
  - name: Label
    type: STRING
    default: demo
steps:
  - name: Sweep
    parameterSpace:
      taskParameterDefinitions:
        - name: Size
          type: INT
          range: "1-3"
        - name: Color
          type: STRING
          range: [red, blue]
    script:
      actions:
        onRun:
          command: echo
          args: ["{{Task.Param.Size}}", "{{Task.Param.Color}}", "{{Session.WorkingDirectory}}/out"]
`;

describe('instantiateJobTemplate', () => {
  test('GIVEN two task parameters WHEN instantiated THEN every combination is a frame, first parameter outermost', () => {
    const [only] = instantiateJobTemplate(parseJobTemplate(sweep), {
      source: 'test',
      parameters: { Label: 'x' },
    });
    expect(only!.job.name).toBe('Sweep x');
    expect(only!.frames.map((f) => f.sourceTaskId)).toEqual([
      'Size=1 Color=red',
      'Size=1 Color=blue',
      'Size=2 Color=red',
      'Size=2 Color=blue',
      'Size=3 Color=red',
      'Size=3 Color=blue',
    ]);
    // Values known at submission are quoted; the session directory is the node's.
    expect(only!.frames[1]!.command).toContain(`echo 1 blue "\${OJD_SESSION}"/out`);
  });

  test('GIVEN a combination (Size, Color) * Pass WHEN instantiated THEN Size and Color go together', () => {
    const text = sweep
      .replace(
        'range: [red, blue]',
        'range: [red, green, blue]\n        - name: Pass\n          type: STRING\n          range: [a, b]',
      )
      .replace('    script:', '      combination: "(Size, Color) * Pass"\n    script:');
    const [only] = instantiateJobTemplate(parseJobTemplate(text), { source: 'test' });
    expect(only!.frames.map((f) => f.sourceTaskId)).toEqual([
      'Size=1 Color=red Pass=a',
      'Size=1 Color=red Pass=b',
      'Size=2 Color=green Pass=a',
      'Size=2 Color=green Pass=b',
      'Size=3 Color=blue Pass=a',
      'Size=3 Color=blue Pass=b',
    ]);
  });

  test('GIVEN a CHUNK[INT] frame range from job parameters WHEN instantiated THEN each chunk is a frame with its bounds', () => {
    const text = `
specificationVersion: jobtemplate-2023-09
extensions: [TASK_CHUNKING]
name: Render
parameterDefinitions:
  - {name: Frames, type: STRING}
  - {name: Chunk, type: INT, default: 4}
steps:
  - name: Render
    parameterSpace:
      taskParameterDefinitions:
        - name: Frame
          type: CHUNK[INT]
          range: "{{Param.Frames}}"
          chunks: {defaultTaskCount: "{{Param.Chunk}}", rangeConstraint: CONTIGUOUS}
    script:
      actions:
        onRun: {command: render, args: ["{{Task.Param.Frame}}"]}
`;
    const [only] = instantiateJobTemplate(parseJobTemplate(text), {
      source: 'test',
      parameters: { Frames: '1-10', Chunk: '4' },
    });
    expect(only!.frames.map((f) => [f.sourceTaskId, f.frameStart, f.frameEnd])).toEqual([
      ['Frame=1-4', 1, 4],
      ['Frame=5-8', 5, 8],
      ['Frame=9-10', 9, 10],
    ]);
    expect(only!.frames[2]!.command).toContain('render 9-10');
    // Same template, same parameters: the same job id, so a resubmission adds nothing.
    const [again] = instantiateJobTemplate(parseJobTemplate(text), {
      source: 'test',
      parameters: { Frames: '1-10', Chunk: 4 },
    });
    expect(again!.job.sourceJobId).toBe(only!.job.sourceJobId);
  });

  test.each([
    [{ Nope: '1' }, 'parameters.Nope', /defines no parameter "Nope"/],
    [{ Frames: '1-10', Chunk: 'x' }, 'parameters.Chunk', /must be a whole number/],
    [{}, 'parameters.Frames', /has no value/],
    [{ Frames: '1-5,3-9' }, 'steps[0].parameterSpace.taskParameterDefinitions[0].range', /overlapping/],
  ])('GIVEN parameters %j THEN the error names %s', (parameters, field, message) => {
    const text = `
specificationVersion: jobtemplate-2023-09
extensions: [TASK_CHUNKING]
name: Render
parameterDefinitions:
  - {name: Frames, type: STRING}
  - {name: Chunk, type: INT, default: 4, minValue: 1}
steps:
  - name: Render
    parameterSpace:
      taskParameterDefinitions:
        - name: Frame
          type: CHUNK[INT]
          range: "{{Param.Frames}}"
          chunks: {defaultTaskCount: "{{Param.Chunk}}", rangeConstraint: CONTIGUOUS}
    script:
      actions:
        onRun: {command: render, args: ["{{Task.Param.Frame}}"]}
`;
    const run = (): unknown => instantiateJobTemplate(parseJobTemplate(text), { source: 'test', parameters });
    expect(run).toThrow(message);
    try {
      run();
    } catch (err) {
      expect((err as TemplateError).field).toBe(field);
    }
  });

  test('GIVEN a step needing a GPU WHEN instantiated THEN its job needs one', () => {
    const text = sweep.replace(
      '    script:',
      '    hostRequirements:\n      amounts: [{name: amount.worker.gpu, min: 1}]\n    script:',
    );
    expect(instantiateJobTemplate(parseJobTemplate(text), { source: 'test' })[0]!.job.gpus).toBe(1);
  });
});

describe('parseJobTemplate refuses what it cannot run, naming the OJD path', () => {
  const base = {
    specificationVersion: 'jobtemplate-2023-09',
    name: 'x',
    steps: [
      {
        name: 'A',
        parameterSpace: { taskParameterDefinitions: [{ name: 'F', type: 'INT', range: '1-3' }] },
        script: { actions: { onRun: { command: 'echo', args: ['{{Task.Param.F}}'] } } },
      },
    ],
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the test edits a free-form document
  const edit = (f: (t: any) => void): string => {
    const t = structuredClone(base);
    f(t);
    return JSON.stringify(t);
  };
  test.each([
    [
      'a wrong version',
      edit((t) => (t.specificationVersion = 'jobtemplate-2022-01')),
      'specificationVersion',
    ],
    ['an unknown root key', edit((t) => (t.stepz = [])), 'stepz'],
    ['an unsupported extension', edit((t) => (t.extensions = ['EXPR'])), 'extensions[0]'],
    ['no steps', edit((t) => (t.steps = [])), 'steps'],
    [
      'a bad task parameter type',
      edit((t) => (t.steps[0].parameterSpace.taskParameterDefinitions[0].type = 'BOOL')),
      'steps[0].parameterSpace.taskParameterDefinitions[0].type',
    ],
    [
      'overlapping ranges',
      edit((t) => (t.steps[0].parameterSpace.taskParameterDefinitions[0].range = '1-10:4,10-15')),
      'steps[0].parameterSpace.taskParameterDefinitions[0].range',
    ],
    [
      'an undefined reference',
      edit((t) => (t.steps[0].script.actions.onRun.args[0] = '{{Task.Param.G}}')),
      'steps[0].script.actions.onRun.args[0]',
    ],
    [
      'CHUNK[INT] without the extension',
      edit((t) => (t.steps[0].parameterSpace.taskParameterDefinitions[0].type = 'CHUNK[INT]')),
      'steps[0].parameterSpace.taskParameterDefinitions[0].type',
    ],
    [
      'step dependencies',
      edit((t) => (t.steps[0].dependencies = [{ dependsOn: 'B' }])),
      'steps[0].dependencies',
    ],
    [
      'a combination that leaves a parameter out',
      edit((t) => {
        t.steps[0].parameterSpace.taskParameterDefinitions.push({ name: 'G', type: 'STRING', range: ['a'] });
        t.steps[0].parameterSpace.combination = 'F';
      }),
      'steps[0].parameterSpace.combination',
    ],
    [
      'a Windows-only host',
      edit(
        (t) =>
          (t.steps[0].hostRequirements = {
            attributes: [{ name: 'attr.worker.os.family', anyOf: ['windows'] }],
          }),
      ),
      'steps[0].hostRequirements.attributes[0].anyOf',
    ],
    [
      'an unclosed {{',
      edit((t) => (t.steps[0].script.actions.onRun.command = 'echo {{Param.X')),
      'steps[0].script.actions.onRun.command',
    ],
    [
      'a negative timeout',
      edit((t) => (t.steps[0].script.actions.onRun.timeout = 0)),
      'steps[0].script.actions.onRun.timeout',
    ],
  ])('%s', (_what, text, path) => {
    expect(() => parseJobTemplate(text)).toThrow(TemplateError);
    try {
      parseJobTemplate(text);
    } catch (err) {
      expect((err as TemplateError).field).toBe(path);
      expect((err as TemplateError).message.startsWith(`${path}: `)).toBe(true);
    }
  });

  test('the error carries the line of the fault in a YAML file', () => {
    const text =
      'specificationVersion: jobtemplate-2023-09\nname: x\nsteps:\n  - name: A\n    script:\n      actions:\n        onRun:\n          command: echo\n          timeout: soon\n';
    expect(() => parseJobTemplate(text, { file: 'job.yaml' })).toThrow(
      'steps[0].script.actions.onRun.timeout: must be a whole number (got "soon") (job.yaml, line 9)',
    );
  });

  test('YAML that does not parse is refused at (root) with its line', () => {
    expect(() => parseJobTemplate('name: [x\nsteps: 1\n')).toThrow(/^\(root\): is not valid YAML or JSON/);
  });
});
