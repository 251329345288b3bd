/**
 * What every client of the service shares: the channel's credentials and options, the
 * bearer token in metadata, unary calls with a deadline, abort and retry on UNAVAILABLE,
 * and typed errors.
 */
import * as grpc from '@grpc/grpc-js';
import { SpillwayError, UnauthenticatedError } from '../errors';
import { redactKnown, registerSecret } from '../logging';
import { retry } from '../retry';
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

/** Longest bearer token sent (the service refuses longer ones; HTTP/2 cannot carry megabytes). */
export const MAX_TOKEN_CHARS = 4000;

/**
 * The metadata of every call: the bearer token, when there is one. A token no service could
 * accept is refused here, at once: sent, a megabyte header stalls the HTTP/2 connection.
 */
export function callMetadata(options: BurstClientOptions): grpc.Metadata {
  const md = new grpc.Metadata();
  if (options.token) {
    if (options.token.length > MAX_TOKEN_CHARS || /[^\x21-\x7e]/.test(options.token)) {
      throw new UnauthenticatedError(
        `the bearer token is ${options.token.length} characters${/[^\x21-\x7e]/.test(options.token) ? ' with spaces or non-ASCII characters' : ''}; ` +
          `a token is at most ${MAX_TOKEN_CHARS} printable ASCII characters`,
      );
    }
    md.set('authorization', `Bearer ${options.token}`);
  }
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
  const signal = options.abortSignal;
  const metadata = callMetadata(client);
  try {
    return await retry(
      () =>
        new Promise<Res>((resolve, reject) => {
          const deadline = new Date(Date.now() + (options.timeoutMs ?? client.callTimeoutMs ?? 30_000));
          const onAbort = (): void => call.cancel();
          const call = method.call(target, request, metadata.clone(), { deadline }, (err, res) => {
            signal?.removeEventListener('abort', onAbort);
            if (err) reject(err);
            else resolve(res);
          });
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
      {
        ...CLIENT_BACKOFF,
        maxAttempts: client.maxAttempts ?? 4,
        retryable: isUnavailable,
        ...(signal ? { abortSignal: signal } : {}),
      },
    );
  } catch (err) {
    if (signal?.aborted && err === signal.reason) throw err;
    throw fromGrpcError(err);
  }
}

/** How clients of the service back off: 200 ms doubling to 2 s, each pause 50-100 % of its step. */
export const CLIENT_BACKOFF = Object.freeze({ initialIntervalMs: 200, maxIntervalMs: 2000, maxJitter: 0.5 });

/** True for UNAVAILABLE: nothing reached the service (or it is restarting), so any Spillway RPC may be sent again. */
export function isUnavailable(err: unknown): boolean {
  return (err as Partial<grpc.ServiceError> | undefined)?.code === grpc.status.UNAVAILABLE;
}
