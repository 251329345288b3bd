/**
 * Open Job Description's integer range expressions (`<IntRangeExpr>`, 2023-09 §3.4.1.1.1):
 * `1-100`, `1-100:2`, `10-15:2,1-5`, `1 - -1`. Not `model/frame-range`'s `parseFrameRange`: the
 * OJD grammar differs where it matters — overlapping ranges are an error, the result is
 * sorted, `x-y` with `y < x` is just `{x}`, and a skip may be negative (`10-1:-3`). Pure.
 */

/** One element of an expression, as written. */
interface Element {
  readonly start: number;
  readonly end: number;
  readonly step: number;
}

const INT = String.raw`[+-]?\d+`;
const ELEMENT = new RegExp(`^\\s*(${INT})\\s*(?:-\\s*(${INT})\\s*(?::\\s*(${INT})\\s*)?)?$`);

/** At most this many values come out of one expression (OJD lists hold at most 1,024; a frame range may hold more). */
export const MAX_RANGE_VALUES = 1_000_000;

/**
 * The values of an OJD integer range expression, in increasing order. Throws a `RangeError`
 * whose message says what is wrong (the caller adds the template path).
 */
export function parseIntRangeExpr(expr: string): number[] {
  if (expr.trim() === '') throw new RangeError('is empty; write a range such as "1-100" or "1-100:2"');
  const elements: Element[] = expr.split(',').map((part) => {
    const m = ELEMENT.exec(part);
    if (!m) {
      throw new RangeError(
        `has ${JSON.stringify(part.trim())}, which is not N, N-M or N-M:SKIP (whole numbers; SKIP not 0)`,
      );
    }
    const start = Number(m[1]);
    const end = m[2] === undefined ? start : Number(m[2]);
    const step = m[3] === undefined ? 1 : Number(m[3]);
    if (step === 0)
      throw new RangeError(`has the skip 0 in ${JSON.stringify(part.trim())}; a skip is a non-zero number`);
    for (const n of [start, end, step]) {
      if (!Number.isSafeInteger(n)) throw new RangeError(`has ${n}, beyond the whole numbers supported`);
    }
    return { start, end, step };
  });
  let total = 0;
  const sets = elements.map((e) => {
    const values: number[] = [];
    if (e.step > 0) for (let v = e.start; v <= Math.max(e.start, e.end); v += e.step) values.push(v);
    else for (let v = e.start; v >= Math.min(e.start, e.end); v += e.step) values.push(v);
    if (e.step > 0 && e.end < e.start) values.splice(1); // `x-y` with y < x is {x}
    if (e.step < 0 && e.end > e.start) values.splice(1);
    total += values.length;
    if (total > MAX_RANGE_VALUES) throw new RangeError(`holds more than ${MAX_RANGE_VALUES} values`);
    return { e, lo: Math.min(e.start, e.end), hi: Math.max(e.start, e.end), values };
  });
  // No two ranges may overlap: their written bounds (`1-10:4` spans 1 to 10, as the specification's example says).
  const bySpan = [...sets].sort((a, b) => a.lo - b.lo);
  for (let i = 1; i < bySpan.length; i++) {
    if (bySpan[i]!.lo <= bySpan[i - 1]!.hi) {
      throw new RangeError(
        `has overlapping ranges ${describe(bySpan[i - 1]!.e)} and ${describe(bySpan[i]!.e)}`,
      );
    }
  }
  return bySpan.flatMap((s) => s.values.sort((a, b) => a - b));
}

function describe(e: Element): string {
  return JSON.stringify(
    e.start === e.end ? `${e.start}` : e.step === 1 ? `${e.start}-${e.end}` : `${e.start}-${e.end}:${e.step}`,
  );
}

/**
 * Writes sorted, distinct integers as the shortest OJD range expression: runs with one skip
 * become `a-b` or `a-b:k`, lone values stay as they are (`1-4,7,10-20:5`).
 */
export function formatIntRangeExpr(values: readonly number[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < values.length) {
    const start = values[i]!;
    if (i + 1 >= values.length) {
      parts.push(String(start));
      break;
    }
    const step = values[i + 1]! - start;
    let j = i + 1;
    while (j + 1 < values.length && values[j + 1]! - values[j]! === step) j++;
    const count = j - i + 1;
    if (count >= 3 || (count === 2 && step === 1)) {
      parts.push(step === 1 ? `${start}-${values[j]}` : `${start}-${values[j]}:${step}`);
      i = j + 1;
    } else {
      parts.push(String(start));
      i += 1;
    }
  }
  return parts.join(',');
}
