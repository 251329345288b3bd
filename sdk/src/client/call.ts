/**
 * What every client of the service shares: the channel's credentials and options, the
 * bearer token in metadata, unary calls with a deadline, abort and retry on UNAVAILABLE,
 * and typed errors.
 */
import * as grpc from '@grpc/grpc-js';
import { SpillwayError } from '../errors';
import { redactKnown, registerSecret } from '../logging';
import type { BurstClientOptions, CallOptions } from './burst-client';
import { TlsChannelCredentials } from './tls';

/** An error the service answered with, typed by its gRPC status. The gRPC error is the `cause`. */
export class BurstServiceError extends SpillwayError {
  constructor(
    message: string,
    code: string,
    /** The gRPC status number. */
    readonly status: grpc.status,
    /** For INVALID_ARGUMENT: the offending field's path. */
    readonly field: string | undefined,
    cause: unknown,
  ) {
    super(message, code, { cause });
  }
}

/** The typed error for a gRPC failure. */
export function fromGrpcError(err: unknown): BurstServiceError {
  const e = err as Partial<grpc.ServiceError>;
  const status = e.code ?? grpc.status.UNKNOWN;
  const field = e.metadata?.get('spillway-field')[0];
  return new BurstServiceError(
    redactKnown(e.details || e.message || 'call failed'),
    grpc.status[status] ?? 'UNKNOWN',
    status,
    typeof field === 'string' ? field : undefined,
    err,
  );
}

/** The largest message a client sends or receives unless told otherwise (the service's default too). */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Credentials and channel options for a client's options (registers the token as a secret). */
export function channelSetup(options: BurstClientOptions): {
  credentials: grpc.ChannelCredentials;
  channelOptions: grpc.ChannelOptions;
} {
  if (options.token) registerSecret(options.token);
  const credentials = options.tls
    ? new TlsChannelCredentials(options.tls)
    : grpc.credentials.createInsecure();
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  return {
    credentials,
    channelOptions: {
      'grpc.max_receive_message_length': maxBytes,
      'grpc.max_send_message_length': maxBytes,
      ...(options.tls?.serverName ? { 'grpc.ssl_target_name_override': options.tls.serverName } : {}),
    },
  };
}

/** The metadata of every call: the bearer token, when there is one. */
export function callMetadata(options: BurstClientOptions): grpc.Metadata {
  const md = new grpc.Metadata();
  if (options.token) md.set('authorization', `Bearer ${options.token}`);
  return md;
}

/** A generated client's unary method. */
export type UnaryMethod<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  opts: Partial<grpc.CallOptions>,
  cb: (e: grpc.ServiceError | null, r: Res) => void,
) => grpc.ClientUnaryCall;

/**
 * One unary call on `target`: a deadline, cancelled by `abortSignal`, retried with backoff
 * on UNAVAILABLE (every Spillway RPC is idempotent); failures are `BurstServiceError`s.
 */
export async function callUnary<Req, Res>(
  target: grpc.Client,
  method: UnaryMethod<Req, Res>,
  request: Req,
  options: CallOptions,
  client: BurstClientOptions,
): Promise<Res> {
  const attempts = client.maxAttempts ?? 4;
  for (let attempt = 1; ; attempt++) {
    options.abortSignal?.throwIfAborted();
    try {
      return await new Promise<Res>((resolve, reject) => {
        const deadline = new Date(Date.now() + (options.timeoutMs ?? client.callTimeoutMs ?? 30_000));
        const onAbort = (): void => call.cancel();
        const call = method.call(target, request, callMetadata(client), { deadline }, (err, res) => {
          options.abortSignal?.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve(res);
        });
        options.abortSignal?.addEventListener('abort', onAbort, { once: true });
      });
    } catch (err) {
      const e = err as grpc.ServiceError;
      if (e.code === grpc.status.UNAVAILABLE && attempt < attempts && !options.abortSignal?.aborted) {
        await backoff(attempt, 2000, options.abortSignal);
        continue;
      }
      throw fromGrpcError(err);
    }
  }
}

/** Waits before retry `attempt` (exponential, jittered, at most `maxMs`); ends early on abort. */
export function backoff(attempt: number, maxMs: number, signal?: AbortSignal): Promise<void> {
  const ms = Math.min(maxMs, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
