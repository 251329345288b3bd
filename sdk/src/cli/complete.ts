/**
 * Shell completion from the commander tree itself, so a new command or flag completes with
 * no extra work: `spillway completion` prints a bash (and zsh, through bashcompinit)
 * function that asks `spillway completion --complete -- WORDS...` for the candidates.
 */
import type { Command } from '@commander-js/extra-typings';

/**
 * Candidates for the last of `words` (the words after `spillway`, the last one being typed,
 * possibly empty): subcommands, or the options of the command reached (after a `-`), or
 * nothing where a value is expected (the shell then completes file names).
 */
export function completions(program: Command, words: readonly string[]): string[] {
  const typed = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  let command: Command = program;
  let expectsValue = false;
  for (const word of before) {
    if (word === '--') return [];
    if (expectsValue) {
      expectsValue = false;
      continue;
    }
    if (word.startsWith('-')) {
      const option = command.options.find((o) => o.long === word || o.short === word);
      expectsValue = option !== undefined && (option.required || option.optional) && !word.includes('=');
      continue;
    }
    const sub = command.commands.find((c) => c.name() === word || c.aliases().includes(word)) as
      Command | undefined;
    if (sub) command = sub;
  }
  if (expectsValue) return [];
  const candidates = typed.startsWith('-')
    ? [...command.options.flatMap((o) => (o.long ? [o.long] : [])), '--help']
    : command.commands.length > 0
      ? [...command.commands.map((c) => c.name()), 'help'] // commander adds `help` when parsing
      : [];
  return [...new Set(candidates)].filter((c) => c.startsWith(typed)).sort();
}

/** The bash completion function (zsh: `autoload bashcompinit && bashcompinit` first). */
export function bashCompletionScript(name = 'spillway'): string {
  return `# ${name} completion: eval "$(${name} completion)" in ~/.bashrc (zsh: autoload bashcompinit && bashcompinit first)
_${name}_complete() {
  local IFS=$'\\n'
  COMPREPLY=($(${name} completion --complete -- "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
  if [ \${#COMPREPLY[@]} -eq 0 ]; then COMPREPLY=($(compgen -f -- "\${COMP_WORDS[COMP_CWORD]}")); fi
}
complete -o filenames -F _${name}_complete ${name}
`;
}
