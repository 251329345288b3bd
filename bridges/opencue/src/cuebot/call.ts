/**
 * One unary gRPC call with a deadline, bounded retries with backoff and jitter for faults
 * that are safe to retry, and an abort path. Shared by the Cuebot client, the RQD side of
 * the virtual host and the testing harness.
 */
import * as grpc from '@grpc/grpc-js';
import { retry, SpillwayError } from '@spillway/sdk';

/** Options of one call. */
export interface UnaryCallOptions {
  /** Deadline of each attempt. @default 10000 */
  readonly timeoutMs?: number;
  /** Attempts in all. @default 4 */
  readonly maxAttempts?: number;
  /**
   * Whether the call may be repeated after DEADLINE_EXCEEDED (the server may have acted).
   * UNAVAILABLE (nothing reached the server) is always retried.
   * @default false
   */
  readonly idempotent?: boolean;
  /** Longest pause between attempts. @default 2000 */
  readonly maxBackoffMs?: number;
  readonly abortSignal?: AbortSignal;
}

/** A failed OpenCue call, typed by its gRPC status; the gRPC error is the `cause`. */
export class OpenCueCallError extends SpillwayError {
  constructor(
    /** `package.Service/Method`. */
    readonly method: string,
    /** The gRPC status. */
    readonly status: grpc.status,
    message: string,
    cause: unknown,
  ) {
    super(`${method}: ${message}`, grpc.status[status] ?? 'UNKNOWN', { cause });
  }

  /** True when the thing asked for does not exist. */
  get notFound(): boolean {
    return this.status === grpc.status.NOT_FOUND;
  }
}

type UnaryMethod = (
  request: unknown,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (err: grpc.ServiceError | null, response: unknown) => void,
) => grpc.ClientUnaryCall;

/** Calls `method` of `client` (a loaded OpenCue service client). */
export async function unaryCall<Res>(
  client: grpc.Client,
  serviceName: string,
  method: string,
  request: unknown,
  options: UnaryCallOptions = {},
): Promise<Res> {
  const fn = (client as unknown as Record<string, UnaryMethod>)[method];
  if (typeof fn !== 'function') throw new Error(`${serviceName} has no method ${method}`);
  const label = `${serviceName}/${method}`;
  const signal = options.abortSignal;
  try {
    return await retry(
      () =>
        new Promise<Res>((resolve, reject) => {
          const deadline = new Date(Date.now() + (options.timeoutMs ?? 10_000));
          const onAbort = (): void => call.cancel();
          const call = fn.call(client, request, new grpc.Metadata(), { deadline }, (err, res) => {
            signal?.removeEventListener('abort', onAbort);
            if (err) reject(err);
            else resolve(res as Res);
          });
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
      {
        maxAttempts: options.maxAttempts ?? 4,
        initialIntervalMs: 200,
        maxIntervalMs: options.maxBackoffMs ?? 2000,
        maxJitter: 0.5,
        retryable: (err) => {
          const code = (err as grpc.ServiceError).code;
          return (
            code === grpc.status.UNAVAILABLE ||
            code === grpc.status.RESOURCE_EXHAUSTED ||
            (options.idempotent === true && code === grpc.status.DEADLINE_EXCEEDED)
          );
        },
        ...(signal ? { abortSignal: signal } : {}),
      },
    );
  } catch (err) {
    if (signal?.aborted && err === signal.reason) {
      throw new OpenCueCallError(label, grpc.status.CANCELLED, 'aborted', err);
    }
    const e = err as grpc.ServiceError;
    throw new OpenCueCallError(
      label,
      e.code ?? grpc.status.UNKNOWN,
      e.details || e.message || 'call failed',
      err,
    );
  }
}
