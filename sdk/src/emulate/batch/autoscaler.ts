import type { LocalEngine } from '../../compute/local/engine';
import { EngineError } from '../../compute/local/errors';
import {
  AutoScaleEvaluationError,
  AutoScaleSyntaxError,
  MAX_FORMULA_LENGTH,
  evaluateFormula,
  parseFormula,
  type AutoScaleInputs,
} from './autoscale';
import { formatIsoDuration } from '../../compute/batch-vocabulary';

/** Batch's default evaluation interval. */
export const DEFAULT_AUTOSCALE_INTERVAL_MS = 15 * 60_000;
/** Batch's shortest and longest evaluation intervals. */
export const MIN_AUTOSCALE_INTERVAL_MS = 5 * 60_000;
export const MAX_AUTOSCALE_INTERVAL_MS = 168 * 3_600_000;

interface PoolScaling {
  formula: string;
  intervalMs: number;
  timer?: NodeJS.Timeout;
  run?: { timestamp: Date; results?: string; error?: { code: string; message: string } };
}

/**
 * 400 `AutoScalingFormulaTooLong` / `AutoScalingFormulaSyntaxError` for a formula Batch
 * would refuse when autoscale is enabled, naming what is wrong.
 */
export function checkFormula(formula: string): void {
  if (formula.length > MAX_FORMULA_LENGTH) {
    throw new EngineError(
      'AutoScalingFormulaTooLong',
      'The specified auto-scaling formula exceeds lengths limit.',
      400,
      [{ key: 'MaxLength', value: String(MAX_FORMULA_LENGTH) }],
    );
  }
  try {
    parseFormula(formula);
  } catch (e) {
    if (!(e instanceof AutoScaleSyntaxError)) throw e;
    throw new EngineError(
      'AutoScalingFormulaSyntaxError',
      'The specified auto-scaling formula has a syntax error.',
      400,
      [{ key: 'Message', value: e.message }],
    );
  }
}

/**
 * Autoscale of the emulator's pools: a formula is evaluated when it is enabled and then
 * every evaluation interval (Batch's 5 minutes to 168 hours, default 15), and the pool is
 * resized to what it computes when the pool is steady, as Batch does. The last run is
 * reported as the pool's `autoScaleRun`.
 */
export class AutoScaler {
  private readonly pools = new Map<string, PoolScaling>();

  constructor(private readonly engine: LocalEngine) {}

  /** Whether the pool scales by formula. */
  enabled(poolId: string): boolean {
    return this.pools.has(poolId.toLowerCase());
  }

  /** The pool's formula and interval, when enabled. */
  settings(poolId: string): { formula: string; intervalMs: number } | undefined {
    const p = this.pools.get(poolId.toLowerCase());
    return p && { formula: p.formula, intervalMs: p.intervalMs };
  }

  /** Enables (or changes) the formula: evaluated now, then every interval. */
  enable(poolId: string, formula: string, intervalMs: number): void {
    const key = poolId.toLowerCase();
    const old = this.pools.get(key);
    if (old?.timer) clearInterval(old.timer);
    const scaling: PoolScaling = { formula, intervalMs };
    this.pools.set(key, scaling);
    this.tick(poolId, scaling);
    scaling.timer = setInterval(() => this.tick(poolId, scaling), intervalMs);
    scaling.timer.unref();
  }

  /** Disables the formula; the pool keeps its current targets. */
  disable(poolId: string): void {
    const key = poolId.toLowerCase();
    const p = this.pools.get(key);
    if (p?.timer) clearInterval(p.timer);
    this.pools.delete(key);
  }

  /** Evaluates a formula against the pool without applying it (Batch's Evaluate AutoScale). */
  evaluate(poolId: string, formula: string): Record<string, unknown> {
    return runJson(this.run(poolId, formula).run);
  }

  /** The pool's autoscale properties as Batch's `CloudPool` shows them. */
  json(poolId: string): Record<string, unknown> {
    const p = this.pools.get(poolId.toLowerCase());
    if (!p) return { enableAutoScale: false };
    return {
      enableAutoScale: true,
      autoScaleFormula: p.formula,
      autoScaleEvaluationInterval: formatIsoDuration(p.intervalMs),
      ...(p.run ? { autoScaleRun: runJson(p.run) } : {}),
    };
  }

  /** Stops every evaluation timer. */
  close(): void {
    for (const p of this.pools.values()) if (p.timer) clearInterval(p.timer);
    this.pools.clear();
  }

  private tick(poolId: string, scaling: PoolScaling): void {
    const pool = this.engine.getPool(poolId);
    if (!pool || this.pools.get(poolId.toLowerCase()) !== scaling) return;
    const { run, outcome } = this.run(poolId, scaling.formula);
    scaling.run = run;
    if (!outcome || pool.allocationState !== 'steady' || pool.state !== 'active') return;
    if (
      outcome.targetDedicatedNodes === pool.targetDedicatedNodes &&
      outcome.targetLowPriorityNodes === pool.targetSpotNodes
    )
      return;
    this.engine.resizePool(pool.id, {
      targetDedicatedNodes: outcome.targetDedicatedNodes,
      targetSpotNodes: outcome.targetLowPriorityNodes,
      deallocation: outcome.nodeDeallocationOption,
    });
  }

  private run(
    poolId: string,
    formula: string,
  ): { run: NonNullable<PoolScaling['run']>; outcome?: ReturnType<typeof evaluateFormula> } {
    const timestamp = new Date();
    try {
      const outcome = evaluateFormula(formula, this.inputs(poolId));
      return { run: { timestamp, results: outcome.results }, outcome };
    } catch (e) {
      if (!(e instanceof AutoScaleEvaluationError) && !(e instanceof AutoScaleSyntaxError)) throw e;
      return { run: { timestamp, error: { code: 'AutoScalingFormulaEvaluationError', message: e.message } } };
    }
  }

  /** The pool's counts a formula reads: tasks of its active jobs, its nodes. */
  private inputs(poolId: string): AutoScaleInputs {
    const pool = this.engine.getPool(poolId)!;
    let active = 0;
    let running = 0;
    let succeeded = 0;
    let failed = 0;
    for (const job of this.engine.listJobs()) {
      if (job.poolId.toLowerCase() !== pool.id.toLowerCase() || job.state !== 'active') continue;
      const c = this.engine.taskCounts(job.id);
      active += c.active;
      running += c.running;
      succeeded += c.succeeded;
      failed += c.failed;
    }
    const nodes = this.engine.listNodes(pool.id);
    return {
      activeTasks: active,
      runningTasks: running,
      succeededTasks: succeeded,
      failedTasks: failed,
      currentDedicatedNodes: nodes.filter((n) => n.priority === 'dedicated').length,
      currentLowPriorityNodes: nodes.filter((n) => n.priority === 'spot').length,
      preemptedNodes: nodes.filter((n) => n.state === 'preempted').length,
      targetDedicatedNodes: pool.targetDedicatedNodes,
      targetLowPriorityNodes: pool.targetSpotNodes,
      taskSlotsPerNode: pool.taskSlotsPerNode,
    };
  }
}

function runJson(run: NonNullable<PoolScaling['run']>): Record<string, unknown> {
  return {
    timestamp: run.timestamp.toISOString(),
    ...(run.results !== undefined ? { results: run.results } : {}),
    ...(run.error ? { error: { code: run.error.code, message: run.error.message, values: [] } } : {}),
  };
}
