/**
 * Deadline 10 Web Service records as Spillway reads them: the raw JSON shapes (only the
 * fields Spillway uses; servers send many more, which are ignored) and friendly views
 * with string-union states and Dates.
 */

/** Job states (`Stat`): Active 1, Suspended 2, Completed 3, Failed 4, Pending 6. */
export type DeadlineJobState = 'active' | 'suspended' | 'completed' | 'failed' | 'pending' | 'unknown';
/** Task states (`Stat`): Queued 2, Suspended 3, Rendering 4, Completed 5, Failed 6, Pending 8. */
export type DeadlineTaskState =
  'queued' | 'suspended' | 'rendering' | 'completed' | 'failed' | 'pending' | 'unknown';
/** Worker states (`Stat`): Rendering 1, Idle 2, Offline 3, Stalled 4, StartingJob 8. */
export type DeadlineWorkerState = 'rendering' | 'idle' | 'offline' | 'stalled' | 'startingJob' | 'unknown';

/** Wire codes of each state union (both directions). */
export const JOB_STATE_CODES: Readonly<Record<Exclude<DeadlineJobState, 'unknown'>, number>> = {
  active: 1,
  suspended: 2,
  completed: 3,
  failed: 4,
  pending: 6,
};
/** Wire codes of task states. */
export const TASK_STATE_CODES: Readonly<Record<Exclude<DeadlineTaskState, 'unknown'>, number>> = {
  queued: 2,
  suspended: 3,
  rendering: 4,
  completed: 5,
  failed: 6,
  pending: 8,
};
/** Wire codes of worker states. */
export const WORKER_STATE_CODES: Readonly<Record<Exclude<DeadlineWorkerState, 'unknown'>, number>> = {
  rendering: 1,
  idle: 2,
  offline: 3,
  stalled: 4,
  startingJob: 8,
};

function fromCode<S extends string>(table: Readonly<Record<string, number>>, code: unknown): S | 'unknown' {
  const n = typeof code === 'string' ? Number(code) : code;
  for (const [name, c] of Object.entries(table)) if (c === n) return name as S;
  return 'unknown';
}

/** The job state of a `Stat` code; unknown codes give `'unknown'`. */
export const jobStateOf = (code: unknown): DeadlineJobState => fromCode(JOB_STATE_CODES, code);
/** The task state of a `Stat` code. */
export const taskStateOf = (code: unknown): DeadlineTaskState => fromCode(TASK_STATE_CODES, code);
/** The worker state of a `Stat` code. */
export const workerStateOf = (code: unknown): DeadlineWorkerState => fromCode(WORKER_STATE_CODES, code);

/** A job as the Web Service sends it (subset). */
export interface RawJob {
  readonly _id: string;
  readonly Stat?: number;
  readonly Plug?: string;
  readonly Date?: string;
  readonly OutDir?: readonly string[];
  readonly OutFile?: readonly string[];
  readonly QueuedChunks?: number;
  readonly RenderingChunks?: number;
  readonly CompletedChunks?: number;
  readonly Props?: {
    readonly Name?: string;
    readonly Frames?: string;
    readonly Chunk?: number;
    readonly Grp?: string;
    readonly Pool?: string;
    readonly Pri?: number;
    readonly Limits?: readonly string[] | string;
    readonly PlugInfo?: Readonly<Record<string, string>>;
    readonly Env?: Readonly<Record<string, string>>;
    readonly ExDic?: Readonly<Record<string, string>>;
    readonly [key: string]: unknown;
  };
  readonly [key: string]: unknown;
}

/** A task as the Web Service sends it (subset). */
export interface RawTask {
  readonly JobID?: string;
  readonly TaskID: number | string;
  readonly Frames?: string;
  readonly Slave?: string;
  readonly Stat?: number;
  readonly Prog?: string;
  readonly Errs?: number;
  /** When a worker started the task. */
  readonly Start?: string;
  /** When its render started (after the plugin loaded). */
  readonly StartRen?: string;
  /** When it completed. */
  readonly Comp?: string;
  readonly [key: string]: unknown;
}

/** A worker info record from `/api/slaves?Data=info` (subset). */
export interface RawWorker {
  readonly Name: string;
  readonly Stat?: number;
  readonly JobId?: string;
  readonly Grps?: string | readonly string[];
  readonly Pools?: string | readonly string[];
  readonly [key: string]: unknown;
}

/** A limit group from `/api/limitgroups` (subset). */
export interface RawLimit {
  readonly Name: string;
  readonly Limit?: number;
  readonly InUse?: number;
  readonly [key: string]: unknown;
}

/** A Deadline job, friendly. */
export interface DeadlineJob {
  readonly id: string;
  readonly name: string;
  readonly state: DeadlineJobState;
  readonly plugin: string;
  /** The job's frame list, e.g. `1-24`. */
  readonly frames: string;
  readonly chunkSize: number;
  /** `''` when the job has no group (`none`). */
  readonly group: string;
  /** `''` when the job has no pool (`none`). */
  readonly pool: string;
  readonly priority: number;
  readonly limits: readonly string[];
  readonly pluginInfo: Readonly<Record<string, string>>;
  readonly environment: Readonly<Record<string, string>>;
  /** `ExtraInfoKeyValue` pairs. */
  readonly extraInfo: Readonly<Record<string, string>>;
  readonly outputDirectories: readonly string[];
  readonly outputFiles: readonly string[];
  /** Undefined when Deadline sent none or its null date `0001-01-01T00:00:00Z`. */
  readonly submittedAt: Date | undefined;
  /** The record as received. */
  readonly raw: RawJob;
}

