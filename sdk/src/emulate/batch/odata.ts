/**
 * The OData subset Batch list operations take: `$filter` with `eq ne gt ge lt le`, `and`,
 * `or`, `not`, parentheses, string literals (`'active'`), `datetime'...'` literals,
 * numbers, booleans and property paths (`executionInfo/exitCode`); and `$select`.
 */

/** A parsed filter: a predicate over a rendered (wire JSON) entity. */
export type Filter = (entity: Record<string, unknown>) => boolean;

/** A filter or select the emulator cannot parse; answered as Batch does (400). */
export class ODataSyntaxError extends Error {
  override readonly name = 'ODataSyntaxError';
}

type Token =
  | { kind: 'word'; text: string }
  | { kind: 'string'; value: string }
  | { kind: 'datetime'; value: number }
  | { kind: 'number'; value: number }
  | { kind: 'paren'; text: '(' | ')' };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')') {
      tokens.push({ kind: 'paren', text: c });
      i++;
    } else if (c === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new ODataSyntaxError('unterminated string literal');
        if (text[i] === "'") {
          if (text[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += text[i++];
      }
      tokens.push({ kind: 'string', value });
    } else {
      const m = /^[A-Za-z0-9_./:+-]+/.exec(text.slice(i));
      if (!m) throw new ODataSyntaxError(`unexpected character "${c}"`);
      const word = m[0];
      i += word.length;
      if (word.toLowerCase() === 'datetime' && text[i] === "'") {
        const end = text.indexOf("'", i + 1);
        if (end < 0) throw new ODataSyntaxError('unterminated datetime literal');
        const ms = Date.parse(text.slice(i + 1, end));
        if (Number.isNaN(ms)) throw new ODataSyntaxError(`bad datetime "${text.slice(i + 1, end)}"`);
        tokens.push({ kind: 'datetime', value: ms });
        i = end + 1;
      } else if (/^-?\d+(\.\d+)?$/.test(word)) {
        tokens.push({ kind: 'number', value: Number(word) });
      } else {
        tokens.push({ kind: 'word', text: word });
      }
    }
  }
  return tokens;
}

const OPS = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);

function get(entity: Record<string, unknown>, path: string): unknown {
  let v: unknown = entity;
  for (const part of path.split('/')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function compare(op: string, left: unknown, right: Token): boolean {
  let l: unknown = left;
  let r: unknown;
  if (right.kind === 'datetime') {
    l = typeof left === 'string' ? Date.parse(left) : left instanceof Date ? left.getTime() : undefined;
    r = right.value;
  } else if (right.kind === 'string' || right.kind === 'number') {
    r = right.value;
  } else if (
    right.kind === 'word' &&
    (right.text === 'true' || right.text === 'false' || right.text === 'null')
  ) {
    r = right.text === 'null' ? undefined : right.text === 'true';
  } else {
    throw new ODataSyntaxError('a comparison needs a literal on its right');
  }
  if (typeof l === 'string' && typeof r === 'string') {
    l = l.toLowerCase();
    r = r.toLowerCase();
  }
  switch (op) {
    case 'eq':
      return l === r;
    case 'ne':
      return l !== r;
  }
  if (l === undefined || r === undefined) return false;
  const a = l as number | string;
  const b = r as number | string;
  switch (op) {
    case 'gt':
      return a > b;
    case 'ge':
      return a >= b;
    case 'lt':
      return a < b;
    default:
      return a <= b;
  }
}

/** Parses a `$filter`; an empty or missing filter matches everything. Throws ODataSyntaxError. */
export function parseFilter(text: string | undefined): Filter {
  if (!text || text.trim() === '') return () => true;
  const tokens = tokenize(text);
  let pos = 0;
  const peekWord = (): string | undefined => {
    const t = tokens[pos];
    return t?.kind === 'word' ? t.text.toLowerCase() : undefined;
  };
  const orExpr = (): Filter => {
    let left = andExpr();
    while (peekWord() === 'or') {
      pos++;
      const l = left;
      const r = andExpr();
      left = (e) => l(e) || r(e);
    }
    return left;
  };
  const andExpr = (): Filter => {
    let left = unary();
    while (peekWord() === 'and') {
      pos++;
      const l = left;
      const r = unary();
      left = (e) => l(e) && r(e);
    }
    return left;
  };
  const unary = (): Filter => {
    if (peekWord() === 'not') {
      pos++;
      const inner = unary();
      return (e) => !inner(e);
    }
    const t = tokens[pos];
    if (t?.kind === 'paren' && t.text === '(') {
      pos++;
      const inner = orExpr();
      const close = tokens[pos++];
      if (close?.kind !== 'paren' || close.text !== ')') throw new ODataSyntaxError('missing ")"');
      return inner;
    }
    if (t?.kind !== 'word') throw new ODataSyntaxError('expected a property name');
    pos++;
    const op = peekWord();
    if (!op || !OPS.has(op))
      throw new ODataSyntaxError(`expected eq, ne, gt, ge, lt or le after "${t.text}"`);
    pos++;
    const right = tokens[pos++];
    if (!right) throw new ODataSyntaxError(`missing value after "${op}"`);
    const path = t.text;
    return (e) => compare(op, get(e, path), right);
  };
  const filter = orExpr();
  if (pos !== tokens.length) throw new ODataSyntaxError('unexpected text after the filter');
  return filter;
}

/** Parses `$select` into the top-level property names to keep; undefined keeps everything. */
export function parseSelect(text: string | undefined): string[] | undefined {
  if (!text || text.trim() === '') return undefined;
  const names = text.split(',').map((s) => s.trim());
  for (const n of names) {
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(n)) throw new ODataSyntaxError(`bad $select property "${n}"`);
  }
  return names;
}

/** Keeps only the selected top-level properties. */
export function applySelect<T extends Record<string, unknown>>(
  entity: T,
  select: readonly string[] | undefined,
): Partial<T> {
  if (!select) return entity;
  const out: Record<string, unknown> = {};
  for (const k of select) if (k in entity) out[k] = entity[k];
  return out as Partial<T>;
}
