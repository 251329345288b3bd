import type {
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  ServerUnaryCall,
  ServerWritableStream,
  ServerReadableStream,
} from '@grpc/grpc-js';
import type { Logger } from '../../logging';
import type { Metadata } from '@grpc/grpc-js';
import { checkMetadata, type Authenticator } from './auth';
import { refusal } from './guard';
import { toServiceError } from './status';

/** What every handler needs: who may call, and where errors are logged. */
export interface HandlerContext {
  readonly authenticate: Authenticator;
  readonly logger: Logger;
}

/**
 * What every call goes through before its handler: metadata within limits, the caller
 * authenticated, and the request past the guard (see `guardDefinition`).
 */
function admit(ctx: HandlerContext, metadata: Metadata, request: unknown): void {
  checkMetadata(metadata);
  ctx.authenticate(metadata);
  const refused = refusal(request);
  if (refused) throw refused;
}

/** A unary handler from an async function: admits the call, runs, maps errors. */
export function unary<Req, Res>(
  ctx: HandlerContext,
  fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => {
        admit(ctx, call.metadata, call.request);
        return fn(call.request, call);
      })
      .then(
        (res) => callback(null, res),
        (err: unknown) => callback(toServiceError(err, ctx.logger)),
      );
  };
}

/** A server-streaming handler from an async function that writes to the call; a failure ends it with its status. */
export function serverStream<Req, Res>(
  ctx: HandlerContext,
  fn: (call: ServerWritableStream<Req, Res>) => Promise<void>,
): handleServerStreamingCall<Req, Res> {
  return (call) => {
    Promise.resolve()
      .then(() => {
        admit(ctx, call.metadata, call.request);
        return fn(call);
      })
      .then(
        () => call.end(),
        (err: unknown) => {
          // Emitted as the stream's `error`, grpc-js sends it as the call's status (a
          // destroyed stream would end without one, and the client wait for its deadline).
          if (!call.cancelled)
            call.emit('error', Object.assign(new Error(), toServiceError(err, ctx.logger)));
        },
      );
  };
}

/**
 * A client-streaming handler from an async function that reads the call (by async
 * iteration): a message the guard refused ends the read with its INVALID_ARGUMENT.
 */
export function clientStream<Req, Res>(
  ctx: HandlerContext,
  fn: (call: ServerReadableStream<Req, Res>) => Promise<Res>,
): handleClientStreamingCall<Req, Res> {
  return (call, callback) => {
    const iterate = call[Symbol.asyncIterator].bind(call);
    call[Symbol.asyncIterator] = async function* checked(): AsyncGenerator<Req> {
      for await (const message of iterate() as AsyncIterable<Req>) {
        const refused = refusal(message);
        if (refused) throw refused;
        yield message;
      }
    } as unknown as (typeof call)[typeof Symbol.asyncIterator];
    Promise.resolve()
      .then(() => {
        admit(ctx, call.metadata, undefined);
        return fn(call);
      })
      .then(
        (res) => callback(null, res),
        (err: unknown) => callback(toServiceError(err, ctx.logger)),
      );
  };
}

/** An AbortSignal that fires when the client cancels the call. */
export function abortOf(call: { on(event: 'cancelled', l: () => void): unknown }): AbortSignal {
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort());
  return controller.signal;
}

/** Resolves when a stream that refused a write can take more, or its client went away. */
export function drained(call: ServerWritableStream<unknown, unknown>): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      call.off('cancelled', done);
      resolve();
    };
    call.on('drain', done);
    call.on('cancelled', done);
  });
}
