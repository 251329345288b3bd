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

/**
 * The string Azure Batch's SharedKey scheme signs: verb, the standard headers, the `ocp-`
 * headers sorted, then `/account/path` and the sorted decoded query parameters.
 */
export function stringToSign(req: SignedRequest, accountName: string): string {
  const method = req.method.toUpperCase();
  let length = header(req.headers, 'content-length');
  if (length === '0' && method !== 'POST' && method !== 'PUT' && method !== 'PATCH') length = '';
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
  for (const name of Object.keys(query).sort()) s += `\n${name}:${query[name]}`;
  return s;
}

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
  const expected = createHmac('sha256', Buffer.from(account.key, 'base64'))
    .update(stringToSign(req, account.name), 'utf8')
    .digest();
  const given = Buffer.from(m[2]!, 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, status: 403, reason: 'The signature does not match.' };
  }
  return { ok: true };
}
