import type * as grpc from '@grpc/grpc-js';
import { guardDefinition } from './guard';

/**
 * A gRPC service implementation that adds itself to a server it does not own, as
 * grpc-node's `HealthImplementation` does: the composition root collects every one bound
 * and the server adds each, so the server knows no service by name.
 */
export interface GrpcService {
  /** Fully-qualified service name, e.g. `spillway.v1.FrameService`. */
  readonly name: string;
  addToServer(server: grpc.Server): void;
}

/**
 * A {@link GrpcService} of a generated service definition and its handlers. Every request
 * passes the edge guard (decoded and checked against the contract) before a handler sees it.
 */
export function grpcService<Implementation extends grpc.UntypedServiceImplementation>(
  name: string,
  definition: grpc.ServiceDefinition<Implementation>,
  implementation: Implementation,
): GrpcService {
  return {
    name,
    addToServer: (server) => server.addService(guardDefinition(definition), implementation),
  };
}
