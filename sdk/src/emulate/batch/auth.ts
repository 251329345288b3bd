import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** The parts of a request that its SharedKey signature covers. */
export interface SignedRequest {
  readonly method: string;
  /** Path and query as sent, e.g. `/jobs/j/tasks?api-version=...&%24filter=...`. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/** Decodes a query string as the Batch client does when it signs (`+` is a space; the first of a repeated name wins). */
export function parseQuery(query: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const decode = (s: string): string => {
      try {
        return decodeURIComponent(s.replace(/\+/g, ' '));
      } catch {
        return s;
      }
    };
    const key = decode(eq < 0 ? part : part.slice(0, eq));
    const value = decode(eq < 0 ? '' : part.slice(eq + 1));
    if (!(key in out)) out[key] = value;
  }
  return out;
}

function header(headers: IncomingHttpHeaders, name: string): string {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(',') : (v ?? '');
}

/** How a client writes the parts of the string-to-sign that Microsoft's clients disagree on. */
export interface SigningVariant {
  /**
   * A `Content-Length: 0` written as `0` (the Python SDK and `az` sign the header as sent)
   * or as an empty line (the JavaScript client, for every verb but POST).
   * @default 'asSent'
   */
  readonly zeroLength?: 'asSent' | 'empty';
  /** Query parameters with an empty value kept (`name:`) or left out (the Python SDK). @default true */
  readonly emptyQueryValues?: boolean;
}

/**
 * The string Azure Batch's SharedKey scheme signs: verb, the standard headers, the `ocp-`
 * headers sorted, then `/account/path` and the sorted decoded query parameters.
 */
export function stringToSign(req: SignedRequest, accountName: string, variant: SigningVariant = {}): string {
  const method = req.method.toUpperCase();
  let length = header(req.headers, 'content-length');
  if (length === '0' && variant.zeroLength === 'empty') length = '';
  if (length === '' && method === 'POST') length = '0';
  const standard = [
    'content-encoding',
    'content-language',
    '*length',
    'content-md5',
    'content-type',
    'date',
    'if-modified-since',
    'if-match',
    'if-none-match',
    'if-unmodified-since',
    'range',
  ].map((h) => (h === '*length' ? length : header(req.headers, h)));
  let s = `${method}\n${standard.join('\n')}\n`;
  const ocp = Object.keys(req.headers)
    .filter((h) => h.startsWith('ocp-'))
    .sort();
  for (const h of ocp) {
    const v = header(req.headers, h);
    if (v) s += `${h}:${v}\n`;
  }
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  s += `/${accountName}${path || '/'}`;
  const query = q < 0 ? {} : parseQuery(req.url.slice(q + 1));
  for (const name of Object.keys(query).sort()) {
    if (query[name] === '' && variant.emptyQueryValues === false) continue;
    s += `\n${name}:${query[name]}`;
  }
  return s;
}

/**
 * The ways Microsoft's clients canonicalize one request. The service accepts each of
 * them, so the emulator does too: `@azure/batch` signs a `Content-Length: 0` DELETE with an
 * empty length, the Python SDK and `az` with `0`.
 */
const VARIANTS: readonly SigningVariant[] = [
  { zeroLength: 'empty' },
  { zeroLength: 'asSent' },
  { zeroLength: 'asSent', emptyQueryValues: false },
  { zeroLength: 'empty', emptyQueryValues: false },
];

/** Outcome of an authorization check: ok, or why not (never with the key or the signature). */
export type AuthResult = { ok: true } | { ok: false; status: 401 | 403; reason: string };

/**
 * Checks a request's `Authorization` header: `SharedKey account:signature` against the
 * account key (constant-time compare), or `Bearer token` against the accepted tokens.
 */
export function checkAuthorization(
  req: SignedRequest,
  account: { readonly name: string; readonly key: string; readonly bearerTokens?: readonly string[] },
): AuthResult {
  const auth = header(req.headers, 'authorization');
  if (!auth) return { ok: false, status: 401, reason: 'The request has no Authorization header.' };
  const bearer = /^Bearer (.+)$/.exec(auth);
  if (bearer) {
    const token = Buffer.from(bearer[1]!);
    const match = (account.bearerTokens ?? []).some((t) => {
      const b = Buffer.from(t);
      return b.length === token.length && timingSafeEqual(b, token);
    });
    return match ? { ok: true } : { ok: false, status: 403, reason: 'The bearer token is not accepted.' };
  }
  const m = /^SharedKey ([^:]+):(.+)$/.exec(auth);
  if (!m) return { ok: false, status: 403, reason: 'The Authorization header is not SharedKey or Bearer.' };
  if (m[1] !== account.name)
    return {
      ok: false,
      status: 403,
      reason: 'The account name in the Authorization header is not this account.',
    };
  const given = Buffer.from(m[2]!, 'base64');
  const key = Buffer.from(account.key, 'base64');
  const tried = new Set<string>();
  let match = false;
  for (const variant of VARIANTS) {
    const text = stringToSign(req, account.name, variant);
    if (tried.has(text)) continue;
    tried.add(text);
    const expected = createHmac('sha256', key).update(text, 'utf8').digest();
    // Every variant is compared (no early exit), in constant time each.
    if (given.length === expected.length && timingSafeEqual(given, expected)) match = true;
  }
  return match ? { ok: true } : { ok: false, status: 403, reason: 'The signature does not match.' };
}
