import { SpillwayError } from '../../errors';

/**
 * An error of the local engine, carrying the Azure Batch error code the real service would
 * answer with (`PoolNotFound`, `TaskExists`, ...) and its HTTP status, so the Batch
 * emulator can answer exactly as Batch does.
 */
export class EngineError extends SpillwayError {
  constructor(
    /** Azure Batch error code, e.g. `TaskExists`. */
    code: string,
    message: string,
    /** The HTTP status Batch answers with. */
    readonly statusCode: number,
    /** Extra detail as Batch's `values` list. @default none */
    readonly values: readonly { readonly key: string; readonly value: string }[] = [],
  ) {
    super(message, code);
  }
}
