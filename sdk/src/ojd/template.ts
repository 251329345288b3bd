/**
 * Open Job Description job templates, specification 2023-09 (`jobtemplate-2023-09`): parsed
 * with `yaml` (YAML 1.2, which JSON is a subset of) and checked against the schema for what
 * Spillway runs. Every refusal is a `TemplateError` naming the OJD path of the fault
 * (`steps[0].parameterSpace.taskParameterDefinitions[1].range`) and its line.
 *
 * Supported: STRING, PATH, INT and FLOAT job parameters with their constraints; job and step
 * environments (variables, onEnter/onExit, embedded files); steps with INT, FLOAT, STRING,
 * PATH and (extension TASK_CHUNKING) CHUNK[INT] task parameters, combination expressions,
 * onRun with timeout and cancelation, embedded TEXT files; host requirements on GPUs, OS and
 * CPU architecture. Refused, clearly: other extensions (EXPR, FEATURE_BUNDLE_1, ...), step
 * dependencies (Spillway runs each step as its own job), other host capabilities, and
 * environment templates.
 */
import { LineCounter, parseDocument, type Document } from 'yaml';
import { quote, ValidationError } from '../errors';
import { parseFormatString, referencesOf, type FormatSegment } from './format';
import { parseIntRangeExpr } from './range';

/** The `specificationVersion` of the job templates this module reads. */
export const JOB_TEMPLATE_VERSION = 'jobtemplate-2023-09';

/** Extensions Spillway implements. */
export const SUPPORTED_EXTENSIONS: readonly string[] = ['TASK_CHUNKING'];

/** A template is not one Spillway can run: names the OJD path of the fault. */
export class TemplateError extends ValidationError {
  constructor(
    /** OJD path, e.g. `steps[0].script.actions.onRun.command`; `(root)` for the document. */
    path: string,
    value: unknown,
    reason: string,
    /** 1-based line in the template file, when known. */
    readonly line?: number,
    /** The template file, when known. */
    readonly file?: string,
  ) {
    super(path, value, reason);
    const where = line !== undefined ? ` (${file ? `${file}, ` : ''}line ${line})` : file ? ` (${file})` : '';
    this.message = `${path}: ${reason}${value === undefined ? '' : ` (got ${quote(value)})`}${where}`;
  }
}

/** A format string as written, with its parsed segments. */
export interface FormatString {
  readonly raw: string;
  readonly segments: readonly FormatSegment[];
  /** OJD path, for errors while resolving it. */
  readonly path: string;
}

/** A job parameter definition. */
export interface JobParameterDefinition {
  readonly name: string;
  readonly type: 'STRING' | 'PATH' | 'INT' | 'FLOAT';
  readonly default?: string;
  readonly allowedValues?: readonly string[];
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minValue?: number;
  readonly maxValue?: number;
  readonly path: string;
}

/** An action: a command run on the node. */
export interface Action {
  readonly command: FormatString;
  readonly args: readonly FormatString[];
  /** Seconds. @default none */
  readonly timeout?: number;
  /** How a timed-out action is stopped. @default TERMINATE */
  readonly cancelation:
    | { readonly mode: 'TERMINATE' }
    | { readonly mode: 'NOTIFY_THEN_TERMINATE'; readonly notifyPeriodInSeconds?: number };
  readonly path: string;
}

/** An embedded TEXT file. */
export interface EmbeddedFile {
  readonly name: string;
  readonly filename?: string;
  readonly runnable: boolean;
  readonly data: FormatString;
  readonly path: string;
}

/** An environment, of the job or of a step. */
export interface Environment {
  readonly name: string;
  readonly variables: readonly { readonly name: string; readonly value: FormatString }[];
  readonly onEnter?: Action;
  readonly onExit?: Action;
  readonly embeddedFiles: readonly EmbeddedFile[];
  readonly path: string;
}

/** A task parameter of a step. */
export interface TaskParameterDefinition {
  readonly name: string;
  readonly type: 'INT' | 'FLOAT' | 'STRING' | 'PATH' | 'CHUNK[INT]';
  /** A range expression (INT, CHUNK[INT]) or a list. */
  readonly range: FormatString | readonly FormatString[];
  readonly chunks?: {
    readonly defaultTaskCount: FormatString;
    readonly targetRuntimeSeconds?: FormatString;
    readonly rangeConstraint: 'CONTIGUOUS' | 'NONCONTIGUOUS';
  };
  readonly path: string;
}

/** A step. */
export interface StepTemplate {
  readonly name: string;
  readonly stepEnvironments: readonly Environment[];
  /** GPUs a node must have (`amount.worker.gpu` min). @default 0 */
  readonly minGpus: number;
  readonly taskParameters: readonly TaskParameterDefinition[];
  readonly combination?: string;
  readonly onRun: Action;
  readonly embeddedFiles: readonly EmbeddedFile[];
  readonly path: string;
}

