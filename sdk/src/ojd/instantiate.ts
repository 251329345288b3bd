/**
 * Turns a validated OJD job template and its job parameters into Spillway jobs: one job per
 * step, one frame per task (a chunk of a CHUNK[INT] parameter is one task). Each frame's
 * command is a POSIX shell script that runs the task as one OJD session on the node: job
 * and step environments entered in order (variables, embedded files, onEnter and its
 * `openjd_env:` lines), the task's embedded files and onRun (with its timeout), then the
 * environments exited in reverse order. Values known at submission are quoted by the one
 * `shellQuote`; values only the node knows (`Session.WorkingDirectory`, embedded files'
 * paths) are shell variables. Pure.
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '../errors';
import type { FrameSpec, JobSpec } from '../model/frames';
import { SUBMIT_LIMITS } from '../model/validate';
import { shellQuote } from '../template/shell';
import { resolveToShellWord, resolveToString, type Resolved, type Scope } from './format';
import { formatIntRangeExpr, parseIntRangeExpr } from './range';
import {
  checkParameterValue,
  combinationParams,
  parseCombination,
  TemplateError,
  type Action,
  type CombinationNode,
  type EmbeddedFile,
  type Environment,
  type FormatString,
  type JobTemplate,
  type StepTemplate,
  type TaskParameterDefinition,
} from './template';

/** Options of `instantiateJobTemplate`. */
export interface InstantiateOptions {
  /** Job parameter values by name (`--param NAME=VALUE`). @default each parameter's default */
  readonly parameters?: Readonly<Record<string, string | number>>;
  /** The owner of the jobs (the frame keys' `source`). */
  readonly source: string;
  /**
   * The jobs' id at their source; a template with several steps gets `<id>.<step index>`.
   * @default `ojd-` and a hash of the template and its parameter values, so submitting the same again adds nothing
   */
  readonly sourceJobId?: string;
  /** @default the service's default group */
  readonly capacityGroup?: string;
  /** @default 50 */
  readonly priority?: number;
  /** @default 0 */
  readonly maxRetries?: number;
  /** Output globs under `out/`. @default every file */
  readonly outputPatterns?: readonly string[];
}

/** One Spillway job made from one step. */
export interface TemplateJob {
  /** The step's name. */
  readonly step: string;
  readonly job: JobSpec;
  readonly frames: readonly FrameSpec[];
}

/** At most this many tasks per step. */
export const MAX_TASKS_PER_STEP = 100_000;

/** One task: each task parameter's value (a chunk's is a range expression) and its frame bounds. */
interface TaskPoint {
  readonly values: ReadonlyMap<string, string>;
  readonly frames?: { readonly start: number; readonly end: number; readonly step: number };
}

/**
 * The Spillway jobs of a template with these parameters. Throws `TemplateError` naming the
 * OJD path (or `parameters.NAME` for a parameter value) of the first fault.
 */
export function instantiateJobTemplate(template: JobTemplate, options: InstantiateOptions): TemplateJob[] {
  const params = resolveParameters(template, options.parameters ?? {});
  const jobScope: Scope = (name) => {
    const m = /^(Param|RawParam)\.(.+)$/.exec(name);
    const v = m ? params.get(m[2]!) : undefined;
    return v === undefined ? undefined : { value: v };
  };
  const name = resolveAt(template.name, jobScope);
  if (name.length > 128)
    throw new TemplateError('name', name, 'must be at most 128 characters once resolved');
  const baseId =
    options.sourceJobId ??
    `ojd-${createHash('sha256')
      .update(JSON.stringify({ template, parameters: [...params] }))
      .digest('hex')
      .slice(0, 16)}`;
  return template.steps.map((step, index) => {
    const tasks = expandStep(step, jobScope);
    const ids = taskIds(step, tasks);
    const frames = tasks.map((task, i): FrameSpec => {
      const command = taskScript(template, step, task, jobScope);
      if (command.length > SUBMIT_LIMITS.maxCommandLength) {
        throw new TemplateError(
          `${step.path}.script`,
          `${command.length} characters`,
          `makes a task command longer than ${SUBMIT_LIMITS.maxCommandLength} characters (embedded files and environments are part of every task's command); move large scripts into the job's assets`,
        );
      }
      return {
        sourceTaskId: ids[i]!,
        frameStart: task.frames?.start ?? i + 1,
        frameEnd: task.frames?.end ?? i + 1,
        ...(task.frames && task.frames.step !== 1 ? { frameStep: task.frames.step } : {}),
        command,
      };
    });
    const job: JobSpec = {
      source: options.source,
      sourceKind: 'client',
      sourceJobId: template.steps.length === 1 ? baseId : `${baseId}.${index}`,
      name: template.steps.length === 1 ? name : `${name} / ${step.name}`,
      commandTemplate: '',
      ...(options.capacityGroup ? { capacityGroup: options.capacityGroup } : {}),
      ...(options.priority !== undefined ? { priority: options.priority } : {}),
      ...(options.maxRetries !== undefined ? { maxRetries: options.maxRetries } : {}),
      ...(options.outputPatterns ? { outputPatterns: options.outputPatterns } : {}),
      ...(step.minGpus > 0 ? { gpus: step.minGpus } : {}),
      ...(maxTimeout(template, step) ? { frameTimeoutMs: maxTimeout(template, step)! * 1000 } : {}),
    };
    return { step: step.name, job, frames };
  });
}

