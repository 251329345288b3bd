import { createLogger } from './logger';
import { redact, redactKnown, registerSecret } from './redact';

describe('redact', () => {
  // GIVEN text carrying a secret WHEN redacted THEN the secret is gone and the rest stays
  it.each([
    ['https://a.blob.core.windows.net/c/b?sv=2022&sig=abc%2Fdef&se=1', 'abc%2Fdef', 'sv=2022'],
    [
      'DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=Eby8vdM02x==;BlobEndpoint=x',
      'Eby8vdM02x==',
      'AccountName=dev',
    ],
    ['authorization: Bearer eyJhbGciOi.payload.sig', 'eyJhbGciOi.payload.sig', 'authorization'],
    ['Authorization: SharedKey acct:c2VjcmV0c2lnbmF0dXJl', 'c2VjcmV0c2lnbmF0dXJl', 'acct'],
    ['https://user:hunter2@deadline:8081/api', 'hunter2', 'user'],
    ['{"password":"hunter2","user":"bob"}', 'hunter2', 'bob'],
    ['token=abcdef123456 job=1', 'abcdef123456', 'job=1'],
  ])('%s', (text, secret, kept) => {
    const out = redact(text);
    expect(out).not.toContain(secret);
    expect(out).toContain('REDACTED');
    expect(out).toContain(kept);
  });

  // GIVEN prose about credentials WHEN redacted THEN it reads the same (nothing garbled)
  it.each([
    'invalid bearer token',
    'missing bearer token; send the header "authorization: Bearer <token>"',
    'the bearer credentials were refused',
  ])('leaves %j alone', (text) => {
    expect(redact(text)).toBe(text);
  });

  it('removes registered secret values wherever they appear, and leaves other text alone', () => {
    registerSecret('s3cr3t-t0ken-value');
    expect(redactKnown('unexpected s3cr3t-t0ken-value in text')).toBe('unexpected REDACTED in text');
    expect(redactKnown('nothing secret here')).toBe('nothing secret here');
  });

  it('the logger never writes a secret', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l), format: 'json' });
    log.info('uploading', { url: 'https://x/c?sv=1&sig=SECRETSIG', note: 'AccountKey=SECRETKEY;' });
    log.error('failed', { error: 'Bearer SECRETTOKEN rejected' });
    expect(lines).toHaveLength(2);
    expect(lines.join('\n')).not.toMatch(/SECRETSIG|SECRETKEY|SECRETTOKEN/);
  });
});
