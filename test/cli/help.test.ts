import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { buildProgram } from '@spillway/sdk/cli';
import { run } from '../support/process';

// GIVEN the spillway program, every subcommand as commander knows it
// WHEN `spillway <command> --help` runs as a real child process for each
// THEN it exits 0, shows the usage and description, and documents every flag and argument
// with a description; the top-level help lists every command and the exit codes.

const root = path.resolve(__dirname, '../..');
const bin = path.join(root, 'sdk/bin/spillway.js');

/** Every command below the root, as the words that reach it (`['pools', 'create']`). */
function commandsOf(command: Command, words: string[] = []): { words: string[]; command: Command }[] {
  return command.commands.flatMap((c) => {
    const sub = c as unknown as Command;
    const path = [...words, sub.name()];
    return [{ words: path, command: sub }, ...commandsOf(sub, path)];
  });
}

const program = buildProgram();
const all = commandsOf(program).filter(({ command }) => command.name() !== 'help');

describe('spillway --help', () => {
  it('has the subcommands a user expects, including nested ones', () => {
    const names = all.map((c) => c.words.join(' '));
    expect(names).toEqual(
      expect.arrayContaining([
        'assets sync',
        'cancel',
        'capacity',
        'emulate arm',
        'emulate batch',
        'outputs fetch',
        'pools create',
        'pools delete',
        'pools list',
        'pools nodes',
        'pools resize',
        'recall',
        'serve',
        'simulate',
        'submit',
        'watch',
      ]),
    );
  });

  it('lists every command and the exit codes at the top level, with -h as --help', async () => {
    const long = await run(process.execPath, [bin, '--help']);
    const short = await run(process.execPath, [bin, '-h']);
    expect(long.code).toBe(0);
    expect(short.stdout).toBe(long.stdout);
    for (const c of program.commands) expect(long.stdout).toMatch(new RegExp(`^  ${c.name()}\\b`, 'm'));
    expect(long.stdout).toContain('Exit codes: 0 ok, 1 failed, 2 usage');
    expect(long.stdout).toContain('{"error": {"code"');
    const version = await run(process.execPath, [bin, '--version']);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it.each(all.map((c) => [c.words.join(' '), c] as const))(
    'spillway %s --help documents every flag and argument',
    async (_, { words, command }) => {
      const r = await run(process.execPath, [bin, ...words, '--help']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: spillway ${words.join(' ')}`);
      expect(command.description().length).toBeGreaterThan(10);
      // Help text wraps long descriptions: compare with whitespace collapsed.
      const text = r.stdout.replace(/\s+/g, ' ');
      expect(text).toContain(command.description().replace(/\s+/g, ' ').slice(0, 60));
      for (const option of command.options) {
        expect(option.long).toBeDefined();
        expect(option.description.length).toBeGreaterThan(3);
        expect(text).toContain(`${option.flags} ${option.description.replace(/\s+/g, ' ').slice(0, 40)}`);
        if (option.defaultValue !== undefined) {
          // Help shows the default as commander does: its description when one is given
          // (`.default(2592000000, '30d')`), else the value itself.
          const shown = option.defaultValueDescription || JSON.stringify(option.defaultValue);
          expect(text).toContain(`(default: ${shown})`);
          // A described default must be honest: the option's own parser reads the
          // description back as the value the command gets.
          if (option.defaultValueDescription && option.parseArg)
            expect(option.parseArg(option.defaultValueDescription, undefined)).toEqual(option.defaultValue);
        }
      }
      for (const argument of command.registeredArguments) {
        expect(argument.description.length).toBeGreaterThan(3);
        expect(text).toContain(`${argument.name()} ${argument.description.slice(0, 30)}`);
      }
      if (command.commands.length > 0) {
        for (const sub of command.commands) expect(r.stdout).toMatch(new RegExp(`^  ${sub.name()}\\b`, 'm'));
      }
    },
  );

  it('has one command per module in cli/commands, each exporting register', () => {
    const dir = path.join(root, 'sdk/src/cli/commands');
    const modules = fs.readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    for (const file of modules) {
      const mod = require(path.join(dir, file)) as { register?: unknown };
      expect([file, typeof mod.register]).toEqual([file, 'function']);
      expect(program.commands.map((c) => c.name())).toContain(path.basename(file, '.ts'));
    }
  });
});
