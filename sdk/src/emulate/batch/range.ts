/**
 * Batch's `ocp-range` request header of Get File From Task / From Compute Node:
 * `bytes=START-END` (END inclusive; `bytes=START-` to the end of the file).
 */

/** The bytes a range asks for in a file of `size` bytes, or why it cannot be served. */
export type RangeResult =
  | { readonly ok: true; readonly start: number; readonly end: number }
  | { readonly ok: false; readonly reason: string };

/**
 * Resolves `ocp-range` against a file of `size` bytes. No header: the whole file. A start
 * past the end is unsatisfiable; an end past it is cut to the file.
 */
export function resolveOcpRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined || header === '') return { ok: true, start: 0, end: size - 1 };
  const m = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (!m)
    return {
      ok: false,
      reason: `The value "${header}" of the ocp-range header is not bytes=startRange-endRange.`,
    };
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Number(m[2]);
  if (start >= size)
    return { ok: false, reason: `The range "${header}" starts past the end of the ${size}-byte file.` };
  if (end < start) return { ok: false, reason: `The range "${header}" ends before it starts.` };
  return { ok: true, start, end: Math.min(end, size - 1) };
}