/** A validated job template. */
export interface JobTemplate {
  readonly name: FormatString;
  readonly description?: string;
  readonly extensions: readonly string[];
  readonly parameterDefinitions: readonly JobParameterDefinition[];
  readonly jobEnvironments: readonly Environment[];
  readonly steps: readonly StepTemplate[];
}

/** Options of `parseJobTemplate`. */
export interface ParseJobTemplateOptions {
  /** The file name, for error messages. @default none */
  readonly file?: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const ENV_VAR = /^[A-Za-z_][A-Za-z0-9_]{0,255}$/;
// eslint-disable-next-line no-control-regex -- OJD forbids the Cc category in names
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Parses and checks an OJD 2023-09 job template (YAML or JSON text). Throws `TemplateError`
 * naming the OJD path of the first fault.
 */
export function parseJobTemplate(text: string, options: ParseJobTemplateOptions = {}): JobTemplate {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line;
    throw new TemplateError(
      '(root)',
      undefined,
      `is not valid YAML or JSON: ${e.message.split('\n')[0]}`,
      line,
      options.file,
    );
  }
  const v = new Checker(doc, lines, options.file);
  return v.jobTemplate(doc.toJS() as Json);
}

/** Walks the parsed document, checking each field against the 2023-09 schema. */
class Checker {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly file: string | undefined,
  ) {}

  /** Throws a TemplateError at `path` with the line of that node. */
  fail(path: string, value: unknown, reason: string): never {
    throw new TemplateError(path === '' ? '(root)' : path, value, reason, this.lineOf(path), this.file);
  }

  private lineOf(path: string): number | undefined {
    const keys: (string | number)[] = [];
    for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g))
      keys.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
    for (let n = keys.length; n >= 0; n--) {
      const node = this.doc.getIn(keys.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) return this.lines.linePos(node.range[0]).line;
    }
    return undefined;
  }

  object(
    value: Json | undefined,
    path: string,
    allowed: readonly string[],
    required: readonly string[],
  ): Obj {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      this.fail(path, value, 'must be an object');
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) {
        this.fail(
          join(path, key),
          value[key],
          `is not a property here; expected one of ${allowed.join(', ')}`,
        );
      }
    }
    for (const key of required) if (!(key in value)) this.fail(join(path, key), undefined, 'is required');
    return value;
  }

  list(value: Json | undefined, path: string, min = 1, max = Infinity): Json[] {
    if (!Array.isArray(value)) this.fail(path, value, 'must be a list');
    if (value.length < min) this.fail(path, value, `must hold at least ${min} element(s)`);
    if (value.length > max) this.fail(path, `${value.length} elements`, `must hold at most ${max} elements`);
    return value;
  }

  string(
    value: Json | undefined,
    path: string,
    opts: { min?: number; max?: number; noControl?: boolean } = {},
  ): string {
    if (typeof value !== 'string') this.fail(path, value, 'must be a string');
    const min = opts.min ?? 1;
    if (value.length < min) this.fail(path, value, `must be at least ${min} character(s)`);
    if (opts.max !== undefined && value.length > opts.max)
      this.fail(path, `${value.length} characters`, `must be at most ${opts.max} characters`);
    if (opts.noControl && CONTROL.test(value))
      this.fail(path, value, 'must not hold control characters (newline, tab, ...)');
    return value;
  }

  identifier(value: Json | undefined, path: string): string {
    const s = this.string(value, path);
    if (!IDENTIFIER.test(s))
      this.fail(path, s, 'must be an identifier: 1-64 letters, digits and _, not starting with a digit');
    return s;
  }

  /** An integer given as a number or a base-10 string. */
  integer(value: Json | undefined, path: string): number {
    const n =
      typeof value === 'number'
        ? value
        : typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value)
          ? Number(value)
          : NaN;
    if (!Number.isSafeInteger(n)) this.fail(path, value, 'must be a whole number');
    return n;
  }

  /** A number given as a number or a base-10 string. */
  float(value: Json | undefined, path: string): number {
    const n =
      typeof value === 'number'
        ? value
        : typeof value === 'string' && value.trim() !== ''
          ? Number(value)
          : NaN;
    if (!Number.isFinite(n)) this.fail(path, value, 'must be a number');
    return n;
  }

  format(
    value: Json | undefined,
    path: string,
    opts: { min?: number; max?: number; noControl?: boolean } = {},
  ): FormatString {
    const raw = this.string(value, path, opts);
    try {
      return { raw, segments: parseFormatString(raw), path };
    } catch (err) {
      return this.fail(path, raw, (err as Error).message);
    }
  }

  /** Checks that every reference of `f` is one `known` accepts. */
  references(f: FormatString, known: (name: string) => boolean, where: string): void {
    for (const name of referencesOf(f.segments)) {
      if (!known(name)) this.fail(f.path, f.raw, `references {{${name}}}, which is not defined ${where}`);
    }
  }

  jobTemplate(root: Json): JobTemplate {
    const o = this.object(
      root,
      '',
      [
        'specificationVersion',
        '$schema',
        'extensions',
        'name',
        'description',
        'parameterDefinitions',
        'jobEnvironments',
        'steps',
      ],
      ['specificationVersion', 'name', 'steps'],
    );
    if (o.specificationVersion !== JOB_TEMPLATE_VERSION) {
      const hint =
        o.specificationVersion === 'environment-2023-09'
          ? '; this is an environment template, which Spillway does not take on its own'
          : '';
      this.fail('specificationVersion', o.specificationVersion, `must be "${JOB_TEMPLATE_VERSION}"${hint}`);
    }
    const extensions: string[] = [];
    if (o.extensions !== undefined) {
      this.list(o.extensions, 'extensions').forEach((e, i) => {
        const name = this.string(e, `extensions[${i}]`);
        if (!/^[A-Z_0-9]{3,128}$/.test(name))
          this.fail(`extensions[${i}]`, name, 'must match [A-Z_0-9]{3,128}');
        if (!SUPPORTED_EXTENSIONS.includes(name)) {
          this.fail(
            `extensions[${i}]`,
            name,
            `is an extension Spillway does not support (supported: ${SUPPORTED_EXTENSIONS.join(', ')})`,
          );
        }
        if (extensions.includes(name)) this.fail(`extensions[${i}]`, name, 'is listed twice');
        extensions.push(name);
      });
    }
    const name = this.format(o.name, 'name', { max: 128, noControl: true });
    const description =
      o.description === undefined ? undefined : this.string(o.description, 'description', { max: 2048 });
    const params: JobParameterDefinition[] = [];
    if (o.parameterDefinitions !== undefined) {
      this.list(o.parameterDefinitions, 'parameterDefinitions', 1, 50).forEach((p, i) => {
        const def = this.jobParameter(p, `parameterDefinitions[${i}]`);
        if (params.some((q) => q.name === def.name))
          this.fail(`parameterDefinitions[${i}].name`, def.name, 'is defined twice');
        params.push(def);
      });
    }
    const paramNames = new Set(params.map((p) => p.name));
    const jobParam = (n: string): boolean => {
      const m = /^(Param|RawParam)\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(n);
      return !!m && paramNames.has(m[2]!);
    };
    this.references(name, jobParam, 'for a job name (only Param.* and RawParam.* of defined parameters)');
    const extensionsOn = new Set(extensions);
    const jobEnvironments: Environment[] = [];
    if (o.jobEnvironments !== undefined) {
      this.list(o.jobEnvironments, 'jobEnvironments').forEach((e, i) => {
        const env = this.environment(e, `jobEnvironments[${i}]`, jobParam);
        if (jobEnvironments.some((x) => x.name === env.name))
          this.fail(`jobEnvironments[${i}].name`, env.name, 'is used by another job environment');
        jobEnvironments.push(env);
      });
    }
    const steps: StepTemplate[] = [];
    this.list(o.steps, 'steps').forEach((s, i) => {
      const step = this.step(s, `steps[${i}]`, jobParam, extensionsOn);
      if (steps.some((x) => x.name === step.name))
        this.fail(`steps[${i}].name`, step.name, 'is the name of another step');
      for (const [k, env] of step.stepEnvironments.entries()) {
        if (jobEnvironments.some((x) => x.name === env.name)) {
          this.fail(`steps[${i}].stepEnvironments[${k}].name`, env.name, 'is the name of a job environment');
        }
      }
      steps.push(step);
    });
    return {
      name,
      ...(description !== undefined ? { description } : {}),
      extensions,
      parameterDefinitions: params,
      jobEnvironments,
      steps,
    };
  }

  jobParameter(value: Json, path: string): JobParameterDefinition {
    const base = ['name', 'type', 'description', 'default', 'allowedValues', 'userInterface'];
    const t = (value as Obj | null)?.type;
    const allowed =
      t === 'STRING'
        ? [...base, 'minLength', 'maxLength']
        : t === 'PATH'
          ? [...base, 'minLength', 'maxLength', 'objectType', 'dataFlow']
          : t === 'INT' || t === 'FLOAT'
            ? [...base, 'minValue', 'maxValue']
            : [...base, 'minLength', 'maxLength', 'objectType', 'dataFlow', 'minValue', 'maxValue'];
    const o = this.object(value, path, allowed, ['name', 'type']);
    const name = this.identifier(o.name, `${path}.name`);
    if (o.type !== 'STRING' && o.type !== 'PATH' && o.type !== 'INT' && o.type !== 'FLOAT') {
      this.fail(
        `${path}.type`,
        o.type,
        'must be STRING, PATH, INT or FLOAT (other types need the EXPR extension, which Spillway does not support)',
      );
    }
    const type = o.type;
    const numeric = type === 'INT' || type === 'FLOAT';
    const scalar = (v: Json | undefined, at: string): string =>
      type === 'INT'
        ? String(this.integer(v, at))
        : type === 'FLOAT'
          ? String(this.float(v, at))
          : this.string(v, at, { min: 0, max: 1024 });
    const def: {
      -readonly [K in keyof JobParameterDefinition]: JobParameterDefinition[K];
    } = { name, type, path };
    if (o.allowedValues !== undefined) {
      def.allowedValues = this.list(o.allowedValues, `${path}.allowedValues`).map((v, i) =>
        scalar(v, `${path}.allowedValues[${i}]`),
      );
    }
    if (numeric) {
      const num = (v: Json | undefined, at: string): number =>
        type === 'INT' ? this.integer(v, at) : this.float(v, at);
      if (o.minValue !== undefined) def.minValue = num(o.minValue, `${path}.minValue`);
      if (o.maxValue !== undefined) def.maxValue = num(o.maxValue, `${path}.maxValue`);
      if (def.minValue !== undefined && def.maxValue !== undefined && def.minValue > def.maxValue) {
        this.fail(`${path}.maxValue`, def.maxValue, `must be at least minValue (${def.minValue})`);
      }
    } else {
      if (o.minLength !== undefined) def.minLength = this.integer(o.minLength, `${path}.minLength`);
      if (o.maxLength !== undefined) def.maxLength = this.integer(o.maxLength, `${path}.maxLength`);
      if (def.minLength !== undefined && def.maxLength !== undefined && def.minLength > def.maxLength) {
        this.fail(`${path}.maxLength`, def.maxLength, `must be at least minLength (${def.minLength})`);
      }
      if (type === 'PATH') {
        if (o.objectType !== undefined && o.objectType !== 'FILE' && o.objectType !== 'DIRECTORY')
          this.fail(`${path}.objectType`, o.objectType, 'must be FILE or DIRECTORY');
        if (o.dataFlow !== undefined && !['NONE', 'IN', 'OUT', 'INOUT'].includes(o.dataFlow as string))
          this.fail(`${path}.dataFlow`, o.dataFlow, 'must be NONE, IN, OUT or INOUT');
      }
    }
    if (o.description !== undefined) this.string(o.description, `${path}.description`, { max: 2048 });
    if (o.userInterface !== undefined)
      this.object(
        o.userInterface,
        `${path}.userInterface`,
        ['control', 'label', 'groupLabel', 'fileFilters', 'fileFilterDefault', 'singleStepDelta', 'decimals'],
        [],
      );
    if (o.default !== undefined) {
      def.default = scalar(o.default, `${path}.default`);
      const problem = checkParameterValue(def, def.default);
      if (problem) this.fail(`${path}.default`, o.default, problem);
    }
    return def;
  }

  environment(value: Json, path: string, jobParam: (n: string) => boolean): Environment {
    const o = this.object(value, path, ['name', 'description', 'script', 'variables'], ['name']);
    const name = this.string(o.name, `${path}.name`, { max: 64, noControl: true });
    if (o.description !== undefined) this.string(o.description, `${path}.description`, { max: 2048 });
    if (o.script === undefined && o.variables === undefined)
      this.fail(path, undefined, 'must have a script or variables (or both)');
    const variables: { name: string; value: FormatString }[] = [];
    let embeddedFiles: EmbeddedFile[] = [];
    if (o.script !== undefined) {
      const s = this.object(o.script, `${path}.script`, ['actions', 'embeddedFiles'], ['actions']);
      embeddedFiles = this.embeddedFiles(s.embeddedFiles, `${path}.script.embeddedFiles`);
    }
    const fileNames = new Set(embeddedFiles.map((f) => f.name));
    const known = (n: string): boolean =>
      jobParam(n) ||
      /^Session\.(WorkingDirectory|HasPathMappingRules|PathMappingRulesFile)$/.test(n) ||
      (n.startsWith('Env.File.') && fileNames.has(n.slice('Env.File.'.length)));
    const where = 'in an environment (Param.*, RawParam.*, Session.*, and Env.File.* of its embedded files)';
    if (o.variables !== undefined) {
      const vars = this.object(o.variables, `${path}.variables`, Object.keys(o.variables as Obj), []);
      for (const [k, v] of Object.entries(vars)) {
        if (!ENV_VAR.test(k))
          this.fail(
            `${path}.variables.${k}`,
            k,
            'must be an environment variable name: letters, digits and _, not starting with a digit',
          );
        const f = this.format(v, `${path}.variables.${k}`, { min: 0, max: 2048 });
        this.references(
          f,
          (n) => jobParam(n) || n.startsWith('Session.'),
          'for an environment variable (Param.*, RawParam.*, Session.*)',
        );
        variables.push({ name: k, value: f });
      }
    }
    let onEnter: Action | undefined;
    let onExit: Action | undefined;
    if (o.script !== undefined) {
      const a = this.object((o.script as Obj).actions, `${path}.script.actions`, ['onEnter', 'onExit'], []);
      if (a.onEnter === undefined && a.onExit === undefined)
        this.fail(`${path}.script.actions`, a, 'must have onEnter or onExit');
      if (a.onEnter !== undefined)
        onEnter = this.action(a.onEnter, `${path}.script.actions.onEnter`, known, where);
      if (a.onExit !== undefined)
        onExit = this.action(a.onExit, `${path}.script.actions.onExit`, known, where);
      for (const f of embeddedFiles) this.references(f.data, known, where);
    }
    return {
      name,
      variables,
      ...(onEnter ? { onEnter } : {}),
      ...(onExit ? { onExit } : {}),
      embeddedFiles,
      path,
    };
  }

  embeddedFiles(value: Json | undefined, path: string): EmbeddedFile[] {
    if (value === undefined) return [];
    const files: EmbeddedFile[] = [];
    this.list(value, path).forEach((f, i) => {
      const at = `${path}[${i}]`;
      const o = this.object(
        f,
        at,
        ['name', 'type', 'filename', 'runnable', 'data'],
        ['name', 'type', 'data'],
      );
      const name = this.identifier(o.name, `${at}.name`);
      if (o.type !== 'TEXT') this.fail(`${at}.type`, o.type, 'must be TEXT');
      let filename: string | undefined;
      if (o.filename !== undefined) {
        filename = this.string(o.filename, `${at}.filename`, { max: 64 });
        if (/[/\\\0]/.test(filename) || filename === '.' || filename === '..')
          this.fail(`${at}.filename`, filename, 'must be a bare file name, with no directory');
      }
      if (o.runnable !== undefined && typeof o.runnable !== 'boolean')
        this.fail(`${at}.runnable`, o.runnable, 'must be true or false');
      if (files.some((x) => x.name === name))
        this.fail(`${at}.name`, name, 'names another embedded file of this script');
      files.push({
        name,
        ...(filename ? { filename } : {}),
        runnable: o.runnable === true,
        data: this.format(o.data, `${at}.data`),
        path: at,
      });
    });
    return files;
  }

  action(value: Json | undefined, path: string, known: (n: string) => boolean, where: string): Action {
    const o = this.object(value, path, ['command', 'args', 'timeout', 'cancelation'], ['command']);
    const command = this.format(o.command, `${path}.command`, { noControl: true });
    this.references(command, known, where);
    const args =
      o.args === undefined
        ? []
        : this.list(o.args, `${path}.args`, 0).map((a, i) => {
            const f = this.format(a, `${path}.args[${i}]`, { min: 0 });
            this.references(f, known, where);
            return f;
          });
    let timeout: number | undefined;
    if (o.timeout !== undefined) {
      timeout = this.integer(o.timeout, `${path}.timeout`);
      if (timeout < 1) this.fail(`${path}.timeout`, o.timeout, 'must be a positive number of seconds');
    }
    let cancelation: Action['cancelation'] = { mode: 'TERMINATE' };
    if (o.cancelation !== undefined) {
      const c = this.object(
        o.cancelation,
        `${path}.cancelation`,
        ['mode', 'notifyPeriodInSeconds'],
        ['mode'],
      );
      if (c.mode === 'TERMINATE') {
        if (c.notifyPeriodInSeconds !== undefined)
          this.fail(
            `${path}.cancelation.notifyPeriodInSeconds`,
            c.notifyPeriodInSeconds,
            'is only for mode NOTIFY_THEN_TERMINATE',
          );
      } else if (c.mode === 'NOTIFY_THEN_TERMINATE') {
        let notify: number | undefined;
        if (c.notifyPeriodInSeconds !== undefined) {
          notify = this.integer(c.notifyPeriodInSeconds, `${path}.cancelation.notifyPeriodInSeconds`);
          if (notify < 1 || notify > 600)
            this.fail(`${path}.cancelation.notifyPeriodInSeconds`, notify, 'must be from 1 to 600');
        }
        cancelation = {
          mode: 'NOTIFY_THEN_TERMINATE',
          ...(notify !== undefined ? { notifyPeriodInSeconds: notify } : {}),
        };
      } else this.fail(`${path}.cancelation.mode`, c.mode, 'must be TERMINATE or NOTIFY_THEN_TERMINATE');
    }
    return { command, args, ...(timeout !== undefined ? { timeout } : {}), cancelation, path };
  }

  step(
    value: Json,
    path: string,
    jobParam: (n: string) => boolean,
    extensions: ReadonlySet<string>,
  ): StepTemplate {
    const o = this.object(
      value,
      path,
      [
        'name',
        'description',
        'dependencies',
        'stepEnvironments',
        'hostRequirements',
        'parameterSpace',
        'script',
      ],
      ['name', 'script'],
    );
    const name = this.string(o.name, `${path}.name`, { max: 64, noControl: true });
    if (o.description !== undefined) this.string(o.description, `${path}.description`, { max: 2048 });
    if (o.dependencies !== undefined) {
      this.list(o.dependencies, `${path}.dependencies`);
      this.fail(
        `${path}.dependencies`,
        o.dependencies,
        'step dependencies are not supported: Spillway runs each step as a job of its own; submit dependent steps as separate templates, one after the other',
      );
    }
    const stepEnvironments: Environment[] = [];
    if (o.stepEnvironments !== undefined) {
      this.list(o.stepEnvironments, `${path}.stepEnvironments`).forEach((e, i) => {
        const env = this.environment(e, `${path}.stepEnvironments[${i}]`, jobParam);
        if (stepEnvironments.some((x) => x.name === env.name))
          this.fail(
            `${path}.stepEnvironments[${i}].name`,
            env.name,
            'is used by another environment of this step',
          );
        stepEnvironments.push(env);
      });
    }
    const minGpus =
      o.hostRequirements === undefined
        ? 0
        : this.hostRequirements(o.hostRequirements, `${path}.hostRequirements`);
    const taskParameters: TaskParameterDefinition[] = [];
    let combination: string | undefined;
    if (o.parameterSpace !== undefined) {
      const ps = this.object(
        o.parameterSpace,
        `${path}.parameterSpace`,
        ['taskParameterDefinitions', 'combination'],
        ['taskParameterDefinitions'],
      );
      this.list(
        ps.taskParameterDefinitions,
        `${path}.parameterSpace.taskParameterDefinitions`,
        1,
        16,
      ).forEach((t, i) => {
        const def = this.taskParameter(
          t,
          `${path}.parameterSpace.taskParameterDefinitions[${i}]`,
          jobParam,
          extensions,
        );
        if (taskParameters.some((x) => x.name === def.name))
          this.fail(`${def.path}.name`, def.name, 'is the name of another task parameter of this step');
        if (def.type === 'CHUNK[INT]' && taskParameters.some((x) => x.type === 'CHUNK[INT]'))
          this.fail(`${def.path}.type`, def.type, 'a step may have only one CHUNK[INT] parameter');
        taskParameters.push(def);
      });
      if (ps.combination !== undefined) {
        combination = this.string(ps.combination, `${path}.parameterSpace.combination`, { max: 1280 });
        try {
          checkCombination(combination, taskParameters);
        } catch (err) {
          this.fail(`${path}.parameterSpace.combination`, combination, (err as Error).message);
        }
      }
    }
    const s = this.object(o.script, `${path}.script`, ['actions', 'embeddedFiles'], ['actions']);
    const embeddedFiles = this.embeddedFiles(s.embeddedFiles, `${path}.script.embeddedFiles`);
    const taskNames = new Set(taskParameters.map((t) => t.name));
    const fileNames = new Set(embeddedFiles.map((f) => f.name));
    const known = (n: string): boolean => {
      if (jobParam(n) || /^Session\.(WorkingDirectory|HasPathMappingRules|PathMappingRulesFile)$/.test(n))
        return true;
      const m = /^Task\.(Param|RawParam|File)\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(n);
      return !!m && (m[1] === 'File' ? fileNames.has(m[2]!) : taskNames.has(m[2]!));
    };
    const where =
      'in this step script (Param.*, RawParam.*, Session.*, Task.Param.* and Task.RawParam.* of its task parameters, Task.File.* of its embedded files)';
    const actions = this.object(s.actions, `${path}.script.actions`, ['onRun'], ['onRun']);
    const onRun = this.action(actions.onRun, `${path}.script.actions.onRun`, known, where);
    for (const f of embeddedFiles) this.references(f.data, known, where);
    return {
      name,
      stepEnvironments,
      minGpus,
      taskParameters,
      ...(combination !== undefined ? { combination } : {}),
      onRun,
      embeddedFiles,
      path,
    };
  }

  /** GPUs the step needs; refuses requirements Spillway cannot meet or check. */
  hostRequirements(value: Json, path: string): number {
    const o = this.object(value, path, ['amounts', 'attributes'], []);
    if (o.amounts === undefined && o.attributes === undefined)
      this.fail(path, value, 'must have amounts or attributes');
    let gpus = 0;
    if (o.amounts !== undefined) {
      this.list(o.amounts, `${path}.amounts`, 1, 50).forEach((a, i) => {
        const at = `${path}.amounts[${i}]`;
        const r = this.object(a, at, ['name', 'min', 'max'], ['name']);
        const name = this.string(r.name, `${at}.name`, { max: 100 }).toLowerCase();
        if (!/^([A-Za-z_][A-Za-z0-9_]*:)?amount(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(name))
          this.fail(`${at}.name`, r.name, 'must be an amount capability such as amount.worker.gpu');
        if (r.min === undefined && r.max === undefined) this.fail(at, a, 'must have min or max');
        const min = r.min === undefined ? 0 : this.float(r.min, `${at}.min`);
        if (min < 0) this.fail(`${at}.min`, r.min, 'must be >= 0');
        if (r.max !== undefined && this.float(r.max, `${at}.max`) < min)
          this.fail(`${at}.max`, r.max, `must be at least min (${min})`);
        if (name === 'amount.worker.gpu') gpus = Math.max(gpus, Math.ceil(min));
        else if (
          ![
            'amount.worker.vcpu',
            'amount.worker.memory',
            'amount.worker.gpu.memory',
            'amount.worker.disk.scratch',
          ].includes(name)
        ) {
          this.fail(
            `${at}.name`,
            r.name,
            "is a capability Spillway cannot provide (supported: amount.worker.gpu, and amount.worker.vcpu, .memory, .gpu.memory, .disk.scratch, which the capacity group's VM size answers)",
          );
        }
      });
    }
    if (o.attributes !== undefined) {
      this.list(o.attributes, `${path}.attributes`, 1, 50).forEach((a, i) => {
        const at = `${path}.attributes[${i}]`;
        const r = this.object(a, at, ['name', 'anyOf', 'allOf'], ['name']);
        const name = this.string(r.name, `${at}.name`, { max: 100 }).toLowerCase();
        if (r.anyOf === undefined && r.allOf === undefined) this.fail(at, a, 'must have anyOf or allOf');
        const has: Record<string, string> = {
          'attr.worker.os.family': 'linux',
          'attr.worker.cpu.arch': 'x86_64',
        };
        if (!(name in has))
          this.fail(
            `${at}.name`,
            r.name,
            'is an attribute Spillway cannot provide (supported: attr.worker.os.family, attr.worker.cpu.arch)',
          );
        const mine = has[name]!;
        for (const key of ['anyOf', 'allOf'] as const) {
          if (r[key] === undefined) continue;
          const values = this.list(r[key], `${at}.${key}`, 1, 50).map((v, k) =>
            this.string(v, `${at}.${key}[${k}]`, { max: 100 }).toLowerCase(),
          );
          const ok = key === 'anyOf' ? values.includes(mine) : values.every((v) => v === mine);
          if (!ok)
            this.fail(
              `${at}.${key}`,
              r[key],
              `cannot be met: Spillway's nodes are ${name.endsWith('family') ? 'linux' : 'x86_64'}`,
            );
        }
      });
    }
    return gpus;
  }

  taskParameter(
    value: Json,
    path: string,
    jobParam: (n: string) => boolean,
    extensions: ReadonlySet<string>,
  ): TaskParameterDefinition {
    const t = (value as Obj | null)?.type;
    const o = this.object(
      value,
      path,
      t === 'CHUNK[INT]' ? ['name', 'type', 'range', 'chunks'] : ['name', 'type', 'range'],
      ['name', 'type', 'range'],
    );
    const name = this.identifier(o.name, `${path}.name`);
    if (!['INT', 'FLOAT', 'STRING', 'PATH', 'CHUNK[INT]'].includes(t as string)) {
      this.fail(`${path}.type`, t, 'must be INT, FLOAT, STRING, PATH or CHUNK[INT]');
    }
    const type = t as TaskParameterDefinition['type'];
    if (type === 'CHUNK[INT]' && !extensions.has('TASK_CHUNKING')) {
      this.fail(
        `${path}.type`,
        type,
        'needs the TASK_CHUNKING extension: add "extensions: [TASK_CHUNKING]" to the template',
      );
    }
    const where = 'for a task parameter range (Param.* and RawParam.*)';
    let range: FormatString | FormatString[];
    if (typeof o.range === 'string') {
      if (type !== 'INT' && type !== 'CHUNK[INT]')
        this.fail(
          `${path}.range`,
          o.range,
          `must be a list for a ${type} parameter (range expressions are for INT)`,
        );
      range = this.format(o.range, `${path}.range`);
      this.references(range, jobParam, where);
      if (referencesOf(range.segments).length === 0) {
        // A literal expression is checked now; one with references when the job is made.
        try {
          parseIntRangeExpr(range.raw);
        } catch (err) {
          this.fail(`${path}.range`, range.raw, (err as Error).message);
        }
      }
    } else {
      range = this.list(o.range, `${path}.range`, 1, 1024).map((v, i) => {
        const at = `${path}.range[${i}]`;
        if (typeof v === 'number') {
          if (type === 'INT' || type === 'CHUNK[INT]') this.integer(v, at);
          else if (type === 'FLOAT') this.float(v, at);
          else this.fail(at, v, `must be a string for a ${type} parameter`);
          return { raw: String(v), segments: [{ kind: 'text' as const, text: String(v) }], path: at };
        }
        const f = this.format(v, at, { max: 1024 });
        this.references(f, jobParam, where);
        return f;
      });
    }
    let chunks: TaskParameterDefinition['chunks'];
    if (type === 'CHUNK[INT]') {
      const c = this.object(
        o.chunks,
        `${path}.chunks`,
        ['defaultTaskCount', 'targetRuntimeSeconds', 'rangeConstraint'],
        ['defaultTaskCount', 'rangeConstraint'],
      );
      const asFormat = (v: Json | undefined, at: string): FormatString => {
        if (typeof v === 'number') {
          this.integer(v, at);
          return { raw: String(v), segments: [{ kind: 'text', text: String(v) }], path: at };
        }
        const f = this.format(v, at);
        this.references(f, jobParam, 'for chunks (Param.* and RawParam.*)');
        return f;
      };
      if (c.rangeConstraint !== 'CONTIGUOUS' && c.rangeConstraint !== 'NONCONTIGUOUS')
        this.fail(`${path}.chunks.rangeConstraint`, c.rangeConstraint, 'must be CONTIGUOUS or NONCONTIGUOUS');
      chunks = {
        defaultTaskCount: asFormat(c.defaultTaskCount, `${path}.chunks.defaultTaskCount`),
        ...(c.targetRuntimeSeconds !== undefined
          ? { targetRuntimeSeconds: asFormat(c.targetRuntimeSeconds, `${path}.chunks.targetRuntimeSeconds`) }
          : {}),
        rangeConstraint: c.rangeConstraint,
      };
    }
    return { name, type, range, ...(chunks ? { chunks } : {}), path };
  }
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/**
 * What is wrong with `value` for a job parameter, or undefined when it fits: its type
 * (whole number, number) and its constraints (allowed values, lengths, bounds).
 */
export function checkParameterValue(def: JobParameterDefinition, value: string): string | undefined {
  if (def.type === 'INT' && !/^\s*[+-]?\d+\s*$/.test(value)) return 'must be a whole number';
  if (def.type === 'FLOAT' && (value.trim() === '' || !Number.isFinite(Number(value))))
    return 'must be a number';
  if (def.type === 'INT' || def.type === 'FLOAT') {
    const n = Number(value);
    if (def.allowedValues && !def.allowedValues.some((a) => Number(a) === n))
      return `must be one of ${def.allowedValues.join(', ')}`;
    if (def.minValue !== undefined && n < def.minValue) return `must be at least ${def.minValue}`;
    if (def.maxValue !== undefined && n > def.maxValue) return `must be at most ${def.maxValue}`;
    return undefined;
  }
  if (value.length > 1024) return 'must be at most 1024 characters';
  if (def.allowedValues && !def.allowedValues.includes(value))
    return `must be one of ${def.allowedValues.map((a) => JSON.stringify(a)).join(', ')}`;
  if (def.minLength !== undefined && value.length < def.minLength)
    return `must be at least ${def.minLength} characters`;
  if (def.maxLength !== undefined && value.length > def.maxLength)
    return `must be at most ${def.maxLength} characters`;
  return undefined;
}

/** A parsed combination expression: a product of factors, each a parameter or an association of products. */
export type CombinationNode =
  | { readonly kind: 'param'; readonly name: string }
  | { readonly kind: 'product'; readonly factors: readonly CombinationNode[] }
  | { readonly kind: 'zip'; readonly parts: readonly CombinationNode[] };

/** Parses `A * (B, C)`; a RangeError says what is wrong. */
export function parseCombination(expr: string): CombinationNode {
  const tokens = expr.match(/[A-Za-z_][A-Za-z0-9_]*|[*(),]|\S/g) ?? [];
  let at = 0;
  const peek = (): string | undefined => tokens[at];
  const product = (): CombinationNode => {
    const factors = [element()];
    while (peek() === '*') {
      at++;
      factors.push(element());
    }
    return factors.length === 1 ? factors[0]! : { kind: 'product', factors };
  };
  const element = (): CombinationNode => {
    const t = tokens[at++];
    if (t === undefined) throw new RangeError('ends early; expected a parameter name or "("');
    if (t === '(') {
      const parts = [product()];
      while (peek() === ',') {
        at++;
        parts.push(product());
      }
      if (tokens[at++] !== ')') throw new RangeError('has a "(" with no matching ")"');
      return parts.length === 1 ? parts[0]! : { kind: 'zip', parts };
    }
    if (!/^[A-Za-z_]/.test(t))
      throw new RangeError(`has ${JSON.stringify(t)} where a parameter name or "(" belongs`);
    return { kind: 'param', name: t };
  };
  const node = product();
  if (at < tokens.length)
    throw new RangeError(`has ${JSON.stringify(tokens[at])} after a complete expression`);
  return node;
}

/** The parameter names of a combination, in order. */
export function combinationParams(node: CombinationNode): string[] {
  return node.kind === 'param'
    ? [node.name]
    : (node.kind === 'product' ? node.factors : node.parts).flatMap(combinationParams);
}

function checkCombination(expr: string, params: readonly TaskParameterDefinition[]): void {
  const node = parseCombination(expr);
  const names = combinationParams(node);
  for (const n of names) {
    if (!params.some((p) => p.name === n))
      throw new RangeError(`names ${n}, which is not a task parameter of this step`);
    if (names.filter((x) => x === n).length > 1)
      throw new RangeError(`names ${n} more than once; each parameter must appear exactly once`);
  }
  for (const p of params)
    if (!names.includes(p.name))
      throw new RangeError(`leaves out the task parameter ${p.name}; each must appear exactly once`);
  const noChunkInZip = (n: CombinationNode, inZip: boolean): void => {
    if (n.kind === 'param') {
      if (inZip && params.find((p) => p.name === n.name)?.type === 'CHUNK[INT]')
        throw new RangeError(
          `associates the CHUNK[INT] parameter ${n.name} with others in ( , ); combine it with * only`,
        );
      return;
    }
    for (const c of n.kind === 'product' ? n.factors : n.parts) noChunkInZip(c, inZip || n.kind === 'zip');
  };
  noChunkInZip(node, false);
}
