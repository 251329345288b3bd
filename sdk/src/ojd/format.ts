/**
 * OJD format strings (2023-09 §7.3): text with `{{ Value.Reference }}` interpolations. Parsed
 * once into segments; resolved either to a plain string (values known at submission) or to a
 * POSIX shell word in which the values only the node knows (`Session.WorkingDirectory`, where
 * an embedded file was written) are variable references. Pure.
 */
import { shellQuote } from '../template/shell';

/** A piece of a format string. */
export type FormatSegment =
  { readonly kind: 'text'; readonly text: string } | { readonly kind: 'ref'; readonly name: string };

const IDENT = '[A-Za-z_][A-Za-z0-9_]*';
const REFERENCE = new RegExp(`^\\s*(${IDENT}(?:\\.${IDENT})*)\\s*$`);

/** Splits a format string into text and references; a `RangeError` says what is malformed. */
export function parseFormatString(value: string): FormatSegment[] {
  const segments: FormatSegment[] = [];
  let at = 0;
  for (;;) {
    const open = value.indexOf('{{', at);
    if (open < 0) {
      if (at < value.length) segments.push({ kind: 'text', text: value.slice(at) });
      return segments;
    }
    if (open > at) segments.push({ kind: 'text', text: value.slice(at, open) });
    const close = value.indexOf('}}', open + 2);
    if (close < 0) throw new RangeError(`has "{{" at character ${open + 1} with no closing "}}"`);
    const inner = value.slice(open + 2, close);
    const m = REFERENCE.exec(inner);
    if (!m) {
      throw new RangeError(
        `has {{${inner}}}, which is not a value reference such as {{Param.Name}} or {{Task.Param.Frame}}`,
      );
    }
    segments.push({ kind: 'ref', name: m[1]! });
    at = close + 2;
  }
}

/** What a reference resolves to: a value, or a shell variable the node sets. */
export type Resolved = { readonly value: string } | { readonly shellVariable: string };

/** Looks a reference up; undefined when the name is not available where the string stands. */
export type Scope = (name: string) => Resolved | undefined;

/** The names a format string references. */
export function referencesOf(segments: readonly FormatSegment[]): string[] {
  return segments.flatMap((s) => (s.kind === 'ref' ? [s.name] : []));
}

/** Resolves a format string whose references are all values (a `RangeError` names one that is not). */
export function resolveToString(segments: readonly FormatSegment[], scope: Scope): string {
  return segments
    .map((s) => {
      if (s.kind === 'text') return s.text;
      const r = scope(s.name);
      if (!r) throw new RangeError(`references ${s.name}, which is not available here`);
      if (!('value' in r)) throw new RangeError(`references ${s.name}, which is only known on the node`);
      return r.value;
    })
    .join('');
}

/**
 * Resolves a format string into one POSIX shell word: known values quoted by `shellQuote`,
 * node-side values as `"${VAR}"`, so nothing in a value is ever read as shell code.
 */
export function resolveToShellWord(segments: readonly FormatSegment[], scope: Scope): string {
  const parts: string[] = [];
  let text = '';
  const flush = (): void => {
    if (text !== '') parts.push(shellQuote(text));
    text = '';
  };
  for (const s of segments) {
    if (s.kind === 'text') {
      text += s.text;
      continue;
    }
    const r = scope(s.name);
    if (!r) throw new RangeError(`references ${s.name}, which is not available here`);
    if ('value' in r) text += r.value;
    else {
      flush();
      parts.push(`"\${${r.shellVariable}}"`);
    }
  }
  flush();
  return parts.length === 0 ? "''" : parts.join('');
}
