import { buildProgram } from './main';
import { bashCompletionScript, completions } from './complete';

// GIVEN the spillway program
// WHEN the shell asks for completions of what was typed so far
// THEN it gets the commands, subcommands or flags that fit, and nothing where a value goes.

describe('completions', () => {
  const program = buildProgram();
  // Every top-level command the program has, and help: adding a command adds its completion.
  const topLevel = [...program.commands.map((c) => c.name()), 'help'].sort();
  it.each([
    [[''], topLevel],
    [['s'], ['serve', 'simulate', 'submit']],
    [
      ['pools', ''],
      ['create', 'delete', 'help', 'list', 'nodes', 'resize'],
    ],
    [['pools', 'cr'], ['create']],
    [
      ['pools', 'create', 'nightly', '--max-'],
      ['--max-dedicated', '--max-spot'],
    ],
    [['submit', '--ch'], ['--chunk']],
    [['submit', '--chunk', ''], []], // a value: the shell completes files
    [['submit', '--chunk', '4', '--wa'], ['--watch']],
    [['submit', '--json', '--wa'], ['--watch']], // a flag without a value
    [['emulate', 'arm', '--p'], ['--port']],
    [['watch', '--', '-'], []],
    [['nope', ''], topLevel],
  ])('%j -> %j', (words, expected) => {
    expect(topLevel).toEqual(
      expect.arrayContaining(['assets', 'cost', 'logs', 'pools', 'serve', 'submit', 'watch']),
    );
    expect(completions(program, words)).toEqual(expected);
  });

  it('the bash function asks spillway completion --complete', () => {
    const script = bashCompletionScript();
    expect(script).toContain('spillway completion --complete -- "${COMP_WORDS[@]:1:COMP_CWORD}"');
    expect(script).toContain('complete -o filenames -F _spillway_complete spillway');
  });
});
