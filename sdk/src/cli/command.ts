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