/** The longest a task may take when every action has a timeout: their sum, plus a minute for the rest. */
function maxTimeout(template: JobTemplate, step: StepTemplate): number | undefined {
  const actions: (Action | undefined)[] = [step.onRun];
  for (const env of [...template.jobEnvironments, ...step.stepEnvironments])
    actions.push(env.onEnter, env.onExit);
  let total = 0;
  for (const a of actions) {
    if (!a) continue;
    if (a.timeout === undefined) return undefined;
    total +=
      a.timeout +
      (a.cancelation.mode === 'NOTIFY_THEN_TERMINATE' ? (a.cancelation.notifyPeriodInSeconds ?? 30) : 0);
  }
  return total + 60;
}

function resolveAt(f: FormatString, scope: Scope): string {
  try {
    return resolveToString(f.segments, scope);
  } catch (err) {
    throw new TemplateError(f.path, f.raw, (err as Error).message);
  }
}

function wordAt(f: FormatString, scope: Scope): string {
  try {
    return resolveToShellWord(f.segments, scope);
  } catch (err) {
    throw new TemplateError(f.path, f.raw, (err as Error).message);
  }
}

/** Each job parameter's value: given, else its default; checked against its definition. */
function resolveParameters(
  template: JobTemplate,
  given: Readonly<Record<string, string | number>>,
): Map<string, string> {
  const defined = template.parameterDefinitions;
  for (const key of Object.keys(given)) {
    if (!defined.some((d) => d.name === key)) {
      const names = defined.map((d) => d.name).join(', ') || 'none';
      throw new ValidationError(
        `parameters.${key}`,
        given[key],
        `the template defines no parameter ${JSON.stringify(key)} (it defines: ${names})`,
      );
    }
  }
  const out = new Map<string, string>();
  for (const def of defined) {
    const raw = given[def.name];
    const value = raw === undefined ? def.default : String(raw);
    if (value === undefined) {
      throw new ValidationError(
        `parameters.${def.name}`,
        undefined,
        `has no value and ${def.path} has no default; give it (spillway submit --param ${def.name}=VALUE)`,
      );
    }
    const problem = checkParameterValue(def, value);
    if (problem)
      throw new ValidationError(
        `parameters.${def.name}`,
        value,
        `${problem} (${def.path}, type ${def.type})`,
      );
    out.set(def.name, def.type === 'INT' ? String(Number(value)) : value);
  }
  return out;
}

