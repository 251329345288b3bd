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
 */

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

/** Substitutes every known `#TOKEN#` of `template` for the frame. */
export function renderCommand(template: string, ctx: FrameContext): string {
  const tokens = frameTokens(ctx);
  return template.replace(/#([A-Z_]+)#/g, (whole, name: string) => tokens[name] ?? whole);
}

function pad4(n: number): string {
  const digits = String(Math.abs(n)).padStart(4, '0');
  return n < 0 ? `-${digits.slice(1)}` : digits;
}
