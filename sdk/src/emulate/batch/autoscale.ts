/**
 * Azure Batch autoscale formulas: the part of the language pools are scaled with in
 * practice, parsed and evaluated as pure functions. Statements `name = expression;`
 * assign Batch's variables (`$TargetDedicatedNodes`, `$TargetLowPriorityNodes`,
 * `$NodeDeallocationOption`) or the formula's own; expressions have numbers, `+ - * / %`,
 * comparisons, `&& || !`, `c ? a : b`, the `TimeInterval_*` constants, the functions
 * `min max avg sum count len round floor ceil abs`, and the system variables' sample
 * methods (`$PendingTasks.GetSample(TimeInterval_Minute * 5)`). A local pool has one
 * sample per metric, the current value, so a sample vector holds just that and
 * `GetSamplePercent` is 100.
 */

/** What a formula reads: the pool's current counts. */
export interface AutoScaleInputs {
  readonly activeTasks: number;
  readonly runningTasks: number;
  readonly succeededTasks: number;
  readonly failedTasks: number;
  readonly currentDedicatedNodes: number;
  readonly currentLowPriorityNodes: number;
  readonly preemptedNodes: number;
  readonly targetDedicatedNodes: number;
  readonly targetLowPriorityNodes: number;
  readonly taskSlotsPerNode: number;
}

/** Outcome of one evaluation, as Batch reports it in `autoScaleRun`. */
export interface AutoScaleOutcome {
  /** The new targets (whole, not negative). */
  readonly targetDedicatedNodes: number;
  readonly targetLowPriorityNodes: number;
  readonly nodeDeallocationOption: 'requeue' | 'terminate' | 'taskcompletion' | 'retaineddata';
  /** Every variable's final value, `$Name=value;` each, as Batch's `results`. */
  readonly results: string;
}

/** A formula that cannot be parsed (Batch: 400 `AutoScalingFormulaSyntaxError`). */
export class AutoScaleSyntaxError extends Error {}
/** A formula that parsed but failed to evaluate (reported in `autoScaleRun.error`). */
export class AutoScaleEvaluationError extends Error {}

/** Batch's limit on a formula's length. */
export const MAX_FORMULA_LENGTH = 8192;

type Value = number | string | number[];

type Node =
  | { k: 'num'; v: number }
  | { k: 'var'; name: string }
  | { k: 'un'; op: string; e: Node }
  | { k: 'bin'; op: string; a: Node; b: Node }
  | { k: 'tern'; c: Node; a: Node; b: Node }
  | { k: 'call'; fn: string; args: Node[] }
  | { k: 'method'; target: Node; name: string; args: Node[] };

interface Statement {
  readonly name: string;
  readonly expr: Node;
}

const TOKEN =
  /\s*(?:(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)|(\$?[A-Za-z_][A-Za-z0-9_]*)|(==|!=|<=|>=|&&|\|\||[-+*/%<>!?:=();,.]))/y;

function tokenize(text: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  let at = 0;
  const src = text.replace(/\/\/[^\n]*/g, ' ');
  while (at < src.length) {
    if (/^\s*$/.test(src.slice(at))) break;
    TOKEN.lastIndex = at;
    const m = TOKEN.exec(src);
    if (!m) throw new AutoScaleSyntaxError(`unexpected character ${JSON.stringify(src.slice(at).trim()[0])}`);
    out.push(m[1] ?? m[2] ?? m[3]!);
    at = TOKEN.lastIndex;
  }
  return out;
}

