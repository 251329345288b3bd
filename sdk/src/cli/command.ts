/**
 * What every `spillway` subcommand shares: the usage error, typed option values (a bad
 * value is a usage error naming the flag and quoting the value), the connection options,
 * and the exit code an action resolves to. Kept free of heavy imports: every command
 * module loads this at start-up.
 */
import { Option, type Command, type OptionValues } from '@commander-js/extra-typings';
import { quote, ValidationError } from '../errors';

/**
 * A usage error (a bad or missing flag or argument): the CLI prints the message, with
 * `--json` as `{"error": {"code": "USAGE", "message", "field"}}`, and exits 2.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    /** The flag or argument at fault (`--chunk`, `JOB_ID`). */
    readonly field?: string,
  ) {
    super(message);
  }
}

/** A module under `cli/commands/`: adds its subcommand (and any of its own) to the program. */
export interface CommandModule {
  register(program: Command): void;
}

/**
 * Parses one flag value: returns the typed value, or throws an Error whose message says what
 * was expected (`expected a whole number >= 1`); `previous` is the value so far (for
 * repeatable flags).
 */
export type ValueParser<T> = (value: string, previous: T) => T;

/**
 * An option whose value is parsed by `parse`. A bad value is a `UsageError` that names the
 * flag and quotes the value: `--chunk "abc": expected a whole number >= 1`.
 */
export function typedOption<const F extends string, T>(flags: F, description: string, parse: ValueParser<T>) {
  const option = new Option(flags, description);
  const name = option.long ?? option.short ?? flags;
  return option.argParser<T>((value, previous) => {
    try {
      return parse(value, previous);
    } catch (err) {
      throw flagError(name, value, err);
    }
  });
}

/** The usage error for a bad flag value (ValidationErrors from the SDK keep their reason). */
export function flagError(flag: string, value: unknown, err: unknown): UsageError {
  const reason =
    err instanceof ValidationError ? err.reason : err instanceof Error ? err.message : String(err);
  return new UsageError(`${flag} ${quote(value)}: ${reason}`, flag);
}

/** A whole number, optionally bounded: `expected a whole number >= 1` otherwise. */
export function wholeNumber(
  range: { readonly min?: number; readonly max?: number } = {},
): ValueParser<number> {
  const min = range.min ?? 0;
  return (value) => {
    const n = Number(value);
    if (
      !/^\d+$/.test(value) ||
      !Number.isSafeInteger(n) ||
      n < min ||
      (range.max !== undefined && n > range.max)
    ) {
      throw new Error(
        `expected a whole number ${range.max !== undefined ? `from ${min} to ${range.max}` : `>= ${min}`}`,
      );
    }
    return n;
  };
}

/** A decimal number, optionally bounded: `expected a number >= 0` otherwise. */
export function decimal(range: { readonly min?: number; readonly max?: number } = {}): ValueParser<number> {
  return (value) => {
    const n = Number(value);
    const { min, max } = range;
    if (
      value.trim() === '' ||
      !Number.isFinite(n) ||
      (min !== undefined && n < min) ||
      (max !== undefined && n > max)
    ) {
      const bounds =
        min !== undefined && max !== undefined
          ? ` from ${min} to ${max}`
          : min !== undefined
            ? ` >= ${min}`
            : max !== undefined
              ? ` <= ${max}`
              : '';
      throw new Error(`expected a number${bounds}`);
    }
    return n;
  };
}

/** One of `choices`: `expected one of a, b, c` otherwise. */
export function oneOf<const C extends string>(choices: readonly C[]): ValueParser<C> {
  return (value) => {
    const found = choices.find((c) => c === value);
    if (found === undefined) throw new Error(`expected one of ${choices.join(', ')}`);
    return found;
  };
}

/** A repeatable flag: every value, in order. */
export const repeatable: ValueParser<string[] | undefined> = (value, previous) => [
  ...(previous ?? []),
  value,
];

/** A repeatable `NAME=VALUE` flag, collected into a record. */
export const keyValue: ValueParser<Record<string, string> | undefined> = (value, previous) => {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new Error('expected NAME=VALUE');
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
};

/** The `--json` flag every command takes. */
export const jsonOption = [
  '--json',
  'machine-readable output; errors as {"error": {...}} on stderr',
] as const;

/** The options of every command that talks to the service (`--address`, `--token-file`, `--tls-ca`, `--json`). */
export function withConnection<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  command: Command<A, O, G>,
) {
  const group = 'Connection options:';
  return command
    .addOption(
      new Option(
        '--address <HOST:PORT>',
        'the service (default: $SPILLWAY_ADDRESS or 127.0.0.1:7443)',
      ).helpGroup(group),
    )
    .addOption(
      new Option(
        '--token-file <FILE>',
        'bearer token for a service off loopback (default: $SPILLWAY_TOKEN_FILE)',
      ).helpGroup(group),
    )
    .addOption(
      new Option('--tls-ca <FILE>', 'CA certificate (PEM) to trust: the service speaks TLS').helpGroup(group),
    )
    .addOption(new Option(...jsonOption).helpGroup(group));
}

/** Connection options as parsed by `withConnection`. */
export interface ConnectionValues {
  readonly address?: string;
  readonly tokenFile?: string;
  readonly tlsCa?: string;
}

let exitCode = 0;

/**
 * Wraps an action so that the exit code it resolves to (0 when it resolves to nothing)
 * becomes the CLI's. Errors it throws are reported by `main` (exit 1, or 2 for usage).
 */
export function exits<A extends unknown[]>(action: (...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    exitCode = (await action(...args)) ?? 0;
  };
}

/** The exit code of the last action run (and resets it); for `main`. */
export function takeExitCode(): number {
  const code = exitCode;
  exitCode = 0;
  return code;
}

/** Prints one JSON document on stdout, on one line. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
