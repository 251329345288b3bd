/**
 * The one shell-quoting function of Spillway, and what token substitution needs to keep a
 * value data: every command Spillway builds for `/bin/sh` quotes what it did not write itself
 * through `shellQuote`.
 */

/** Characters a POSIX shell never treats specially in a word (so such a word needs no quotes). */
const BARE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quotes `value` so that a POSIX shell reads it back as exactly one word, byte for byte:
 * left bare when it holds only characters the shell never interprets, else single-quoted
 * (inside single quotes nothing is expanded; a `'` becomes `'\''`). Newlines, `$(...)`,
 * backticks, `;` and globs all stay data. The empty string becomes `''`.
 */
export function shellQuote(value: string): string {
  return BARE.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** True when `shellQuote` would leave `value` as it is. */
export function isBareWord(value: string): boolean {
  return BARE.test(value);
}

/** Where an offset of a shell command is, as far as quoting goes. */
export type ShellContext = 'plain' | 'single' | 'double';

/**
 * Walks a shell command and reports the quoting context at each position where `at`
 * matches: plain (unquoted, also inside `$(...)` and backticks), inside single quotes, or
 * inside double quotes. `at(text, i)` returns the length of a match at `i` (0 for none); the
 * walk skips over matches, so their text never changes the context.
 *
 * It follows what matters for placing a value: backslash escapes, `'...'`, `"..."`, `$(...)`
 * and backticks nested in double quotes, and `#` comments. Being wrong never makes a value
 * code (see `renderCommand`): the worst case is a value that is split or shows its quotes.
 */
export function scanShell(
  text: string,
  at: (text: string, index: number) => number,
  onMatch: (index: number, length: number, context: ShellContext) => void,
): void {
  // Each entry is a context; `$(` and backticks open a plain one on top of a double one.
  const stack: { ctx: ShellContext; closer: ')' | '`' | ''; depth: number }[] = [
    { ctx: 'plain', closer: '', depth: 0 },
  ];
  let wordStart = true;
  for (let i = 0; i < text.length;) {
    const top = stack[stack.length - 1]!;
    const length = at(text, i);
    if (length > 0) {
      onMatch(i, length, top.ctx);
      i += length;
      wordStart = false;
      continue;
    }
    const c = text[i]!;
    if (top.ctx === 'single') {
      if (c === "'") stack.pop();
      i++;
      continue;
    }
    if (c === '\\') {
      i += 2;
      wordStart = false;
      continue;
    }
    if (top.ctx === 'double') {
      if (c === '"') stack.pop();
      else if (c === '$' && text[i + 1] === '(') {
        stack.push({ ctx: 'plain', closer: ')', depth: 0 });
        i++;
      } else if (c === '`') stack.push({ ctx: 'plain', closer: '`', depth: 0 });
      i++;
      continue;
    }
    // plain
    if (c === '#' && wordStart) {
      // A comment runs to the end of the line.
      while (i < text.length && text[i] !== '\n' && at(text, i) === 0) i++;
      continue;
    }
    if (c === "'") stack.push({ ctx: 'single', closer: '', depth: 0 });
    else if (c === '"') stack.push({ ctx: 'double', closer: '', depth: 0 });
    else if (c === '`') {
      if (top.closer === '`') stack.pop();
      else stack.push({ ctx: 'plain', closer: '`', depth: 0 });
    } else if (c === '(') top.depth++;
    else if (c === ')') {
      if (top.closer === ')' && top.depth === 0) stack.pop();
      else if (top.depth > 0) top.depth--;
    }
    wordStart = /[\s;&|()<>]/.test(c);
    i++;
  }
}