/** The tasks of a step, in the order its combination expression defines. */
function expandStep(step: StepTemplate, jobScope: Scope): TaskPoint[] {
  if (step.taskParameters.length === 0) return [{ values: new Map() }];
  const valuesOf = new Map<string, TaskPoint[]>();
  for (const def of step.taskParameters) valuesOf.set(def.name, parameterPoints(def, jobScope));
  const node: CombinationNode = step.combination
    ? parseCombination(step.combination)
    : {
        kind: 'product',
        factors: step.taskParameters.map((p) => ({ kind: 'param' as const, name: p.name })),
      };
  const where =
    step.combination !== undefined
      ? `${step.path}.parameterSpace.combination`
      : `${step.path}.parameterSpace`;
  const expand = (n: CombinationNode): TaskPoint[] => {
    if (n.kind === 'param') return valuesOf.get(n.name)!;
    if (n.kind === 'product') {
      return n.factors.map(expand).reduce((acc, next) => {
        if (acc.length * next.length > MAX_TASKS_PER_STEP) {
          throw new TemplateError(where, step.combination, `makes more than ${MAX_TASKS_PER_STEP} tasks`);
        }
        return acc.flatMap((a) => next.map((b) => merge(a, b)));
      });
    }
    const parts = n.parts.map(expand);
    const lengths = parts.map((p) => p.length);
    if (lengths.some((l) => l !== lengths[0])) {
      const named = n.parts.map((p, i) => `(${combinationParams(p).join(', ')}): ${lengths[i]}`).join('; ');
      throw new TemplateError(
        where,
        step.combination,
        `associates ranges of different lengths (${named}); each side of ( , ) must have as many values`,
      );
    }
    return parts[0]!.map((_, i) => parts.map((p) => p[i]!).reduce(merge));
  };
  return expand(node);
}

function merge(a: TaskPoint, b: TaskPoint): TaskPoint {
  return {
    values: new Map([...a.values, ...b.values]),
    ...((a.frames ?? b.frames) ? { frames: a.frames ?? b.frames! } : {}),
  };
}

const FRAME_NAME = /^frames?$/i;

/** One task parameter's values (a CHUNK[INT]'s chunks), each as a point of its own. */
function parameterPoints(def: TaskParameterDefinition, jobScope: Scope): TaskPoint[] {
  const isInt = def.type === 'INT' || def.type === 'CHUNK[INT]';
  let values: string[];
  if (!Array.isArray(def.range)) {
    const f = def.range as FormatString;
    const expr = resolveAt(f, jobScope);
    try {
      values = parseIntRangeExpr(expr).map(String);
    } catch (err) {
      throw new TemplateError(f.path, expr, (err as Error).message);
    }
  } else {
    values = (def.range as readonly FormatString[]).map((f) => {
      const v = resolveAt(f, jobScope);
      if (isInt && !/^\s*[+-]?\d+\s*$/.test(v)) throw new TemplateError(f.path, v, 'must be a whole number');
      if (def.type === 'FLOAT' && (v.trim() === '' || !Number.isFinite(Number(v))))
        throw new TemplateError(f.path, v, 'must be a number');
      if (v.length === 0 || v.length > 1024)
        throw new TemplateError(f.path, v, 'must be 1-1024 characters once resolved');
      return isInt ? String(Number(v)) : v;
    });
    if (values.length > 1024)
      throw new TemplateError(
        `${def.path}.range`,
        `${values.length} values`,
        'must hold at most 1024 values',
      );
  }
  if (def.type !== 'CHUNK[INT]') {
    return values.map((v) => ({
      values: new Map([[def.name, v]]),
      ...(def.type === 'INT' && FRAME_NAME.test(def.name)
        ? { frames: { start: Number(v), end: Number(v), step: 1 } }
        : {}),
    }));
  }
  const chunks = def.chunks!;
  const countText = resolveAt(chunks.defaultTaskCount, jobScope);
  const count = /^\s*\d+\s*$/.test(countText) ? Number(countText) : NaN;
  if (!(count >= 1))
    throw new TemplateError(chunks.defaultTaskCount.path, countText, 'must be a whole number of at least 1');
  if (chunks.targetRuntimeSeconds) {
    const t = resolveAt(chunks.targetRuntimeSeconds, jobScope);
    if (!/^\s*\d+\s*$/.test(t))
      throw new TemplateError(chunks.targetRuntimeSeconds.path, t, 'must be a whole number >= 0');
  }
  const sorted = [...new Set(values.map(Number))].sort((a, b) => a - b);
  return chunkValues(sorted, count, chunks.rangeConstraint).map((chunk) => {
    const start = chunk[0]!;
    const end = chunk[chunk.length - 1]!;
    const step = chunk.length > 1 ? chunk[1]! - start : 1;
    const arithmetic = chunk.every((v, i) => v === start + i * step);
    return {
      values: new Map([
        [def.name, chunks.rangeConstraint === 'CONTIGUOUS' ? `${start}-${end}` : formatIntRangeExpr(chunk)],
      ]),
      // A chunk that is not one arithmetic run still spans start-end (the frame's bounds are informational).
      frames: { start, end, step: arithmetic ? step : 1 },
    };
  });
}

