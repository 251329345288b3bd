/**
 * The `spillway` command line, on commander (typed options) with cli-progress bars.
 *
 * ## Adding a subcommand: one file
 *
 * Create `commands/NAME.ts` exporting `register(program)`; `main.ts` loads every module in
 * `commands/` (one top-level command per file, named after it), so nothing else changes:
 *
 * ```ts
 * import type { Command } from '@commander-js/extra-typings';
 * import { exits, printJson, typedOption, wholeNumber, withConnection } from '../command';
 * import { connect } from '../connect';
 *
 * export function register(program: Command): void {
 *   withConnection( // --address, --token-file, --tls-ca, --json
 *     program
 *       .command('cost')
 *       .summary('what a job cost so far') // the line in `spillway --help`
 *       .description('what a job cost so far, frame by frame, spot and dedicated') // `spillway cost --help`
 *       .argument('<JOB_ID>', 'the job')
 *       .addOption(typedOption('--top <N>', 'the N most expensive frames', wholeNumber({ min: 1 })).default(10)),
 *   ).action(
 *     exits(async (jobId, opts) => { // typed: jobId string, opts.top number, opts.json boolean | undefined
 *       const client = connect(opts);
 *       try {
 *         const report = await jobCost(client, jobId, opts.top); // the logic lives in its own area
 *         if (opts.json) printJson(report);
 *         else console.log(formatCost(report));
 *         return 0; // the exit code: 0 ok, 1 failed
 *       } finally {
 *         client.close();
 *       }
 *     }),
 *   );
 * }
 * ```
 *
 * A nested subcommand of an existing command (`assets gc`, `capacity budget`) is a
 * `.command('gc')` on that command, in that command's file.
 *
 * Rules that keep the CLI one shape (the tests check them for every command):
 * - Every option has a description; defaults go in `.default(value)` so `--help` shows them.
 * - Typed values go through `typedOption` with a parser from `command.ts` (`wholeNumber`,
 *   `decimal`, `oneOf`, `repeatable`, `keyValue`, or your own): a bad value is a usage
 *   error naming the flag and quoting the value, exit code 2.
 * - Errors are thrown, never printed: `main` prints them (as JSON on stderr with `--json`)
 *   and picks the exit code: 2 for `UsageError` and commander's errors, 1 for the rest.
 * - Keep imports at the top of a command module light (types, `../command`): every
 *   module is loaded at start-up to build `--help`. `require` heavy modules (the gRPC
 *   client, storage, the service) inside the action; `connect()` does it for the client.
 * - The command's logic lives in its own area of the SDK; the CLI part parses, calls,
 *   prints.
 */
export { buildProgram, describeError, EXIT, main, type CliError } from './main';
export {
  decimal,
  exits,
  keyValue,
  oneOf,
  printJson,
  repeatable,
  typedOption,
  UsageError,
  wholeNumber,
  withConnection,
  type CommandModule,
  type ConnectionValues,
  type ValueParser,
} from './command';
export { connect } from './connect';
export { progressBar, type ProgressBar, type ProgressBarOptions } from './progress';
