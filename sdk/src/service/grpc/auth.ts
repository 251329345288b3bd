import { createHash, timingSafeEqual } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import { ResourceExhaustedError, UnauthenticatedError } from '../../errors';

/** Checks the bearer token of a call. */
export type Authenticator = (metadata: Metadata) => void;

/** Limits on what a call's metadata (HTTP/2 headers) may carry. */
export const METADATA_LIMITS = {
  /** Characters of an `authorization` header: longer is no token this service issued. */
  maxAuthorizationChars: 4096,
  /** Bytes of all metadata (names and values) of one call. */
  maxMetadataBytes: 16 * 1024,
} as const;

/**
 * Refuses oversized metadata before anything else reads it: an `authorization` header over
 * 4,096 characters answers UNAUTHENTICATED, more than 16 KiB of metadata in all
 * RESOURCE_EXHAUSTED, both at once. (Headers past what HTTP/2 decodes, 64 KiB per field,
 * never reach the service: HTTP/2 resets the connection.)
 */
export function checkMetadata(metadata: Metadata): void {
  let bytes = 0;
  for (const [name, values] of Object.entries(metadata.toHttp2Headers())) {
    for (const value of Array.isArray(values) ? values : [values]) {
      const length = String(value ?? '').length;
      if (name === 'authorization' && length > METADATA_LIMITS.maxAuthorizationChars) {
        throw new UnauthenticatedError(
          `the authorization header is ${length} characters; a bearer token is at most ${METADATA_LIMITS.maxAuthorizationChars}`,
        );
      }
      bytes += name.length + length;
    }
  }
  if (bytes > METADATA_LIMITS.maxMetadataBytes) {
    throw new ResourceExhaustedError(
      `the call carries ${bytes} bytes of metadata; at most ${METADATA_LIMITS.maxMetadataBytes} are accepted`,
    );
  }
}

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
    if (!match) {
      throw new UnauthenticatedError('missing bearer token; send the header "authorization: Bearer <token>"');
    }
    const given = createHash('sha256').update(match[1]!).digest();
    if (!timingSafeEqual(given, expected)) throw new UnauthenticatedError('invalid bearer token');
  };
}