/**
 * Chunks of at most `size` values, in order. CONTIGUOUS chunks are runs of consecutive
 * integers (a gap starts a new chunk); NONCONTIGUOUS chunks take the next `size` values.
 */
export function chunkValues(
  sorted: readonly number[],
  size: number,
  constraint: 'CONTIGUOUS' | 'NONCONTIGUOUS',
): number[][] {
  const chunks: number[][] = [];
  let current: number[] = [];
  for (const v of sorted) {
    const gap = current.length > 0 && v !== current[current.length - 1]! + 1;
    if (current.length >= size || (constraint === 'CONTIGUOUS' && gap)) {
      chunks.push(current);
      current = [];
    }
    current.push(v);
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** Task ids: the task's parameter values (`Frame=1-10 Camera=left`), unique within the step. */
function taskIds(step: StepTemplate, tasks: readonly TaskPoint[]): string[] {
  const described = tasks.map((t, i) => {
    const text = step.taskParameters.map((p) => `${p.name}=${t.values.get(p.name)}`).join(' ');
    return text === '' || text.length > 200 || /[\0\n\r]/.test(text) ? `task-${i + 1}` : text;
  });
  const counts = new Map<string, number>();
  for (const d of described) counts.set(d, (counts.get(d) ?? 0) + 1);
  return described.map((d, i) => ((counts.get(d) ?? 0) > 1 ? `${d} #${i + 1}` : d));
}

/** Shell variable of an embedded file's path. */
function fileVariable(scope: string, name: string): string {
  return `OJD_${scope}_FILE_${name}`;
}

const SESSION: Readonly<Record<string, Resolved>> = {
  'Session.WorkingDirectory': { shellVariable: 'OJD_SESSION' },
  'Session.HasPathMappingRules': { value: 'false' },
  'Session.PathMappingRulesFile': { shellVariable: 'OJD_PATH_MAPPING' },
};

/** The shell command that runs one task as an OJD session. */
function taskScript(template: JobTemplate, step: StepTemplate, task: TaskPoint, jobScope: Scope): string {
  const envs = [...template.jobEnvironments, ...step.stepEnvironments];
  const lines: string[] = [
    'OJD_SESSION="$PWD"; OJD_DIR="$OJD_SESSION/.openjd"; OJD_PATH_MAPPING="$OJD_DIR/path-mapping.json"; OJD_ENTERED=0; OJD_STATUS=0',
    `mkdir -p "$OJD_DIR" && printf '{}' > "$OJD_PATH_MAPPING" || exit 1`,
    // `openjd_env: NAME=VALUE` and `openjd_unset_env: NAME` lines of an onEnter's output.
    'ojd_apply() { while IFS= read -r OJD_LINE || [ -n "$OJD_LINE" ]; do case "$OJD_LINE" in' +
      ' "openjd_env: "*=*) OJD_KV="${OJD_LINE#openjd_env: }"; case "${OJD_KV%%=*}" in ""|[0-9]*|*[!A-Za-z0-9_]*) echo "openjd: ignored, not NAME=VALUE: $OJD_LINE";; *) export "$OJD_KV";; esac;;' +
      ' "openjd_unset_env: "*) OJD_K="${OJD_LINE#openjd_unset_env: }"; case "$OJD_K" in ""|[0-9]*|*[!A-Za-z0-9_]*) echo "openjd: ignored, not a NAME: $OJD_LINE";; *) unset "$OJD_K";; esac;;' +
      ' esac; done < "$1"; }',
  ];
  const envScope =
    (k: number, env: Environment): Scope =>
    (name) => {
      if (SESSION[name]) return SESSION[name];
      if (name.startsWith('Env.File.')) {
        const f = env.embeddedFiles.find((x) => x.name === name.slice('Env.File.'.length));
        return f ? { shellVariable: fileVariable(`ENV${k}`, f.name) } : undefined;
      }
      return jobScope(name);
    };
  const exits: string[] = [];
  envs.forEach((env, k) => {
    const scope = envScope(k, env);
    const label = shellQuote(env.name);
    lines.push(`echo "openjd: entering environment "${label}`);
    for (const v of env.variables) lines.push(`export ${v.name}=${wordAt(v.value, scope)}`);
    lines.push(...writeFiles(env.embeddedFiles, `ENV${k}`, `env${k}`, scope));
    if (env.onEnter) {
      const out = `"$OJD_DIR/env${k}.out"`;
      lines.push(
        `${actionLine(env.onEnter, scope)} > ${out} 2>&1; OJD_RC=$?; cat ${out}`,
        `if [ "$OJD_RC" -ne 0 ]; then echo "openjd: environment "${label}" onEnter failed (exit code $OJD_RC)${timeoutNote(env.onEnter)}"; ojd_exit; exit "$OJD_RC"; fi`,
        `ojd_apply ${out}`,
      );
    }
    lines.push(`OJD_ENTERED=${k + 1}`);
    if (env.onExit) {
      exits.unshift(
        `if [ "$OJD_ENTERED" -ge ${k + 1} ]; then echo "openjd: exiting environment "${label}; ${actionLine(env.onExit, scope)}; OJD_RC=$?; ` +
          `if [ "$OJD_RC" -ne 0 ]; then echo "openjd: environment "${label}" onExit failed (exit code $OJD_RC)"; [ "$OJD_STATUS" -eq 0 ] && OJD_STATUS=$OJD_RC; fi; fi`,
      );
    }
  });
  // Defined before any environment is entered (a failing onEnter exits the ones before it).
  lines.splice(3, 0, `ojd_exit() { ${exits.length > 0 ? exits.join('; ') : ':'}; }`);
  const taskScope: Scope = (name) => {
    if (SESSION[name]) return SESSION[name];
    const m = /^Task\.(Param|RawParam|File)\.(.+)$/.exec(name);
    if (m && m[1] === 'File') {
      return step.embeddedFiles.some((f) => f.name === m[2])
        ? { shellVariable: fileVariable('TASK', m[2]!) }
        : undefined;
    }
    if (m) {
      const v = task.values.get(m[2]!);
      return v === undefined ? undefined : { value: v };
    }
    return jobScope(name);
  };
  lines.push(...writeFiles(step.embeddedFiles, 'TASK', 'task', taskScope));
  const described = step.taskParameters.map((p) => `${p.name}=${task.values.get(p.name)}`).join(' ');
  lines.push(
    `echo "openjd: running step "${shellQuote(step.name)}${described ? `" task "${shellQuote(described)}` : ''}`,
    `${actionLine(step.onRun, taskScope)}; OJD_STATUS=$?`,
    `if [ "$OJD_STATUS" -ne 0 ]; then echo "openjd: onRun failed (exit code $OJD_STATUS)${timeoutNote(step.onRun)}"; fi`,
    'ojd_exit',
    'exit "$OJD_STATUS"',
  );
  return lines.join('\n');
}

/** Writes embedded files where their variables say, read-only to the task's user (executable when runnable). */
function writeFiles(files: readonly EmbeddedFile[], scope: string, prefix: string, resolve: Scope): string[] {
  return files.map((f) => {
    const variable = fileVariable(scope, f.name);
    const fileName = shellQuote(`${prefix}-${f.filename ?? f.name}`);
    return (
      `${variable}="$OJD_DIR/"${fileName}; rm -f "$${variable}"; printf '%s' ${wordAt(f.data, resolve)} > "$${variable}" && ` +
      `chmod ${f.runnable ? '500' : '400'} "$${variable}" || exit 1`
    );
  });
}

/** The command line of an action: its command and arguments as words, under `timeout` when it has one. */
function actionLine(action: Action, scope: Scope): string {
  const words = [wordAt(action.command, scope), ...action.args.map((a) => wordAt(a, scope))];
  if (action.timeout === undefined) return words.join(' ');
  const limit =
    action.cancelation.mode === 'NOTIFY_THEN_TERMINATE'
      ? `timeout -k ${action.cancelation.notifyPeriodInSeconds ?? 30} ${action.timeout}`
      : `timeout -s KILL ${action.timeout}`;
  return `${limit} ${words.join(' ')}`;
}

function timeoutNote(action: Action): string {
  return action.timeout === undefined
    ? ''
    : `; 124 or 137 means it ran past its timeout of ${action.timeout} s`;
}
