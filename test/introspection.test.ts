import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as descriptor from 'protobufjs/ext/descriptor';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { addIntrospection, type Introspection } from '@spillway/sdk/service';

// GIVEN a real grpc-js server on an ephemeral loopback port carrying Spillway's
// introspection (health + reflection)
// WHEN stock clients query it
// THEN health answers per service and reflection lists and describes spillway.v1.

const loaderOptions: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true };

type Ctor = new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client;

function clientCtor(protoFile: string, qualifiedName: string, includeDirs: string[] = []): Ctor {
  const loaded = grpc.loadPackageDefinition(
    protoLoader.loadSync(protoFile, { ...loaderOptions, includeDirs }),
  );
  let node: unknown = loaded;
  for (const part of qualifiedName.split('.')) node = (node as Record<string, unknown>)[part];
  return node as Ctor;
}

interface HealthClient extends grpc.Client {
  check(
    req: { service: string },
    cb: (err: grpc.ServiceError | null, res?: { status: string }) => void,
  ): grpc.ClientUnaryCall;
}

function check(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) =>
    client.check({ service }, (err, res) => (err ? reject(err) : resolve(res!.status))),
  );
}

const reflectionProto = path.join(
  path.dirname(require.resolve('@grpc/reflection/package.json')),
  'build/proto/grpc/reflection/v1/reflection.proto',
);

describe('health and reflection on a real server', () => {
  let server: grpc.Server;
  let introspection: Introspection;
  let address: string;
  let health: HealthClient;

  beforeAll(async () => {
    server = new grpc.Server();
    introspection = addIntrospection(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    address = `127.0.0.1:${port}`;
    health = new (clientCtor(healthProtoPath, 'grpc.health.v1.Health'))(
      address,
      grpc.credentials.createInsecure(),
    ) as HealthClient;
  });

  afterAll(async () => {
    health.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });

  it('reports NOT_SERVING until started, then SERVING, and NOT_FOUND for unknown services', async () => {
    expect(await check(health, '')).toBe('NOT_SERVING');
    expect(await check(health, 'spillway.v1.FrameService')).toBe('NOT_SERVING');

    introspection.setServing(true);

    expect(await check(health, '')).toBe('SERVING');
    for (const service of [
      'CapacityService',
      'BurstService',
      'FrameService',
      'AssetService',
      'CostService',
    ]) {
      expect(await check(health, `spillway.v1.${service}`)).toBe('SERVING');
    }
    await expect(check(health, 'spillway.v1.NoSuchService')).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
  });

  it('lists and describes the spillway.v1 services through reflection v1', async () => {
    const Reflection = clientCtor(reflectionProto, 'grpc.reflection.v1.ServerReflection');
    const client = new Reflection(address, grpc.credentials.createInsecure()) as grpc.Client & {
      serverReflectionInfo(): grpc.ClientDuplexStream<Record<string, unknown>, Record<string, unknown>>;
    };
    const call = client.serverReflectionInfo();
    const responses: Record<string, unknown>[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (r: Record<string, unknown>) => responses.push(r));
      call.on('end', resolve);
      call.on('error', reject);
    });
    call.write({ list_services: '' });
    call.write({ file_containing_symbol: 'spillway.v1.FrameService' });
    call.end();
    await done;
    client.close();

    const listed = (responses[0]!.list_services_response as { service: { name: string }[] }).service.map(
      (s) => s.name,
    );
    expect(listed).toEqual(
      expect.arrayContaining([
        'spillway.v1.CapacityService',
        'spillway.v1.BurstService',
        'spillway.v1.FrameService',
        'spillway.v1.AssetService',
        'grpc.health.v1.Health',
      ]),
    );

    const files = (responses[1]!.file_descriptor_response as { file_descriptor_proto: Buffer[] })
      .file_descriptor_proto;
    const decoded = files.map((bytes) => descriptor.FileDescriptorProto.decode(bytes)) as unknown as {
      name: string;
      service: { name: string; method: { name: string; serverStreaming?: boolean }[] }[];
    }[];
    const frames = decoded.find((f) => f.name === 'spillway/v1/frames.proto');
    expect(frames).toBeDefined();
    const methods = frames!.service.find((s) => s.name === 'FrameService')!.method;
    expect(methods.map((m) => m.name)).toEqual(
      expect.arrayContaining(['SubmitFrames', 'WatchFrames', 'RecallFrames', 'CancelJob']),
    );
    expect(methods.find((m) => m.name === 'WatchFrames')!.serverStreaming).toBe(true);
  });
  it('serves every spillway.v1 file by its name, with its imports, and each symbol from its own file', async () => {
    const Reflection = clientCtor(reflectionProto, 'grpc.reflection.v1.ServerReflection');
    const client = new Reflection(address, grpc.credentials.createInsecure()) as grpc.Client & {
      serverReflectionInfo(): grpc.ClientDuplexStream<Record<string, unknown>, Record<string, unknown>>;
    };
    const files = ['assets', 'burst', 'capacity', 'common', 'frames'].map((f) => `spillway/v1/${f}.proto`);
    const call = client.serverReflectionInfo();
    const responses: Record<string, unknown>[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (r: Record<string, unknown>) => responses.push(r));
      call.on('end', resolve);
      call.on('error', reject);
    });
    for (const name of files) call.write({ file_by_filename: name });
    call.write({ file_containing_symbol: 'spillway.v1.BurstService' });
    call.write({ file_containing_symbol: 'spillway.v1.CapacityGroupSpec' });
    call.write({ file_by_filename: 'spillway/v1/nope.proto' });
    call.end();
    await done;
    client.close();

    const names = (r: Record<string, unknown>): string[] =>
      (
        (r.file_descriptor_response as { file_descriptor_proto: Buffer[] } | null)?.file_descriptor_proto ??
        []
      ).map((bytes) => (descriptor.FileDescriptorProto.decode(bytes) as unknown as { name: string }).name);
    files.forEach((name, i) => {
      expect(responses[i]!.error_response ?? null).toBeNull();
      expect(names(responses[i]!)[0]).toBe(name);
    });
    // burst.proto with exactly its imports
    expect(names(responses[1]!).sort()).toEqual(
      [
        'google/protobuf/duration.proto',
        'google/protobuf/timestamp.proto',
        'spillway/v1/burst.proto',
        'spillway/v1/common.proto',
      ].sort(),
    );
    expect(names(responses[5]!)[0]).toBe('spillway/v1/burst.proto');
    expect(names(responses[6]!)[0]).toBe('spillway/v1/capacity.proto');
    expect(responses[7]!.error_response).toMatchObject({ error_code: grpc.status.NOT_FOUND });
  });
});
