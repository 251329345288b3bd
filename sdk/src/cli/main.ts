import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError } from '@commander-js/extra-typings';
import { SpillwayError, ValidationError } from '../errors';
import { takeExitCode, UsageError, type CommandModule } from './command';
import { endOnClosedStdout } from '../logging/pipe';

/** Exit codes of `spillway`. */
export const EXIT = {
  /** It did what was asked. */
  ok: 0,
  /** It failed: the service refused or could not be reached, a watched frame failed... */
  failed: 1,
  /** Usage: an unknown command or option, a missing or bad argument or flag value. */
  usage: 2,
} as const;

const EXIT_HELP = `
Exit codes: 0 ok, 1 failed, 2 usage (unknown command or option, missing or bad value).
With --json, an error is one JSON object on stderr:
  {"error": {"code": "USAGE" | "INVALID_ARGUMENT" | "NOT_FOUND" | ..., "message": "...", "field": "--chunk" | null}}

Every command has --help. Environment: SPILLWAY_ADDRESS, SPILLWAY_TOKEN_FILE, SPILLWAY_DATA_DIR.`;

/** The directory of the subcommand modules (each file one command: see `index.ts`). */
const COMMANDS_DIR = path.join(__dirname, 'commands');

/** The subcommand modules, in file-name order (`.ts` under ts-jest, `.js` when built). */
function commandModules(): CommandModule[] {
  return (
    fs
      .readdirSync(COMMANDS_DIR)
      .filter((f) => /\.[jt]s$/.test(f) && !/\.d\.ts$|\.test\.[jt]s$/.test(f))
      .sort()
      .map((file) => require(path.join(COMMANDS_DIR, file)) as Partial<CommandModule>)
      // A module without `register` is skipped: a stale build output of a removed command (a
      // test checks that every source module in commands/ has one).
      .filter((mod): mod is CommandModule => typeof mod.register === 'function')
  );
}

/**
 * The `spillway` program with every subcommand registered. Errors are thrown (never
 * printed, never `process.exit`): `main` reports them in one shape.
 */
export function buildProgram(options: { json?: boolean } = {}): Command {
  const version = (require('../../package.json') as { version: string }).version;
  const program = new Command('spillway')
    .description('Burst a render farm into Azure and bring the frames back.')
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [COMMAND]', 'show help for a command')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      // Help printed because a subcommand is missing goes to stderr, but not under --json.
      writeErr: (s) => (options.json ? undefined : process.stderr.write(s)),
      outputError: () => {}, // main prints every error
    })
    .addHelpText('after', EXIT_HELP);
  // Settings above are inherited by the subcommands created below.
  for (const mod of commandModules()) mod.register(program);
  return program;
}

/** Whether the arguments ask for JSON output (`--json` before any `--`). */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

/** `spillway` and the subcommand words of `argv` that name commands (`spillway pools resize`). */
function commandPath(program: Command, argv: readonly string[]): string {
  const names = ['spillway'];
  let node: Command | undefined = program as Command;
  for (const arg of argv) {
    if (arg === '--') break;
    if (arg.startsWith('-')) continue;
    const next: Command | undefined = node?.commands.find(
      (c) => c.name() === arg || c.aliases().includes(arg),
    ) as Command | undefined;
    if (!next) break;
    names.push(next.name());
    node = next;
  }
  return names.join(' ');
}

/** An error as the CLI reports it. */
export interface CliError {
  readonly exitCode: number;
  readonly code: string;
  readonly message: string;
  readonly field: string | null;
}

/** Classifies anything thrown while running a command. */
export function describeError(err: unknown): CliError | undefined {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return undefined;
    const message = err.message.replace(/^error: /, '');
    if (err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync') {
      return { exitCode: EXIT.usage, code: 'USAGE', message: 'a subcommand is required', field: null };
    }
    // commander quotes the flag or argument at fault first: unknown option '--x',
    // required option '--vm-size <SIZE>' not specified, missing required argument 'JOB_ID'.
    const quoted = /'([^' ]+)[^']*'/.exec(message)?.[1];
    return { exitCode: EXIT.usage, code: 'USAGE', message, field: quoted ?? null };
  }
  if (err instanceof UsageError) {
    return { exitCode: EXIT.usage, code: 'USAGE', message: err.message, field: err.field ?? null };
  }
  if (err instanceof SpillwayError) {
    const field = err instanceof ValidationError ? err.field : (err as { field?: unknown }).field;
    return {
      exitCode: EXIT.failed,
      code: err.code,
      message: err.message,
      field: typeof field === 'string' ? field : null,
    };
  }
  return {
    exitCode: EXIT.failed,
    code: 'FAILED',
    message: err instanceof Error ? err.message : String(err),
    field: null,
  };
}

/** Runs the CLI with the arguments after `spillway`; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const json = wantsJson(argv);
  takeExitCode();
  endOnClosedStdout();
  let program: Command | undefined;
  try {
    program = buildProgram({ json });
    await program.parseAsync(argv, { from: 'user' });
    return takeExitCode();
  } catch (err) {
    const e = describeError(err);
    if (!e) return EXIT.ok;
    const where = program ? commandPath(program, argv) : 'spillway';
    if (json) {
      process.stderr.write(
        `${JSON.stringify({ error: { code: e.code, message: e.message, field: e.field } })}\n`,
      );
    } else {
      const hint = e.exitCode === EXIT.usage ? `\n(${where} --help for usage)` : '';
      process.stderr.write(`${where}: ${e.message}${hint}\n`);
    }
    return e.exitCode;
  }
}
