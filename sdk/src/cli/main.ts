import type { Command } from './command';
import { UsageError } from './command';

/**
 * The subcommands, loaded on demand so `spillway simulate` never pays for the gRPC or
 * Azure modules. Add a command here with its module path.
 */
const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {};

/** Registers a lazily loaded subcommand. */
function register(name: string, summary: string, load: () => Promise<Command>): void {
  commands[name] = { summary, load };
}

// Subcommands (one line each; keep in alphabetical order).
register('assets', 'sync a project tree into Blob Storage (content-addressed)', () =>
  Promise.resolve((require('./commands/assets') as typeof import('./commands/assets')).assetsCommand),
);
register('capacity', 'the burst capacity held: groups, nodes by state, cost per hour', () =>
  Promise.resolve((require('./commands/pools') as typeof import('./commands/pools')).capacityCommand),
);
register('cancel', 'cancel a job', () =>
  Promise.resolve((require('./commands/jobs') as typeof import('./commands/jobs')).cancelCommand),
);
register('outputs', "fetch a job's outputs through the service", () =>
  Promise.resolve((require('./commands/outputs') as typeof import('./commands/outputs')).outputsCommand),
);
register('pools', 'list, create, resize and delete capacity groups (Batch pools, scale sets)', () =>
  Promise.resolve((require('./commands/pools') as typeof import('./commands/pools')).poolsCommand),
);
register('recall', 'take back frames not started in the cloud', () =>
  Promise.resolve((require('./commands/jobs') as typeof import('./commands/jobs')).recallCommand),
);
register('serve', 'run the burst-capacity service', () =>
  Promise.resolve((require('./commands/serve') as typeof import('./commands/serve')).serveCommand),
);
register('simulate', 'run a burst scenario through the farm simulator, Spillway against baselines', () =>
  Promise.resolve((require('./commands/simulate') as typeof import('./commands/simulate')).simulateCommand),
);
register('submit', 'submit frames: a range and a command template, or a job file', () =>
  Promise.resolve((require('./commands/submit') as typeof import('./commands/submit')).submitCommand),
);
register('watch', 'follow frame events; a progress bar for a job', () =>
  Promise.resolve((require('./commands/watch') as typeof import('./commands/watch')).watchCommand),
);
register(
  'emulate',
  'serve an Azure-compatible local endpoint (batch | arm)',
  async () => (require('./commands/emulate') as typeof import('./commands/emulate')).emulateCommand,
);

function usage(): string {
  const names = Object.keys(commands).sort();
  const width = Math.max(8, ...names.map((n) => n.length));
  const lines = names.map((n) => `  ${n.padEnd(width)}  ${commands[n]!.summary}`);
  return [
    'spillway: burst a render farm into Azure and bring the frames back.',
    '',
    'Usage: spillway <command> [options]      spillway <command> --help for details',
    '',
    'Commands:',
    ...(lines.length > 0 ? lines : ['  (none yet)']),
  ].join('\n');
}

/** Runs the CLI with the arguments after `spillway`; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const entry = commands[name];
  if (!entry) {
    console.error(`spillway: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const command = await entry.load();
  // `spillway CMD --help`; a command with subcommands (emulate arm --help) answers its own.
  if ((rest.includes('--help') || rest.includes('-h')) && name !== 'emulate') {
    console.log(command.help);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`spillway ${name}: ${err.message}\n\n${command.help}`);
      return 2;
    }
    console.error(`spillway ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

export { register };