/** Parses a formula into statements; throws {@link AutoScaleSyntaxError} naming what is wrong. */
export function parseFormula(formula: string): readonly Statement[] {
  if (formula.length > MAX_FORMULA_LENGTH)
    throw new AutoScaleSyntaxError(`the formula is longer than ${MAX_FORMULA_LENGTH} characters`);
  const t = tokenize(formula);
  let i = 0;
  const peek = (): string | undefined => t[i];
  const take = (want?: string): string => {
    const tok = t[i];
    if (tok === undefined)
      throw new AutoScaleSyntaxError(`unexpected end of formula${want ? `, expected "${want}"` : ''}`);
    if (want !== undefined && tok !== want)
      throw new AutoScaleSyntaxError(`expected "${want}" but found "${tok}"`);
    i++;
    return tok;
  };
  const isName = (tok: string | undefined): boolean => tok !== undefined && /^\$?[A-Za-z_]/.test(tok);
  const args = (): Node[] => {
    take('(');
    const list: Node[] = [];
    if (peek() !== ')') {
      list.push(expr());
      while (peek() === ',') {
        take(',');
        list.push(expr());
      }
    }
    take(')');
    return list;
  };
  const primary = (): Node => {
    const tok = take();
    if (/^[\d.]/.test(tok)) return { k: 'num', v: Number(tok) };
    if (tok === '(') {
      const e = expr();
      take(')');
      return e;
    }
    if (isName(tok)) {
      if (!tok.startsWith('$') && peek() === '(') return { k: 'call', fn: tok.toLowerCase(), args: args() };
      return { k: 'var', name: tok };
    }
    throw new AutoScaleSyntaxError(`unexpected "${tok}"`);
  };
  const postfix = (): Node => {
    let e = primary();
    while (peek() === '.') {
      take('.');
      const name = take();
      if (!isName(name))
        throw new AutoScaleSyntaxError(`expected a method name after "." but found "${name}"`);
      e = { k: 'method', target: e, name, args: args() };
    }
    return e;
  };
  const unary = (): Node => {
    const tok = peek();
    if (tok === '-' || tok === '!' || tok === '+') {
      take();
      return { k: 'un', op: tok, e: unary() };
    }
    return postfix();
  };
  const level = (ops: readonly string[], next: () => Node) => (): Node => {
    let a = next();
    while (ops.includes(peek() ?? '')) {
      const op = take();
      a = { k: 'bin', op, a, b: next() };
    }
    return a;
  };
  const mul = level(['*', '/', '%'], unary);
  const add = level(['+', '-'], mul);
  const cmp = level(['<', '<=', '>', '>=', '==', '!='], add);
  const and = level(['&&'], cmp);
  const or = level(['||'], and);
  function expr(): Node {
    const c = or();
    if (peek() !== '?') return c;
    take('?');
    const a = expr();
    take(':');
    return { k: 'tern', c, a, b: expr() };
  }
  const statements: Statement[] = [];
  while (i < t.length) {
    if (peek() === ';') {
      take();
      continue;
    }
    const name = take();
    if (!isName(name))
      throw new AutoScaleSyntaxError(`a statement must start with a variable, found "${name}"`);
    take('=');
    statements.push({ name, expr: expr() });
    if (i < t.length) take(';');
  }
  return statements;
}

const MS = { Millisecond: 1, Second: 1000, Minute: 60_000, Hour: 3_600_000, Day: 86_400_000 };
const CONSTANTS: Readonly<Record<string, number>> = {
  TimeInterval_Zero: 0,
  TimeInterval_Millisecond: MS.Millisecond,
  TimeInterval_Second: MS.Second,
  TimeInterval_Minute: MS.Minute,
  TimeInterval_Hour: MS.Hour,
  TimeInterval_Day: MS.Day,
  TimeInterval_Week: 7 * MS.Day,
};
const DEALLOCATION = new Set(['requeue', 'terminate', 'taskcompletion', 'retaineddata']);
const ASSIGNABLE = new Set(['$TargetDedicatedNodes', '$TargetLowPriorityNodes', '$NodeDeallocationOption']);

function systemVariables(inputs: AutoScaleInputs): Record<string, number> {
  return {
    $ActiveTasks: inputs.activeTasks,
    $RunningTasks: inputs.runningTasks,
    $PendingTasks: inputs.activeTasks + inputs.runningTasks,
    $SucceededTasks: inputs.succeededTasks,
    $FailedTasks: inputs.failedTasks,
    $CurrentDedicatedNodes: inputs.currentDedicatedNodes,
    $CurrentLowPriorityNodes: inputs.currentLowPriorityNodes,
    $PreemptedNodeCount: inputs.preemptedNodes,
    $UsableNodeCount: inputs.currentDedicatedNodes + inputs.currentLowPriorityNodes,
    $TaskSlotsPerNode: inputs.taskSlotsPerNode,
    $TargetDedicatedNodes: inputs.targetDedicatedNodes,
    $TargetLowPriorityNodes: inputs.targetLowPriorityNodes,
  };
}

function flat(values: readonly Value[]): number[] {
  const out: number[] = [];
  for (const v of values) {
    if (typeof v === 'string') throw new AutoScaleEvaluationError(`"${v}" is not a number`);
    if (Array.isArray(v)) out.push(...v);
    else out.push(v);
  }
  return out;
}

function num(v: Value, what: string): number {
  if (typeof v === 'number') return v;
  if (Array.isArray(v) && v.length === 1) return v[0]!;
  throw new AutoScaleEvaluationError(`${what} must be a single number`);
}

const FUNCTIONS: Readonly<Record<string, (args: Value[]) => Value>> = {
  min: (a) => Math.min(...nonEmpty(flat(a), 'min')),
  max: (a) => Math.max(...nonEmpty(flat(a), 'max')),
  sum: (a) => flat(a).reduce((s, x) => s + x, 0),
  avg: (a) => {
    const v = nonEmpty(flat(a), 'avg');
    return v.reduce((s, x) => s + x, 0) / v.length;
  },
  count: (a) => flat(a).length,
  len: (a) => flat(a).length,
  round: (a) => Math.round(num(one(a, 'round'), 'round()')),
  floor: (a) => Math.floor(num(one(a, 'floor'), 'floor()')),
  ceil: (a) => Math.ceil(num(one(a, 'ceil'), 'ceil()')),
  abs: (a) => Math.abs(num(one(a, 'abs'), 'abs()')),
};

function nonEmpty(v: number[], fn: string): number[] {
  if (v.length === 0) throw new AutoScaleEvaluationError(`${fn}() of nothing`);
  return v;
}

