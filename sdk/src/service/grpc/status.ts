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

/**
 * Maps a domain error to a gRPC status: typed errors to their code (INVALID_ARGUMENT keeps
 * the field path in its message and in `field` metadata), anything else to INTERNAL with a
 * redacted message. Never leaks a secret.
 */
export function toServiceError(err: unknown, logger: Logger): Partial<ServiceError> {
  if (err instanceof SpillwayError && codes[err.code] !== undefined) {
    const metadata = new Metadata();
    if (err instanceof ValidationError) metadata.set('spillway-field', err.field);
    return { code: codes[err.code], details: redactKnown(err.message), metadata };
  }
  const message = err instanceof Error ? err.message : String(err);
  logger.error('internal error', { error: message });
  return { code: status.INTERNAL, details: redactKnown(`internal error: ${message}`) };
}
