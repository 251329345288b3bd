import { Metadata, status } from '@grpc/grpc-js';
import { FailedPreconditionError, UnauthenticatedError, ValidationError } from '../../errors';
import { createLogger, registerSecret } from '../../logging';
import { bearerToken } from './auth';
import { checkListenSecurity, isLoopback } from './server';
import { toServiceError } from './status';

const tls = { certChain: Buffer.from('cert'), privateKey: Buffer.from('key') };
const token = 'a-long-enough-token-0123456789';

describe('listener security', () => {
  it.each(['127.0.0.1', '127.8.9.10', '::1', 'localhost'])('%s is loopback', (h) =>
    expect(isLoopback(h)).toBe(true),
  );
  it.each(['0.0.0.0', '10.0.0.5', '::', '192.168.1.2', 'render-01'])('%s is not loopback', (h) =>
    expect(isLoopback(h)).toBe(false),
  );

  // GIVEN a listen address and security options WHEN checked THEN insecure listeners are refused
  it.each<[string, object, RegExp | null]>([
    ['loopback, nothing else', { listen: '127.0.0.1:0' }, null],
    [
      'all interfaces without TLS',
      { listen: '0.0.0.0:7443' },
      /refusing to listen on 0.0.0.0:7443 without TLS/,
    ],
    [
      'all interfaces, TLS but no client auth',
      { listen: '0.0.0.0:7443', tls },
      /without client authentication/,
    ],
    ['all interfaces, TLS and token', { listen: '0.0.0.0:7443', tls, token }, null],
    [
      'all interfaces, mutual TLS',
      { listen: '[::]:7443', tls: { ...tls, clientCa: Buffer.from('ca') } },
      null,
    ],
    ['a token that is too short', { listen: '127.0.0.1:0', token: 'short' }, /token: must be at least 16/],
    ['no port', { listen: '127.0.0.1' }, /listen: must be HOST:PORT/],
  ])('%s', (_what, options, refused) => {
    if (refused) expect(() => checkListenSecurity(options)).toThrow(refused);
    else expect(() => checkListenSecurity(options)).not.toThrow();
  });

  it('refuses off loopback with a FailedPreconditionError', () => {
    expect(() => checkListenSecurity({ listen: '0.0.0.0:1' })).toThrow(FailedPreconditionError);
  });
});

describe('bearerToken', () => {
  const check = bearerToken(token);
  const md = (value?: string): Metadata => {
    const m = new Metadata();
    if (value !== undefined) m.set('authorization', value);
    return m;
  };

  it('accepts the token', () => expect(() => check(md(`Bearer ${token}`))).not.toThrow());
  it.each([undefined, '', 'Basic abc', `Bearer ${token}x`, 'Bearer x', `bearer ${token.slice(1)}`])(
    'refuses %j as UNAUTHENTICATED without echoing it',
    (value) => {
      let error: unknown;
      try {
        check(md(value));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UnauthenticatedError);
      expect((error as Error).message).not.toContain(token.slice(0, 10));
    },
  );
});

describe('toServiceError', () => {
  const lines: string[] = [];
  const logger = createLogger({ write: (l) => lines.push(l) });

  it('keeps the field path of a validation error as message and metadata', () => {
    const e = toServiceError(
      new ValidationError('frames[2].frame_end', 1, 'must be >= frame_start (5)'),
      logger,
    );
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.details).toBe('frames[2].frame_end: must be >= frame_start (5) (got 1)');
    expect(e.metadata?.get('spillway-field')).toEqual(['frames[2].frame_end']);
  });

  it('turns unknown errors into INTERNAL and never passes a secret on', () => {
    registerSecret(token);
    const e = toServiceError(
      new Error(`upload to https://x/c?sv=1&sig=SIGSECRET failed with ${token}`),
      logger,
    );
    expect(e.code).toBe(status.INTERNAL);
    expect(e.details).not.toMatch(/SIGSECRET/);
    expect(e.details).not.toContain(token);
    expect(lines.join('\n')).not.toMatch(/SIGSECRET/);
    expect(lines.join('\n')).not.toContain(token);
  });
});
