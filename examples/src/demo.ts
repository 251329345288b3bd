// The README's demo command. The full demo (a Deadline farm bursting into the local
// engine + Azurite) arrives with the Deadline bridge; until then this runs what exists:
// a Spillway gRPC server on an ephemeral loopback port with health and reflection, asked
// by a client, and the spillway.v1 contract it will serve.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { addIntrospection, wire } from '@spillway/sdk';

async function main(): Promise<void> {
  console.log('Spillway demo (foundation stage): the burst demo is not built yet; running what exists.\n');
  const server = new grpc.Server();
  const introspection = addIntrospection(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  introspection.setServing(true);
  console.log(`server listening on 127.0.0.1:${port} (loopback only)`);

  const pkg = grpc.loadPackageDefinition(
    protoLoader.loadSync(healthProtoPath, { enums: String }),
  ) as unknown as {
    grpc: { health: { v1: { Health: new (a: string, c: grpc.ChannelCredentials) => grpc.Client } } };
  };
  const client = new pkg.grpc.health.v1.Health(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
  ) as grpc.Client & {
    check(r: { service: string }, cb: (e: Error | null, r?: { status: string }) => void): void;
  };
  for (const service of wire.SPILLWAY_V1_SERVICE_NAMES) {
    const status = await new Promise<string>((resolve, reject) =>
      client.check({ service }, (e, r) => (e ? reject(e) : resolve(r!.status))),
    );
    console.log(`  health ${service.padEnd(30)} ${status}`);
  }
  client.close();
  console.log('\nThe RPCs of these services are defined in proto/spillway/v1 and not implemented yet.');
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
