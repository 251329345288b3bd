import type { Command } from '@commander-js/extra-typings';
import { exits } from '../command';
import { bashCompletionScript, completions } from '../complete';

/** `spillway completion`: shell completion from the command tree. */
export function register(program: Command): void {
  program
    .command('completion')
    .summary('shell completion: eval "$(spillway completion)"')
    .description(
      'print a bash completion function for spillway (zsh: run `autoload bashcompinit && bashcompinit` first); it completes commands, subcommands and flags from the same definitions as --help',
    )
    .argument('[WORDS...]', 'with --complete: the words typed after spillway, the last one being completed')
    .option('--complete', 'print the candidates for WORDS, one a line (what the function calls)')
    .addHelpText('after', '\nExample:\n  echo \'eval "$(spillway completion)"\' >> ~/.bashrc')
    .action(
      exits(async (words, opts) => {
        if (opts.complete) {
          const candidates = completions(program, words.length > 0 ? words : ['']);
          if (candidates.length > 0) process.stdout.write(`${candidates.join('\n')}\n`);
        } else process.stdout.write(bashCompletionScript());
        return 0;
      }),
    );
}
