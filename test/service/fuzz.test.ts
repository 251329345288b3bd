import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { BurstClient } from '@spillway/sdk';
import { spawnService, type ServiceProcess } from '../support/service';
import { methods, RequestFuzzer, type FuzzRequest } from './fuzz-requests';

// GIVEN `spillway serve` (a real child process, embedded default)
// WHEN every RPC of spillway.v1 gets a few hundred generated bad requests (seeded: one field
//   anywhere set to a hostile value of its type, or bytes that are no message at all)
// THEN no call answers INTERNAL or UNKNOWN, none hangs, the process is alive, health says
//   SERVING, and a canary job runs to completion afterwards.

jest.setTimeout(600_000);

const SEED = Number(process.env.SPILLWAY_FUZZ_SEED ?? 20261203);
const PER_RPC = Number(process.env.SPILLWAY_FUZZ_PER_RPC ?? 250);
/** Only these methods (comma-separated names), to chase one. @default every method */
const ONLY = process.env.SPILLWAY_FUZZ_ONLY?.split(',');
const IN_FLIGHT = 4;
/** Codes that mean the service failed (or hung) rather than refused. */
const FORBIDDEN = new Set([grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.DEADLINE_EXCEEDED]);

const identity = (b: Buffer): Buffer => b;

/** Sends one raw request; resolves with the status code (OK or CANCELLED for a stream still open). */
function send(client: grpc.Client, request: FuzzRequest): Promise<grpc.status> {
  const { method } = request;
  const path = `/${method.parent.typeName}/${method.name}`;
  const bytes = Buffer.from(request.bytes);
  // A hang is forever; on a shared machine a busy moment is seconds.
  const deadline = Date.now() + 60_000;
  return new Promise((resolve) => {
    const done = (code: grpc.status): void => resolve(code);
    switch (method.methodKind) {
      case 'unary':
        client.makeUnaryRequest(path, identity, identity, bytes, new grpc.Metadata(), { deadline }, (err) =>
          done(err ? err.code : grpc.status.OK),
        );
        return;
      case 'server_streaming': {
        const call = client.makeServerStreamRequest(path, identity, identity, bytes, new grpc.Metadata(), {
          deadline,
        });
        // A stream the service accepted stays open (heartbeats): one message or a second is enough.
        const timer = setTimeout(() => call.cancel(), 1000);
        call.on('data', () => call.cancel());
        call.on('error', () => undefined);
        call.on('status', (s: grpc.StatusObject) => {
          clearTimeout(timer);
          done(s.code);
        });
        return;
      }
      case 'client_streaming': {
        const call = client.makeClientStreamRequest(
          path,
          identity,
          identity,
          new grpc.Metadata(),
          { deadline },
          (err) => done(err ? err.code : grpc.status.OK),
        );
        call.write(bytes);
        call.write(Buffer.from([0x12, 0x03, 0x61, 0x62, 0x63])); // a 3-byte chunk
        call.end();
        return;
      }
      default:
        done(grpc.status.OK);
    }
  });
}

/** `grpc.health.v1.Health/Check` for the whole server: true when SERVING. */
function serving(client: grpc.Client): Promise<boolean> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      identity,
      identity,
      Buffer.alloc(0),
      new grpc.Metadata(),
      { deadline: Date.now() + 5000 },
      (err, res) => resolve(!err && res !== undefined && res.equals(Buffer.from([0x08, 0x01]))),
    ),
  );
}

describe('fuzzing every RPC', () => {
  let dir: string;
  let service: ServiceProcess | undefined;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-fuzz-'));
    service = await spawnService({ dataDir: dir, nodes: 2, slotsPerNode: 1 });
  });
  afterAll(async () => {
    await service?.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  });

  it('refuses bad input without failing, and keeps serving', async () => {
    const raw = new grpc.Client(service!.address, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': 64 * 1024 * 1024,
    });
    const fuzzer = new RequestFuzzer(SEED);
    const all = methods().filter((m) => !ONLY || ONLY.includes(m.name));
    if (!ONLY) expect(all.length).toBeGreaterThanOrEqual(21);
    const requests: FuzzRequest[] = [];
    for (const method of all) for (let i = 0; i < PER_RPC; i++) requests.push(fuzzer.next(method));

    const failures: string[] = [];
    const codes = new Map<string, Map<string, number>>();
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < requests.length) {
          const request = requests[next++]!;
          const started = Date.now();
          const code = await send(raw, request);
          const took = Date.now() - started;
          if (took > 10_000)
            console.log(`slow: ${request.method.name} ${took} ms ${grpc.status[code]} ${request.what}`);
          const name = request.method.name;
          const byCode = codes.get(name) ?? new Map<string, number>();
          byCode.set(grpc.status[code]!, (byCode.get(grpc.status[code]!) ?? 0) + 1);
          codes.set(name, byCode);
          if (FORBIDDEN.has(code) || code === grpc.status.UNAVAILABLE) {
            failures.push(`${name}: ${grpc.status[code]} for ${request.what}`);
          }
        }
      }),
    );
    const summary = [...codes].map(([m, c]) => `${m}: ${[...c].map(([k, n]) => `${k} ${n}`).join(', ')}`);
    console.log(`fuzz seed ${SEED}, ${requests.length} requests\n${summary.join('\n')}`);
    // On a failure, the service's last words say why (a crash, a stall).
    if (failures.length > 0 || service!.child.exitCode !== null)
      console.log(
        `service exit ${service!.child.exitCode}; its output ends:\n${service!.output().slice(-4000)}`,
      );
    expect(failures.slice(0, 20)).toEqual([]);

    // The process is alive and healthy.
    expect(service!.child.exitCode).toBeNull();
    expect(await serving(raw)).toBe(true);
    raw.close();

    // A canary job completes.
    const client = new BurstClient(service!.address);
    const { jobId } = await client.submitFrames(
      { source: 'canary', sourceJobId: 'after-fuzz', commandTemplate: 'echo #IFRAME# > out/canary.txt' },
      [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1 }],
    );
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 120_000);
    let state = '';
    for await (const e of client.watchFrames({ jobId, abortSignal: abort.signal })) {
      state = e.type;
      if (e.type === 'succeeded' || e.type === 'failed') break;
    }
    clearTimeout(timer);
    client.close();
    expect(state).toBe('succeeded');
    expect(service!.output()).not.toMatch(/unhandled|TypeError|RangeError/i);
  });
});
