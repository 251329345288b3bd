/**
 * A gRPC relay in front of a real Spillway service, for the OpenCue tests that need a call the
 * service takes but whose answer never reaches the caller.
 */
import * as grpc from '@grpc/grpc-js';
import { wire } from '@spillway/sdk';

const identity = (b: Buffer): Buffer => b;

/** What the relay did with a unary call it held: the service's answer, and whether the caller gave up. */
export interface HeldCall {
  readonly answered: Promise<grpc.ServiceError | null>;
  readonly gaveUp: Promise<void>;
}

/**
 * A relay of the unary and server-streaming calls of `spillway.v1` to `target`. A unary call
 * `hold(path)` picks goes on to the service, but its answer is kept from the caller, who can
 * only give up (its deadline); `held` lists those calls.
 */
export async function startRelay(
  target: string,
  hold: (path: string) => boolean,
): Promise<{ address: string; held: HeldCall[]; close(): void }> {
  const held: HeldCall[] = [];
  const upstream = new grpc.Client(target, grpc.credentials.createInsecure());
  const server = new grpc.Server();
  const services = [
    wire.frames.FrameServiceService,
    wire.burst.BurstServiceService,
    wire.capacity.CapacityServiceService,
    wire.assets.AssetServiceService,
  ];
  for (const service of services) {
    const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(service as grpc.ServiceDefinition)) {
      if (method.requestStream) continue; // the virtual host streams nothing up
      definition[name] = {
        ...method,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      };
      handlers[name] = method.responseStream
        ? (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
            const up = upstream.makeServerStreamRequest(
              method.path,
              identity,
              identity,
              call.request,
              call.metadata,
            );
            up.on('data', (b: Buffer) => call.write(b));
            up.on('error', (e: grpc.ServiceError) => call.destroy(e));
            up.on('end', () => call.end());
            call.on('cancelled', () => up.cancel());
          }
        : (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
            if (!hold(method.path)) {
              upstream.makeUnaryRequest(
                method.path,
                identity,
                identity,
                call.request,
                call.metadata,
                callback,
              );
              return;
            }
            const gaveUp = new Promise<void>((resolve) => call.on('cancelled', () => resolve()));
            const answered = new Promise<grpc.ServiceError | null>((resolve) =>
              upstream.makeUnaryRequest(method.path, identity, identity, call.request, call.metadata, (err) =>
                resolve(err),
              ),
            );
            held.push({ answered, gaveUp });
          };
    }
    server.addService(definition, handlers);
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    held,
    close() {
      server.forceShutdown();
      upstream.close();
    },
  };
}
