/** One `spillway` subcommand. */
export interface Command {
  /** The word after `spillway`, e.g. `simulate`. */
  readonly name: string;
  /** One line for `spillway --help`. */
  readonly summary: string;
  /** Full help for `spillway NAME --help`: usage, options with defaults, an example. */
  readonly help: string;
  /** Runs with the arguments after the name; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}

/** A usage error: the CLI prints the message and the command's help, and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * The operand of a command that has one subcommand taking one operand (`spillway outputs
 * fetch JOB_ID`): usage errors for another subcommand, a missing operand (`missing`) or
 * anything after it.
 */
export function subcommandOperand(
  positionals: readonly string[],
  subcommand: string,
  missing: string,
): string {
  const [sub, operand, ...extra] = positionals;
  if (sub !== subcommand)
    throw new UsageError(
      `unknown or missing subcommand ${JSON.stringify(sub ?? '')}; expected "${subcommand}"`,
    );
  if (!operand) throw new UsageError(missing);
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  return operand;
}

/**
 * A whole-number flag: its value, `fallback` when absent (required when there is none), or
 * a usage error naming the flag and the value and the range expected.
 */
export function wholeNumberFlag(
  flag: string,
  value: string | undefined,
  range: { readonly min?: number; readonly max?: number; readonly fallback?: number } = {},
): number {
  const min = range.min ?? 0;
  if (value === undefined) {
    if (range.fallback === undefined) throw new UsageError(`${flag} is required`);
    return range.fallback;
  }
  const n = Number(value);
  if (
    !/^\d+$/.test(value) ||
    !Number.isSafeInteger(n) ||
    n < min ||
    (range.max !== undefined && n > range.max)
  ) {
    const expected = range.max !== undefined ? `from ${min} to ${range.max}` : `>= ${min}`;
    throw new UsageError(`${flag} ${JSON.stringify(value)}: expected a whole number ${expected}`);
  }
  return n;
}
