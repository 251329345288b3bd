import type { Server } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath, type ServingStatus } from 'grpc-health-check';
import { SPILLWAY_V1_DESCRIPTOR_SET_BASE64, SPILLWAY_V1_SERVICE_NAMES } from '../wire';

/** The standard gRPC introspection services a Spillway server carries, so stock tools work. */
export interface Introspection {
  /** `grpc.health.v1.Health`: "" (the whole server) and each `spillway.v1` service. */
  readonly health: HealthImplementation;
  /** Marks the whole server and every `spillway.v1` service as serving or not. */
  setServing(serving: boolean): void;
}

const loaderOptions: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true };

/**
 * Adds gRPC health checking and server reflection (v1 and v1alpha) to a server. Like the
 * grpc-node health service, it never owns the server: the caller starts and stops it.
 * Every service starts as NOT_SERVING until `setServing(true)`.
 */
export function addIntrospection(server: Server): Introspection {
  const statuses: Record<string, ServingStatus> = { '': 'NOT_SERVING' };
  for (const name of SPILLWAY_V1_SERVICE_NAMES) statuses[name] = 'NOT_SERVING';
  const health = new HealthImplementation(statuses);
  health.addToServer(server);

  const healthDefinition = protoLoader.loadSync(healthProtoPath, loaderOptions);
  new ReflectionService({
    ...healthDefinition,
    ...filesAsDefinition(Buffer.from(SPILLWAY_V1_DESCRIPTOR_SET_BASE64, 'base64')),
  }).addToServer(server);

  return {
    health,
    setServing(serving) {
      const status: ServingStatus = serving ? 'SERVING' : 'NOT_SERVING';
      for (const name of Object.keys(statuses)) health.setStatus(name, status);
    },
  };
}

/**
 * The files of a `FileDescriptorSet` as the reflection service reads a package definition.
 * proto-loader merges the files of one package into one (it would serve every
 * `spillway.v1` symbol as `spillway/v1/frames.proto`, and `burst.proto` not at all), so
 * the reflection service gets each file as compiled: served by its own name, with its own
 * imports.
 */
function filesAsDefinition(descriptorSet: Uint8Array): protoLoader.PackageDefinition {
  const definition: Record<string, unknown> = {};
  const reader = new BinaryReader(descriptorSet);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) {
      // `repeated FileDescriptorProto file = 1`: the reflection service only reads fileDescriptorProtos.
      definition[`file ${Object.keys(definition).length}`] = { fileDescriptorProtos: [reader.bytes()] };
    } else reader.skip(wireType);
  }
  return definition as protoLoader.PackageDefinition;
}
