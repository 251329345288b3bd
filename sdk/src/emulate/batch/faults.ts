import { SeededRandom } from '../../random';

/** Faults the Batch emulator injects, as rates between 0 and 1 of requests. */
export interface BatchFaultOptions {
  /** 503 `ServerBusy`, answered before any work is done. @default 0 */
  readonly serverBusyRate?: number;
  /** 500 `OperationTimedOut`; the work may have been applied (see `appliedShare`). @default 0 */
  readonly operationTimedOutRate?: number;
  /** The connection is dropped without an answer; the work may have been applied. @default 0 */
  readonly dropConnectionRate?: number;
  /** Of the 500s and dropped connections on writes, the share that happen AFTER the work was applied. @default 0.5 */
  readonly appliedShare?: number;
  /** Only these operations (e.g. `Task_AddCollection`) get faults. @default every operation */
  readonly operations?: readonly string[];
  /** Seed of the fault draws. @default 1 */
  readonly seed?: number;
  /**
   * Faults forced on the next requests of the named operations, in order, before any random
   * draw: e.g. `[{ operation: 'Task_AddCollection', kind: 'operationTimedOut', afterApply: true }]`.
   * @default none
   */
  readonly script?: readonly ScriptedFault[];
}

/** A fault forced on the next request of an operation. */
export interface ScriptedFault {
  readonly operation: string;
  readonly kind: 'serverBusy' | 'operationTimedOut' | 'drop';
  /** Apply the work first (writes only). @default false */
  readonly afterApply?: boolean;
}

/** A fault decided for one request. */
export type FaultDecision =
  | { readonly kind: 'none' }
  | { readonly kind: 'serverBusy' | 'operationTimedOut' | 'drop'; readonly afterApply: boolean };

/** Draws faults from seeded rates. Pure apart from its random sequence. */
export class FaultPlan {
  private random: () => number;
  private options: BatchFaultOptions;
  private script: ScriptedFault[];

  constructor(options: BatchFaultOptions = {}) {
    this.options = options;
    this.random = SeededRandom.fromState(options.seed ?? 1).next;
    this.script = [...(options.script ?? [])];
  }

  /** Replaces the rates and the script (and reseeds when a seed is given). */
  set(options: BatchFaultOptions): void {
    this.options = options;
    this.script = [...(options.script ?? [])];
    if (options.seed !== undefined) this.random = SeededRandom.fromState(options.seed).next;
  }

  /** Decides the fault of one request; `write` says whether it changes state. */
  decide(operation: string, write: boolean): FaultDecision {
    const o = this.options;
    const forced = this.script.findIndex((f) => f.operation === operation);
    if (forced >= 0) {
      const [f] = this.script.splice(forced, 1);
      return { kind: f!.kind, afterApply: write && f!.kind !== 'serverBusy' && (f!.afterApply ?? false) };
    }
    if (o.operations && !o.operations.includes(operation)) return { kind: 'none' };
    const r = this.random();
    const busy = o.serverBusyRate ?? 0;
    const timedOut = busy + (o.operationTimedOutRate ?? 0);
    const drop = timedOut + (o.dropConnectionRate ?? 0);
    if (r < busy) return { kind: 'serverBusy', afterApply: false };
    if (r >= drop) return { kind: 'none' };
    const afterApply = write && this.random() < (o.appliedShare ?? 0.5);
    return { kind: r < timedOut ? 'operationTimedOut' : 'drop', afterApply };
  }
}