/** A Deadline task, friendly. */
export interface DeadlineTask {
  readonly jobId: string;
  readonly taskId: number;
  readonly frames: string;
  readonly state: DeadlineTaskState;
  readonly worker: string;
  readonly errors: number;
  /** When its render started (`StartRen`, else `Start`). @default unknown */
  readonly startedAt?: Date;
  /** When it completed (`Comp`). @default unknown */
  readonly completedAt?: Date;
  /** Fraction done (`Prog`, e.g. "45 %"), 0 to 1. @default not reported */
  readonly progress?: number;
  readonly raw: RawTask;
}

/** A worker's settings (`GET /api/slaves?Data=settings`, subset). */
export interface DeadlineWorkerSettings {
  readonly name: string;
  /** False when the worker is disabled: it takes no new task. */
  readonly enabled: boolean;
  /** The record as received (sent back whole by `saveWorkerSettings`). */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** A Deadline worker, friendly. */
export interface DeadlineWorker {
  readonly name: string;
  readonly state: DeadlineWorkerState;
  readonly jobId: string;
  readonly groups: readonly string[];
  readonly pools: readonly string[];
  readonly raw: RawWorker;
}

/** A limit group, friendly. */
export interface DeadlineLimit {
  readonly name: string;
  readonly limit: number;
  readonly inUse: number;
}

/** Deadline's null date: `0001-01-01T00:00:00Z` (and anything unparsable) reads as undefined. */
export function parseDeadlineDate(value: unknown): Date | undefined {
  if (typeof value !== 'string' || value === '' || value.startsWith('0001-01-01')) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** `a,b` or `['a','b']` to a clean list without empties. */
export function listOf(value: unknown): string[] {
  if (Array.isArray(value))
    return value
      .map(String)
      .map((s) => s.trim())
      .filter(Boolean);
  if (typeof value === 'string')
    return value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  return [];
}

const noneToEmpty = (v: unknown): string => (typeof v !== 'string' || v.toLowerCase() === 'none' ? '' : v);

const stringRecord = (v: unknown): Record<string, string> => {
  const out: Record<string, string> = {};
  if (v && typeof v === 'object' && !Array.isArray(v))
    for (const [k, x] of Object.entries(v as Record<string, unknown>))
      if (x !== null && x !== undefined) out[k] = String(x);
  return out;
};

/** The friendly view of a raw job. */
export function jobFromRaw(raw: RawJob): DeadlineJob {
  const p = raw.Props ?? {};
  return {
    id: String(raw._id),
    name: typeof p.Name === 'string' ? p.Name : String(raw._id),
    state: jobStateOf(raw.Stat),
    plugin: typeof raw.Plug === 'string' ? raw.Plug : '',
    frames: typeof p.Frames === 'string' ? p.Frames : '',
    chunkSize: typeof p.Chunk === 'number' && p.Chunk > 0 ? p.Chunk : 1,
    group: noneToEmpty(p.Grp),
    pool: noneToEmpty(p.Pool),
    priority: typeof p.Pri === 'number' ? p.Pri : 50,
    limits: listOf(p.Limits),
    pluginInfo: stringRecord(p.PlugInfo),
    environment: stringRecord(p.Env),
    extraInfo: stringRecord(p.ExDic),
    outputDirectories: listOf(raw.OutDir),
    outputFiles: listOf(raw.OutFile),
    submittedAt: parseDeadlineDate(raw.Date),
    raw,
  };
}

/** The friendly view of a raw task. */
export function taskFromRaw(raw: RawTask, jobId?: string): DeadlineTask {
  return {
    jobId: String(raw.JobID ?? jobId ?? ''),
    taskId: Number(raw.TaskID),
    frames: typeof raw.Frames === 'string' ? raw.Frames : '',
    state: taskStateOf(raw.Stat),
    worker: typeof raw.Slave === 'string' ? raw.Slave : '',
    errors: typeof raw.Errs === 'number' ? raw.Errs : 0,
    ...dated('startedAt', parseDeadlineDate(raw.StartRen) ?? parseDeadlineDate(raw.Start)),
    ...dated('completedAt', parseDeadlineDate(raw.Comp)),
    ...(progressOf(raw.Prog) === undefined ? {} : { progress: progressOf(raw.Prog)! }),
    raw,
  };
}

const dated = <K extends string>(key: K, d: Date | undefined): Partial<Record<K, Date>> =>
  (d ? { [key]: d } : {}) as Partial<Record<K, Date>>;

/** A task's `Prog` ("45 %", "45.5%", 45) as a fraction 0..1; undefined when unreadable. */
export function progressOf(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number.parseFloat(value) : NaN;
  return Number.isFinite(n) && n >= 0 && n <= 100 ? n / 100 : undefined;
}

/** The friendly view of a raw worker. */
export function workerFromRaw(raw: RawWorker): DeadlineWorker {
  return {
    name: String(raw.Name),
    state: workerStateOf(raw.Stat),
    jobId: typeof raw.JobId === 'string' ? raw.JobId : '',
    groups: listOf(raw.Grps),
    pools: listOf(raw.Pools),
    raw,
  };
}

/** The friendly view of a raw limit group. */
export function limitFromRaw(raw: RawLimit): DeadlineLimit {
  return {
    name: String(raw.Name),
    limit: typeof raw.Limit === 'number' ? raw.Limit : 0,
    inUse: typeof raw.InUse === 'number' ? raw.InUse : 0,
  };
}