function one(args: Value[], fn: string): Value {
  if (args.length !== 1) throw new AutoScaleEvaluationError(`${fn}() takes one argument, got ${args.length}`);
  return args[0]!;
}

/**
 * Evaluates a formula against the pool's counts. Targets are rounded down and at least 0;
 * `$NodeDeallocationOption` defaults to `requeue`. Throws {@link AutoScaleSyntaxError} or
 * {@link AutoScaleEvaluationError}.
 */
export function evaluateFormula(formula: string, inputs: AutoScaleInputs): AutoScaleOutcome {
  const statements = parseFormula(formula);
  const system = systemVariables(inputs);
  const vars = new Map<string, Value>();
  const evaluate = (n: Node): Value => {
    switch (n.k) {
      case 'num':
        return n.v;
      case 'var': {
        if (vars.has(n.name)) return vars.get(n.name)!;
        if (n.name in system) return system[n.name]!;
        if (n.name in CONSTANTS) return CONSTANTS[n.name]!;
        if (DEALLOCATION.has(n.name.toLowerCase())) return n.name.toLowerCase();
        throw new AutoScaleEvaluationError(`"${n.name}" is not defined`);
      }
      case 'un': {
        const v = num(evaluate(n.e), `the operand of "${n.op}"`);
        return n.op === '-' ? -v : n.op === '!' ? Number(!v) : v;
      }
      case 'bin': {
        if (n.op === '&&') return Number(!!num(evaluate(n.a), '&&') && !!num(evaluate(n.b), '&&'));
        if (n.op === '||') return Number(!!num(evaluate(n.a), '||') || !!num(evaluate(n.b), '||'));
        const a = evaluate(n.a);
        const b = evaluate(n.b);
        if ((n.op === '==' || n.op === '!=') && (typeof a === 'string' || typeof b === 'string'))
          return Number((a === b) === (n.op === '=='));
        const x = num(a, `the left side of "${n.op}"`);
        const y = num(b, `the right side of "${n.op}"`);
        switch (n.op) {
          case '+':
            return x + y;
          case '-':
            return x - y;
          case '*':
            return x * y;
          case '/':
            if (y === 0) throw new AutoScaleEvaluationError('division by zero');
            return x / y;
          case '%':
            if (y === 0) throw new AutoScaleEvaluationError('division by zero');
            return x % y;
          case '<':
            return Number(x < y);
          case '<=':
            return Number(x <= y);
          case '>':
            return Number(x > y);
          case '>=':
            return Number(x >= y);
          case '==':
            return Number(x === y);
          default:
            return Number(x !== y);
        }
      }
      case 'tern':
        return num(evaluate(n.c), 'a condition') ? evaluate(n.a) : evaluate(n.b);
      case 'call': {
        const fn = FUNCTIONS[n.fn];
        if (!fn) throw new AutoScaleEvaluationError(`unknown function ${n.fn}()`);
        return fn(n.args.map(evaluate));
      }
      case 'method': {
        if (n.target.k !== 'var' || !(n.target.name in system))
          throw new AutoScaleEvaluationError(`.${n.name}() applies to a system variable only`);
        const current = system[n.target.name]!;
        n.args.forEach(evaluate);
        switch (n.name) {
          case 'GetSample':
            return [current];
          case 'GetSamplePercent':
            return 100;
          case 'Count':
            return 1;
          default:
            throw new AutoScaleEvaluationError(`unknown method ${n.target.name}.${n.name}()`);
        }
      }
    }
  };
  for (const s of statements) {
    if (s.name.startsWith('$') && !ASSIGNABLE.has(s.name))
      throw new AutoScaleEvaluationError(`${s.name} cannot be assigned`);
    vars.set(s.name, evaluate(s.expr));
  }
  const target = (name: string, current: number): number => {
    const v = vars.get(name);
    if (v === undefined) return current;
    const n = num(v, name);
    if (!Number.isFinite(n)) throw new AutoScaleEvaluationError(`${name} is not a finite number`);
    return Math.max(0, Math.floor(n));
  };
  const dedicated = target('$TargetDedicatedNodes', inputs.targetDedicatedNodes);
  const spot = target('$TargetLowPriorityNodes', inputs.targetLowPriorityNodes);
  const option = vars.get('$NodeDeallocationOption') ?? 'requeue';
  if (typeof option !== 'string' || !DEALLOCATION.has(option))
    throw new AutoScaleEvaluationError(
      `$NodeDeallocationOption must be one of ${[...DEALLOCATION].join(', ')}`,
    );
  const shown = new Map<string, Value>([
    ['$TargetDedicatedNodes', dedicated],
    ['$TargetLowPriorityNodes', spot],
    ['$NodeDeallocationOption', option],
  ]);
  for (const [k, v] of vars) if (!shown.has(k)) shown.set(k, v);
  const results = [...shown]
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : String(v)}`)
    .join(';');
  return {
    targetDedicatedNodes: dedicated,
    targetLowPriorityNodes: spot,
    nodeDeallocationOption: option as AutoScaleOutcome['nodeDeallocationOption'],
    results,
  };
}
