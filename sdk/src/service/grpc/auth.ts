import { createHash, timingSafeEqual } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import { UnauthenticatedError } from '../../errors';

/** Checks the bearer token of a call. */
export type Authenticator = (metadata: Metadata) => void;

/** Lets every call through: the service listens on loopback only. */
export const allowAll: Authenticator = () => undefined;

/**
 * Requires `authorization: Bearer <token>`. Compares digests with `timingSafeEqual`, so the
 * time taken says nothing about the token, not even its length.
 */
export function bearerToken(token: string): Authenticator {
  const expected = createHash('sha256').update(token).digest();
  return (metadata) => {
    const header = metadata.get('authorization')[0];
    const match = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header) : null;
    if (!match) throw new UnauthenticatedError('missing bearer token: send "authorization: Bearer <token>"');
    const given = createHash('sha256').update(match[1]!).digest();
    if (!timingSafeEqual(given, expected)) throw new UnauthenticatedError('invalid bearer token');
  };
}
