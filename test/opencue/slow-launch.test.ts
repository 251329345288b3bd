import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { wire } from '@spillway/sdk';
import { resolveConfig, VirtualHost } from '@spillway/bridge-opencue';
import { FakeCuebot } from '@spillway/bridge-opencue/testing';
import { startTestService, type TestService } from '../support/service';
import { freePort } from './ports';

// GIVEN a real service behind a gRPC relay that answers the first SubmitFrames only after 5 s
// (the service has taken the job by then; the virtual host's launch gives up after 4 s and
// Cuebot requeues the frame), and the OpenCue virtual host in a burst allocation
// WHEN a one-frame job is launched
// THEN the frame ends SUCCEEDED on the virtual host, and the service holds one cloud job for
// it: the relaunch found the job the slow launch made instead of rendering the frame twice
// (on a loaded machine, 2 of 300 frames of the active-job quota test used to run twice).

const HOST = 'azure-slow';
const identity = (b: Buffer): Buffer => b;

/** A relay of the unary and server-streaming calls of `spillway.v1` to `target`; `delay(path)` holds an answer back. */
async function startRelay(
  target: string,
  delayMs: (path: string) => number,
): Promise<{ address: string; close(): void }> {
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
            upstream.makeUnaryRequest(
              method.path,
              identity,
              identity,
              call.request,
              call.metadata,
              (err, res) => {
                setTimeout(() => callback(err, res), delayMs(method.path));
              },
            );
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
    close() {
      server.forceShutdown();
      upstream.close();
    },
  };
}

describe('OpenCue virtual host with a slow service', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-opencue-slow-'));
  let svc: TestService;
  let relay: { address: string; close(): void };
  let cuebot: FakeCuebot;
  let host: VirtualHost | undefined;
  let submissions = 0;

  beforeAll(async () => {
    svc = await startTestService({ nodes: 1, slotsPerNode: 2 });
    relay = await startRelay(svc.address, (p) =>
      p === '/spillway.v1.FrameService/SubmitFrames' && ++submissions === 1 ? 5000 : 0,
    );
    cuebot = await FakeCuebot.start({ dispatchIntervalMs: 200 });
    cuebot.subscribe('pipe', 'local.general', 0, 0);
    const rqdPort = await freePort();
    cuebot.mapHost(HOST, `127.0.0.1:${rqdPort}`);
    host = await VirtualHost.start(
      resolveConfig(
        {},
        {
          cuebot: cuebot.address,
          service: relay.address,
          hostName: HOST,
          rqdPort,
          rqdListenHost: '127.0.0.1',
          cores: 2,
          reportIntervalMs: 500,
          stateDir: path.join(work, 'host-state'),
          subscribeShows: ['pipe'],
        },
      ),
    );
  });
  afterAll(async () => {
    await host?.close();
    await cuebot?.close();
    relay?.close();
    await svc?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('renders a frame once when its first launch timed out after the service took it', async () => {
    const job = cuebot.launchJob({
      name: 'pipe-sh001-comp',
      show: 'pipe',
      priority: 50,
      layers: [{ name: 'comp', range: '1', tags: ['burst'], command: 'true' }],
    });
    await cuebot.waitFor(
      () => cuebot.getFrames(job.id).every((f) => f.state === 'SUCCEEDED' || f.state === 'DEAD'),
      {
        what: 'the frame to finish',
        timeoutMs: 90_000,
      },
    );
    expect(cuebot.getFrames(job.id).map((f) => f.state)).toEqual(['SUCCEEDED']);
    // The slow launch really happened: the first submission was answered late, and relaunched.
    expect(submissions).toBeGreaterThanOrEqual(2);
    const cloudJobs: string[] = [];
    for await (const j of svc.client.listJobs({ source: `opencue:${HOST}` })) cloudJobs.push(j.jobId);
    expect(cloudJobs).toHaveLength(1);
  });
});
