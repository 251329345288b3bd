import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { BurstClient, type BurstServiceError } from '@spillway/sdk';
import { burst as wb, capacity as wc, frames as wf } from '@spillway/sdk/wire';
import { spawnService, type ServiceProcess } from '../support/service';

// Regressions of what an independent fuzzer did to a real `spillway serve` (a child process):
// each GIVEN a hostile request WHEN sent over the wire THEN it is refused with the right code
// naming the field, at once, and the service stays up and keeps working for everyone else.

jest.setTimeout(240_000);

describe('hostile input over the wire', () => {
  let dir: string;
  let service: ServiceProcess;
  let client: BurstClient;
  let raw: grpc.Client;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-hostile-'));
    service = await spawnService({ dataDir: dir, nodes: 2 });
    client = new BurstClient(service.address, { maxAttempts: 1 });
    raw = new grpc.Client(service.address, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    raw.close();
    await service.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  });

  const refusal = async (call: Promise<unknown>): Promise<BurstServiceError> => {
    try {
      await call;
    } catch (err) {
      return err as BurstServiceError;
    }
    throw new Error('expected the call to be refused');
  };
  const alive = (): void => expect(service.child.exitCode).toBeNull();
  const job = (over: Record<string, unknown> = {}) => ({
    source: 'test:hostile',
    sourceJobId: `job-${Math.random().toString(36).slice(2)}`,
    commandTemplate: 'echo #IFRAME# > out/f.txt',
    ...over,
  });
  const oneFrame = [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1 }];
  const finish = async (jobId: string): Promise<string> => {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 90_000);
    let last = '';
    for await (const e of client.watchFrames({ jobId, abortSignal: abort.signal })) {
      last = e.type;
      if (['succeeded', 'failed', 'cancelled'].includes(e.type)) break;
    }
    clearTimeout(timer);
    return last;
  };

  /** A raw unary call with the given request bytes and metadata: its status code and how long it took. */
  const rawCall = (method: string, bytes: Buffer, metadata = new grpc.Metadata()) =>
    new Promise<{ code: grpc.status; ms: number; details: string }>((resolve) => {
      const started = Date.now();
      raw.makeUnaryRequest(
        method,
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        metadata,
        { deadline: Date.now() + 15_000 },
        (err) =>
          resolve({
            code: err?.code ?? grpc.status.OK,
            ms: Date.now() - started,
            details: err?.details ?? '',
          }),
      );
    });

  // Used to kill the service: the error's field could not go into gRPC metadata.
  it.each([['é'], ['A\u00a0B'], ['😀']])(
    'refuses the environment variable name %j and stays up',
    async (name) => {
      const bytes = Buffer.from(
        wf.SubmitFramesRequest.encode(
          wf.SubmitFramesRequest.fromPartial({
            job: { ...job(), environment: { [name]: 'x' } },
            frames: oneFrame,
          }),
        ).finish(),
      );
      const result = await rawCall('/spillway.v1.FrameService/SubmitFrames', bytes);
      expect(result.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(result.details).toContain('job.environment');
      alive();
    },
  );

  // Used to answer INTERNAL and then poison every later EnsureCapacityGroup until restart.
  it('refuses an unknown backend, and the next valid group is created', async () => {
    const ensure = (backend: number, name: string) =>
      rawCall(
        '/spillway.v1.CapacityService/EnsureCapacityGroup',
        Buffer.from(
          wc.EnsureCapacityGroupRequest.encode(
            wc.EnsureCapacityGroupRequest.fromPartial({
              spec: { name, mode: 1, backend, vmSize: 'local', maxDedicatedNodes: 1 },
            }),
          ).finish(),
        ),
      );
    const bad = await ensure(99, 'poisoned');
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.details).toContain('spec.backend');
    expect((await ensure(0, 'after-poison')).code).toBe(grpc.status.OK);
    expect((await ensure(0, 'after-poison-2')).code).toBe(grpc.status.OK);
  });

  // Used to pass submission, then fail at dispatch forever, blocking every later job.
  it.each<[string, Record<string, unknown>, string]>([
    ['output pattern ../../etc/*', { outputPatterns: ['../../etc/*'] }, 'job.output.patterns[0]'],
    ['output pattern /etc/passwd', { outputPatterns: ['/etc/passwd'] }, 'job.output.patterns[0]'],
    ['output pattern ..', { outputPatterns: ['..'] }, 'job.output.patterns[0]'],
    ['asset manifest ../../etc/passwd', { assetManifestId: '../../etc/passwd' }, 'job.asset_manifest_id'],
    [
      'a command over 8,191 characters once wrapped',
      { commandTemplate: `echo ${'y'.repeat(7990)}` },
      'job.command_template',
    ],
    ['a 200 KB job name', { name: 'n'.repeat(200_000), commandTemplate: 'echo #JOB#' }, 'job.name'],
  ])('refuses at submission: %s', async (_what, over, field) => {
    const err = await refusal(client.submitFrames(job(over), oneFrame));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.field ?? err.message).toContain(field);
  });

  it('runs a good job after all of that, a job that cannot run blocks no other, and cancel and recall answer at once', async () => {
    // A group that exists nowhere: refused at submission, or (as Batch does with a job on a
    // missing pool) its frames wait; either way the next job is not held up.
    let bad: string | undefined;
    try {
      bad = (await client.submitFrames(job({ capacityGroup: 'no-such-group' }), oneFrame)).jobId;
    } catch (err) {
      expect((err as BurstServiceError).code).toMatch(/INVALID_ARGUMENT|NOT_FOUND|FAILED_PRECONDITION/);
    }
    const good = await client.submitFrames(job(), oneFrame);
    expect(await finish(good.jobId)).toBe('succeeded');
    if (bad) {
      let started = Date.now();
      await client.cancelJob(bad);
      expect(Date.now() - started).toBeLessThan(5000);
      started = Date.now();
      await client.recallFrames({
        keys: [{ source: 'test:hostile', sourceJobId: 'nope', sourceTaskId: '1' }],
      });
      expect(Date.now() - started).toBeLessThan(5000);
    }
    alive();
  });

  // A 1 MB bearer header used to hang the call until the client's deadline.
  it('answers oversized headers at once', async () => {
    const empty = Buffer.alloc(0);
    const path = '/spillway.v1.CapacityService/ListCapacityGroups';
    const bearer = (n: number): grpc.Metadata => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${'x'.repeat(n)}`);
      return md;
    };
    const big = await rawCall(path, empty, bearer(5000));
    expect(big.code).toBe(grpc.status.UNAUTHENTICATED);
    const padded = new grpc.Metadata();
    for (let i = 0; i < 10; i++) padded.set(`x-pad-${i}`, 'p'.repeat(2000));
    expect((await rawCall(path, empty, padded)).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // Past what HTTP/2 decodes (64 KiB a header) the connection is reset at once: never a hang.
    const huge = await rawCall(path, empty, bearer(1 << 20));
    expect(huge.code).not.toBe(grpc.status.OK);
    expect(huge.ms).toBeLessThan(5000);
    // ...and our own client refuses to send such a token at all.
    const hugeClient = new BurstClient(service.address, { token: 't'.repeat(8 << 20), maxAttempts: 1 });
    const started = Date.now();
    const err = await refusal(hugeClient.getJob('j-1'));
    hugeClient.close();
    expect(err.code).toBe('UNAUTHENTICATED');
    expect(Date.now() - started).toBeLessThan(5000);
    alive();
  });

  it('refuses a garbage page token instead of serving the first page', async () => {
    for (const [method, bytes] of [
      [
        '/spillway.v1.CapacityService/ListCapacityGroups',
        wc.ListCapacityGroupsRequest.encode({ pageSize: 1, pageToken: '!!!' }),
      ],
      [
        '/spillway.v1.FrameService/ListJobs',
        wf.ListJobsRequest.encode({ pageSize: 1, pageToken: 'bz!U', source: '', states: [] }),
      ],
    ] as const) {
      const result = await rawCall(method, Buffer.from(bytes.finish()));
      expect(result.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(result.details).toContain('page_token');
    }
  });

  // 4,294,967,295 nodes used to be accepted: resizing to it stopped health answering and grew
  // the service to 4 GB. Now a group holds at most 1,000 nodes per priority, and that many is fine.
  it('bounds nodes per group, and a group at the bound keeps the service answering', async () => {
    const ensure = (max: number) =>
      rawCall(
        '/spillway.v1.CapacityService/EnsureCapacityGroup',
        Buffer.from(
          wc.EnsureCapacityGroupRequest.encode(
            wc.EnsureCapacityGroupRequest.fromPartial({
              spec: { name: `big-${max}`, mode: 1, vmSize: 'local', maxDedicatedNodes: max },
            }),
          ).finish(),
        ),
      );
    const refused = await ensure(4294967295);
    expect(refused.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(refused.details).toContain('spec.max_dedicated_nodes');
    expect((await ensure(1000)).code).toBe(grpc.status.OK);
    const resized = await rawCall(
      '/spillway.v1.CapacityService/ResizeCapacityGroup',
      Buffer.from(
        wc.ResizeCapacityGroupRequest.encode(
          wc.ResizeCapacityGroupRequest.fromPartial({ name: 'big-1000', targetDedicatedNodes: 1000 }),
        ).finish(),
      ),
    );
    expect(resized.code).toBe(grpc.status.OK);
    for (let i = 0; i < 3; i++) {
      const health = await rawCall('/grpc.health.v1.Health/Check', Buffer.alloc(0));
      expect(health.code).toBe(grpc.status.OK);
      await new Promise((r) => setTimeout(r, 500));
    }
    const rssKb = Number(
      /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${service.child.pid}/status`, 'utf8'))?.[1],
    );
    expect(rssKb).toBeLessThan(1024 * 1024);
    alive();
  });

  // 2,147,483,648 busy workers (or 4,294,967,295 queued frames) in a farm report used to kill
  // the service: the plan walks every worker and frame, and V8 aborted growing the array
  // ("invalid size error"). Now a report claims at most 100,000 workers and 1,000,000 frames
  // per job per state; a report at those bounds is planned and the service keeps answering.
  it('bounds a farm report, and a report at the bounds is planned', async () => {
    const report = (state: Parameters<typeof wb.FarmState.fromPartial>[0]) =>
      rawCall(
        '/spillway.v1.BurstService/ReportFarmState',
        Buffer.from(
          wb.ReportFarmStateRequest.encode(
            wb.ReportFarmStateRequest.fromPartial({ state: { source: 'test:bounds', ...state } }),
          ).finish(),
        ),
      );
    const manyWorkers = await report({ workers: [{ group: 'g', idleWorkers: 1, busyWorkers: 2147483648 }] });
    expect(manyWorkers.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(manyWorkers.details).toContain('state.workers[0].busy_workers');
    expect(manyWorkers.details).toContain('2147483648');
    const manyFrames = await report({
      jobs: [{ sourceJobId: 'j', queuedFrames: 4294967295, burstable: true }],
    });
    expect(manyFrames.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(manyFrames.details).toContain('state.jobs[0].queued_frames');
    const atBounds = await report({
      workers: [{ group: 'g', idleWorkers: 50_000, busyWorkers: 50_000 }],
      jobs: [
        {
          sourceJobId: 'big',
          queuedFrames: 1_000_000,
          renderingFrames: 1_000_000,
          burstable: true,
          deadline: new Date(Date.now() + 3_600_000),
          frameTime: { seconds: 60, nanos: 0 },
        },
      ],
    });
    expect(atBounds.code).toBe(grpc.status.OK);
    const health = await rawCall('/grpc.health.v1.Health/Check', Buffer.alloc(0));
    expect(health.code).toBe(grpc.status.OK);
    alive();
  });
});
