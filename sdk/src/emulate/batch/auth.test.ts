import { createHmac } from 'node:crypto';
import { checkAuthorization, parseQuery, stringToSign, type SignedRequest } from './auth';

const account = { name: 'acct', key: Buffer.from('0123456789abcdef0123456789abcdef').toString('base64') };

function signed(req: SignedRequest, key = account.key): SignedRequest {
  const sig = createHmac('sha256', Buffer.from(key, 'base64'))
    .update(stringToSign(req, account.name))
    .digest('base64');
  return { ...req, headers: { ...req.headers, authorization: `SharedKey ${account.name}:${sig}` } };
}

const base: SignedRequest = {
  method: 'GET',
  url: "/jobs/j/tasks?api-version=2022-10-01.16.0&%24filter=state%20eq%20'active'",
  headers: { 'ocp-date': 'Sun, 22 Nov 2026 10:00:00 GMT', 'content-type': 'application/json; charset=utf-8' },
};

describe('SharedKey', () => {
  it('GIVEN a GET with a filter WHEN canonicalized THEN the query is decoded and sorted after /account/path', () => {
    expect(stringToSign(base, 'acct')).toBe(
      'GET\n\n\n\n\napplication/json; charset=utf-8\n\n\n\n\n\n\nocp-date:Sun, 22 Nov 2026 10:00:00 GMT\n' +
        "/acct/jobs/j/tasks\n$filter:state eq 'active'\napi-version:2022-10-01.16.0",
    );
    expect(parseQuery('a=1&b=x+y&a=2')).toEqual({ a: '1', b: 'x y' });
  });

  it.each([
    ['the path', { ...base, url: base.url.replace('/j/', '/k/') }],
    ['the query', { ...base, url: base.url.replace('active', 'running') }],
    [
      'an ocp- header',
      { ...base, headers: { ...base.headers, 'ocp-date': 'Mon, 23 Nov 2026 10:00:00 GMT' } },
    ],
    ['the verb', { ...base, method: 'DELETE' }],
  ])('GIVEN a signed request WHEN %s changes in transit THEN 403', (_what, tampered) => {
    const good = signed(base);
    expect(checkAuthorization(good, account)).toEqual({ ok: true });
    const bad = { ...tampered, headers: { ...tampered.headers, authorization: good.headers.authorization } };
    expect(checkAuthorization(bad, account)).toMatchObject({ ok: false, status: 403 });
  });

  it('GIVEN no header, another key or another account WHEN checked THEN refused without echoing the key', () => {
    expect(checkAuthorization(base, account)).toMatchObject({ ok: false, status: 401 });
    const other = signed(base, Buffer.from('another-key-another-key-another!').toString('base64'));
    const r = checkAuthorization(other, account);
    expect(r).toMatchObject({ ok: false, status: 403 });
    expect(JSON.stringify(r)).not.toContain(account.key);
    expect(checkAuthorization(signed(base), { ...account, name: 'other' })).toMatchObject({ ok: false });
    expect(
      checkAuthorization(
        { ...base, headers: { authorization: 'Bearer t' } },
        { ...account, bearerTokens: ['t'] },
      ),
    ).toEqual({ ok: true });
  });
});

describe("SharedKey as each of Microsoft's clients signs it", () => {
  // The Python SDK (and `az`) signs every header as sent, so a bodiless DELETE carries
  // `Content-Length: 0` and signs "0"; @azure/batch signs an empty line there. And the
  // Python SDK leaves query parameters with an empty value out of the string.
  const python = (req: SignedRequest): SignedRequest => {
    const q = req.url.indexOf('?');
    const query = q < 0 ? {} : parseQuery(req.url.slice(q + 1));
    let s = `${req.method}\n`;
    const h = (n: string): string => String(req.headers[n] ?? '');
    s +=
      [
        'content-encoding',
        'content-language',
        'content-length',
        'content-md5',
        'content-type',
        'date',
        'if-modified-since',
        'if-match',
        'if-none-match',
        'if-unmodified-since',
        'range',
      ]
        .map(h)
        .join('\n') + '\n';
    for (const name of Object.keys(req.headers)
      .filter((n) => n.startsWith('ocp-'))
      .sort())
      s += `${name}:${h(name)}\n`;
    s += `/${account.name}${q < 0 ? req.url : req.url.slice(0, q)}`;
    for (const name of Object.keys(query).sort()) if (query[name]) s += `\n${name}:${query[name]}`;
    const sig = createHmac('sha256', Buffer.from(account.key, 'base64')).update(s).digest('base64');
    return { ...req, headers: { ...req.headers, authorization: `SharedKey ${account.name}:${sig}` } };
  };
  const del: SignedRequest = {
    method: 'DELETE',
    url: '/jobs/j1?api-version=2022-10-01.16.0&timeout=',
    headers: { 'ocp-date': 'Sun, 22 Nov 2026 10:00:00 GMT', 'content-length': '0' },
  };

  it.each([
    ['the Python SDK / az (length "0", empty query values left out)', python(del)],
    ['@azure/batch (length empty for a DELETE)', signed({ ...del, headers: { ...del.headers } })],
  ])('GIVEN a DELETE with Content-Length 0 signed by %s WHEN checked THEN accepted', (_who, req) => {
    expect(checkAuthorization(req, account)).toEqual({ ok: true });
  });

  it('GIVEN the Python signature WHEN the body length changes in transit THEN 403', () => {
    const good = python(del);
    const bad = { ...good, headers: { ...good.headers, 'content-length': '7' } };
    expect(checkAuthorization(bad, account)).toMatchObject({ ok: false, status: 403 });
  });

  it('GIVEN a request WHEN canonicalized as each client does THEN the length line differs only there', () => {
    expect(stringToSign(del, 'acct', { zeroLength: 'asSent' }).split('\n')[3]).toBe('0');
    expect(stringToSign(del, 'acct', { zeroLength: 'empty' }).split('\n')[3]).toBe('');
    expect(stringToSign(del, 'acct', { emptyQueryValues: false })).not.toContain('timeout:');
    expect(stringToSign(del, 'acct')).toContain('\ntimeout:');
  });
});
