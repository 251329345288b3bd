/**
 * The skeleton of a bridge's command (`spillway-deadline`, `spillway-opencue`): flags parsed
 * with `commander` (as the `spillway` CLI does), a `--config FILE` JSON object under the
 * flags, validation before anything starts, one log line at start, a clean stop on
 * SIGTERM/SIGINT. Exit codes: 0 stopped, 1 could not start or failed, 2 bad usage.
 */
import { Command, CommanderError, Option } from 'commander';
import { createLogger, SpillwayError, type Logger, type LogLevel } from '@spillway/sdk';
import { endOnClosedStdout, untilStopped } from '@spillway/sdk/logging';

/** One flag of a bridge's command. */
export interface BridgeFlag {
  /** commander's flag syntax, e.g. `--password-file <file>`. */
  readonly flags: string;
  /** The configuration key it sets (camelCase, as in the config file). */
  readonly key: string;
  /** One line of help, with the default where there is one. */
  readonly description: string;
  /** The flag may be given more than once (its values collect into a list). @default false */
  readonly repeatable?: boolean;
}

/** A started bridge, as the command sees it. */
export interface RunningBridge {
  /** Stops the bridge (it finishes what is in hand; frames go on in the cloud). */
  close(): Promise<void>;
  /** Settles when the bridge stops by itself; rejects when it failed for good. @default never */
  readonly stopped?: Promise<void>;
  /** Logged when the bridge stopped (e.g. its counters). @default none */
  readonly summary?: () => Record<string, unknown>;
}

/** What a bridge's command is made of. */
export interface BridgeCommandSpec<C extends { readonly logLevel: LogLevel }> {
  /** The command's name, e.g. `spillway-deadline`. */
  readonly name: string;
  /** The logger's name, e.g. `deadline`. */
  readonly logName: string;
  /** The usage line after the name, e.g. `--webservice URL --service HOST:PORT [options]`. */
  readonly usage: string;
  /** What the bridge does, a short paragraph. */
  readonly description: string;
  readonly flags: readonly BridgeFlag[];
  /** Extra help printed after the options (the config file's extra keys, an example). */
  readonly epilogue: string;
  /** Reads the `--config` file into keys (refusing unknown ones). */
  readonly readConfigFile: (file: string) => Record<string, unknown>;
  /** Merges flags over the file over defaults and validates (throws `ValidationError`s). */
  readonly resolve: (flags: Record<string, unknown>, file: Record<string, unknown>) => C;
  /** Starts the bridge. */
  readonly start: (config: C, logger: Logger) => Promise<RunningBridge>;
}

/** Where the command writes, and how it waits for a stop (tests replace these). */
export interface CommandIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Resolves when the process is asked to stop. @default SIGTERM or SIGINT */
  readonly stopSignal?: () => Promise<void>;
}

const processIo: CommandIo = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
};

function program<C extends { readonly logLevel: LogLevel }>(
  spec: BridgeCommandSpec<C>,
  io: CommandIo,
): Command {
  const cmd = new Command(spec.name)
    .usage(spec.usage)
    .description(spec.description)
    .helpOption('-h, --help', 'show this help')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showSuggestionAfterError(true);
  for (const f of spec.flags) {
    const option = new Option(f.flags, f.description);
    if (f.repeatable) option.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    cmd.addOption(option);
  }
  cmd.addOption(
    new Option(
      '--log-format <format>',
      'text (for people) or json (one JSON object per line) (default text)',
    ).choices(['text', 'json']),
  );
  cmd.addOption(new Option('--config <file>', 'JSON object with the keys above (camelCase); flags win'));
  cmd.addHelpText('after', `\n${spec.epilogue.trimEnd()}\n`);
  return cmd;
}

/** The command's help text. */
export function bridgeHelp<C extends { readonly logLevel: LogLevel }>(spec: BridgeCommandSpec<C>): string {
  let text = '';
  const cmd = program(spec, { out: (t) => (text += t), err: () => undefined });
  cmd.outputHelp();
  return text;
}

/** Runs a bridge's command; resolves to its exit code once the bridge stops. */
export async function runBridgeCommand<C extends { readonly logLevel: LogLevel }>(
  spec: BridgeCommandSpec<C>,
  argv: readonly string[],
  io: CommandIo = processIo,
): Promise<number> {
  if (io === processIo) endOnClosedStdout();
  const cmd = program(spec, io);
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') return 0;
      io.err(`(${spec.name} --help shows every option)\n`);
      return 2;
    }
    throw err;
  }
  const given = cmd.opts<Record<string, unknown>>();
  const flags: Record<string, unknown> = {};
  for (const f of spec.flags) {
    const attr = cmd.options.find((o) => o.flags === f.flags)!.attributeName();
    if (given[attr] !== undefined) flags[f.key] = given[attr];
  }
  let config: C;
  const format = given.logFormat === 'json' ? 'json' : 'text';
  let logger = createLogger({ name: spec.logName, format });
  let bridge: RunningBridge;
  try {
    const file = typeof given.config === 'string' ? spec.readConfigFile(given.config) : {};
    config = spec.resolve(flags, file);
    logger = createLogger({ name: spec.logName, level: config.logLevel, format });
  } catch (err) {
    io.err(`${spec.name}: ${(err as Error).message}\n`);
    return err instanceof SpillwayError && err.code !== 'INVALID_ARGUMENT' ? 1 : 2;
  }
  try {
    bridge = await spec.start(config, logger);
  } catch (err) {
    io.err(`${spec.name}: ${(err as Error).message}\n`);
    return err instanceof SpillwayError && err.code === 'INVALID_ARGUMENT' ? 2 : 1;
  }
  let code = 0;
  const failed = (bridge.stopped ?? new Promise<void>(() => undefined)).then(
    () => undefined,
    (err: Error) => {
      logger.error('bridge failed; stopping', { error: err.message });
      code = 1;
    },
  );
  await Promise.race([(io.stopSignal ?? untilStopped)(), failed]);
  await bridge.close();
  logger.info('bridge stopped', bridge.summary?.() ?? {});
  return code;
}
