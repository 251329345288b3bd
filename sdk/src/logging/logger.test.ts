import { createLogger, REDACTED_FIELDS } from './logger';
import { registerSecret } from './redact';

function capture(format: 'text' | 'json', level: 'debug' | 'info' = 'info') {
  const lines: string[] = [];
  const log = createLogger({ format, level, name: 'test', write: (l) => lines.push(l) });
  return { log, lines };
}

describe('createLogger (pino)', () => {
  it('writes one JSON object per line with level, time, name, message and the fields', () => {
    const { log, lines } = capture('json');
    log.info('listening', { address: '127.0.0.1:7443', tls: false, nested: { n: 1 } });
    expect(lines).toHaveLength(1);
    const o = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(o).toMatchObject({
      level: 'info',
      name: 'test',
      message: 'listening',
      address: '127.0.0.1:7443',
      tls: false,
      nested: { n: 1 },
    });
    expect(new Date(o.time as string).getTime()).toBeGreaterThan(0);
  });

  it('writes text lines for people', () => {
    const { log, lines } = capture('text');
    log.warn('resize failed', { group: 'nightly', code: 409 });
    expect(lines[0]).toMatch(
      /^\d{4}-\d\d-\d\dT[\d:.]+Z WARN {2}\[test\] resize failed group=nightly code=409$/,
    );
  });

  it('drops lines below the level', () => {
    const { log, lines } = capture('json', 'info');
    log.debug('hidden');
    log.error('shown');
    expect(lines.map((l) => (JSON.parse(l) as { message: string }).message)).toEqual(['shown']);
  });

  // GIVEN a field named like a secret, at the top or one level down
  // WHEN it is logged THEN its value is censored by path, whatever its shape, and the line stays JSON
  it.each(REDACTED_FIELDS.map((f) => [f]))('censors the field %s by path', (field) => {
    const { log, lines } = capture('json');
    log.info('call', {
      [field]: { any: 'Shape-0123456789' },
      outer: { [field]: 'Plain-0123456789' },
      keep: 'kept',
    });
    const o = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(o[field]).toBe('REDACTED');
    expect((o.outer as Record<string, unknown>)[field]).toBe('REDACTED');
    expect(o.keep).toBe('kept');
    expect(lines[0]).not.toMatch(/Shape-|Plain-/);
  });

  it('removes secrets found by pattern in the message and in every nested string, errors included', () => {
    registerSecret('registered-secret-value-42');
    const { log, lines } = capture('json');
    log.error('upload to https://a/c/b?sv=1&sig=SIGSECRET failed', {
      detail: ['AccountKey=KEYSECRET;', { deep: { deeper: 'Bearer TOKSECRET' } }],
      error: new Error('refused registered-secret-value-42'),
    });
    expect(lines[0]).not.toMatch(/SIGSECRET|KEYSECRET|TOKSECRET|registered-secret-value-42/);
    const o = JSON.parse(lines[0]!) as { error: { type: string; message: string } };
    expect(o.error).toEqual({ type: 'Error', message: 'refused REDACTED' });
  });
});
