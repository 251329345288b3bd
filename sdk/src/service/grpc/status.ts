import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { SpillwayError, ValidationError } from '../../errors';
import type { Logger } from '../../logging';
import { redactKnown } from '../../logging';

const codes: Record<string, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  DATA_LOSS: status.DATA_LOSS,
  UNAVAILABLE: status.UNAVAILABLE,
};

/** Longest status message sent (characters); a longer one is cut, saying so. */
const MAX_DETAILS = 2000;
/** Longest metadata value sent (characters). */
const MAX_METADATA_VALUE = 512;

/**
 * A value any gRPC metadata accepts: printable ASCII, others escaped as `\uXXXX` (a field
 * path may quote a client's map key, e.g. `job.environment["é"]`), at most 512 characters.
 */
export function metadataValue(text: string): string {
  const ascii = text.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return ascii.length > MAX_METADATA_VALUE ? `${ascii.slice(0, MAX_METADATA_VALUE - 3)}...` : ascii;
}

function details(message: string): string {
  const text = redactKnown(message);
  return text.length > MAX_DETAILS ? `${text.slice(0, MAX_DETAILS - 3)}...` : text;
}

/**
 * Maps a domain error to a gRPC status: typed errors to their code (INVALID_ARGUMENT keeps
 * the field path in its message and in `spillway-field` metadata), anything else to INTERNAL
 * with a redacted message. Never leaks a secret, and never throws: whatever the error holds,
 * the call gets a status.
 */
export function toServiceError(err: unknown, logger: Logger): Partial<ServiceError> {
  try {
    if (err instanceof SpillwayError && codes[err.code] !== undefined) {
      const metadata = new Metadata();
      if (err instanceof ValidationError) metadata.set('spillway-field', metadataValue(err.field));
      return { code: codes[err.code], details: details(err.message), metadata };
    }
    const message = err instanceof Error ? err.message : String(err);
    logger.error('internal error', { error: message });
    return { code: status.INTERNAL, details: details(`internal error: ${message}`) };
  } catch (mappingError) {
    try {
      logger.error('mapping an error to a status failed', { error: String(mappingError) });
    } catch {
      // the logger itself failed: the status below is all that is left
    }
    return { code: status.INTERNAL, details: 'internal error (its message could not be sent)' };
  }
}
