/**
 * Frame-token substitution in render commands, with OpenCue's token names so a layer's
 * command means the same thing whether Cuebot or Spillway fills it in.
 *
 * | token | becomes |
 * |---|---|
 * | `#IFRAME#` | the frame number, e.g. `7` (for a chunk: its first frame) |
 * | `#ZFRAME#` | the frame number zero-padded to 4 digits, e.g. `0007` (`-007` for -7) |
 * | `#FRAME#` | the frame's name as OpenCue writes it: `0007-<layer>` (`0007` without a layer) |
 * | `#FRAME_START#`, `#FRAME_END#` | first and last frame of the chunk |
 * | `#FRAME_CHUNK#` | the chunk size (frames in the chunk) |
 * | `#FRAMESPEC#` | the chunk as a frame spec: `7`, `1-10` or `1-10x2` |
 * | `#LAYER#`, `#JOB#` | the layer and job names |
 *
 * Unknown `#WORD#` tokens are left as they are (a shell comment may contain `#`).
 *
 * Names (`#JOB#`, `#LAYER#`, and `#FRAME#` with a layer) come from render managers and users:
 * they reach the shell as data, never as code. A name of plain characters
 * (`A-Z a-z 0-9 _ @ % + = : , . / -`) is put in as it is; any other is assigned, quoted by
 * `shellQuote`, to a shell variable at the start of the command (`SPILLWAY_JOB_NAME=...;`),
 * and the token becomes a reference to it, written for where the token stands (unquoted,
 * in double quotes or in single quotes). The shell never parses the result of an
 * expansion, so `shot$(touch x)` or a backtick stays a name.
 */

import { isBareWord, scanShell, shellQuote, type ShellContext } from './shell';

/** What a frame's command is rendered with. */
export interface FrameContext {
  readonly frameStart: number;
  /** @default frameStart */
  readonly frameEnd?: number;
  /** @default 1 */
  readonly frameStep?: number;
  /** @default '' */
  readonly layer?: string;
  /** @default '' */
  readonly job?: string;
}

/** A token name and its value for a frame. */
export function frameTokens(ctx: FrameContext): Record<string, string> {
  const start = ctx.frameStart;
  const end = ctx.frameEnd ?? start;
  const step = ctx.frameStep && ctx.frameStep > 0 ? ctx.frameStep : 1;
  if (!Number.isInteger(start) || !Number.isInteger(end) || end < start) {
    throw new RangeError(`frame range ${start}-${end} is not a range of whole frames with start <= end`);
  }
  const zframe = pad4(start);
  const spec = end === start ? `${start}` : step === 1 ? `${start}-${end}` : `${start}-${end}x${step}`;
  return {
    IFRAME: String(start),
    ZFRAME: zframe,
    FRAME: ctx.layer ? `${zframe}-${ctx.layer}` : zframe,
    FRAME_START: String(start),
    FRAME_END: String(end),
    FRAME_CHUNK: String(Math.floor((end - start) / step) + 1),
    FRAMESPEC: spec,
    LAYER: ctx.layer ?? '',
    JOB: ctx.job ?? '',
  };
}

/** Tokens whose values are names (render managers and users choose them), and their variables. */
const NAME_VARIABLES: Readonly<Record<string, string>> = {
  JOB: 'SPILLWAY_JOB_NAME',
  LAYER: 'SPILLWAY_LAYER_NAME',
  FRAME: 'SPILLWAY_FRAME_NAME',
};

const TOKEN = /^#([A-Z_]+)#/;

/** A reference to shell variable `name` that expands to one word, written for `context`. */
function reference(name: string, context: ShellContext): string {
  switch (context) {
    case 'plain':
      return `"\${${name}}"`;
    case 'double':
      return `\${${name}}`;
    case 'single':
      // Close the single quotes, expand in double quotes, reopen.
      return `'"\${${name}}"'`;
  }
}

/**
 * Substitutes every known `#TOKEN#` of `template` for the frame. Frame numbers go in as
 * digits; names go in as data (see the module comment), so no name runs as shell code.
 */
export function renderCommand(template: string, ctx: FrameContext): string {
  const tokens = frameTokens(ctx);
  const assigned = new Map<string, string>();
  let out = '';
  let last = 0;
  scanShell(
    template,
    (text, i) => {
      if (text[i] !== '#') return 0;
      const m = TOKEN.exec(text.slice(i, i + 32));
      return m && tokens[m[1]!] !== undefined ? m[0].length : 0;
    },
    (i, length, context) => {
      const name = template.slice(i + 1, i + length - 1);
      const value = tokens[name]!;
      const variable = NAME_VARIABLES[name];
      out += template.slice(last, i);
      if (variable === undefined || isBareWord(value) || value === '') {
        out += value;
      } else {
        assigned.set(variable, value);
        out += reference(variable, context);
      }
      last = i + length;
    },
  );
  out += template.slice(last);
  const prefix = [...assigned].map(([variable, value]) => `${variable}=${shellQuote(value)}; `).join('');
  return prefix + out;
}

function pad4(n: number): string {
  const digits = String(Math.abs(n)).padStart(4, '0');
  return n < 0 ? `-${digits.slice(1)}` : digits;
}
