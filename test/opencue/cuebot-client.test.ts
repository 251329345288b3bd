import * as grpc from '@grpc/grpc-js';
import { CuebotClient, OpenCueCallError, openCueServices, unaryCall } from '@spillway/bridge-opencue';
import { FakeCuebot } from '@spillway/bridge-opencue/testing';
import { freePort } from './ports';

// GIVEN the Cuebot client against the fake Cuebot (a real gRPC server on 127.0.0.1:0), and
// against servers that are down or never answer
// WHEN it pages frames, creates allocations and subscriptions, and meets faults
// THEN it hides Cuebot's quirks (page >= 1, limit < 1000, sizes x100) and retries only what
// is safe, within its deadlines, and stops when aborted.

describe('CuebotClient against the fake Cuebot', () => {
  let cuebot: FakeCuebot;
  let client: CuebotClient;

  beforeAll(async () => {
    cuebot = await FakeCuebot.start();
    client = new CuebotClient(cuebot.address, { callTimeoutMs: 5000 });
  });
  afterAll(async () => {
    client.close();
    await cuebot.close();
  });

  it('GIVEN a job of 2500 frames WHEN its frames are listed THEN every page is fetched', async () => {
    const job = cuebot.launchJob({
      name: 'big',
      show: 'pipe',
      layers: [{ name: 'l', range: '1-2500', command: 'true' }],
    });
    const frames = await client.getFrames(job, {}, { pageSize: 999 });
    expect(frames).toHaveLength(2500);
    expect(new Set(frames.map((f) => f.number)).size).toBe(2500);
    expect(frames[0]!.state).toBe('WAITING');
  });

  it('GIVEN a raw frame query with page 0 WHEN sent THEN Cuebot refuses it (the quirk the client hides)', async () => {
    const job = cuebot.launchJob({
      name: 'raw',
      show: 'pipe',
      layers: [{ name: 'l', range: '1-3', command: 'true' }],
    });
    const raw = new (openCueServices().job.JobInterface.Client)(
      cuebot.address,
      grpc.credentials.createInsecure(),
    );
    await expect(
      unaryCall(raw, 'job.JobInterface', 'GetFrames', { job: { id: job.id }, req: { page: 0, limit: 10 } }),
    ).rejects.toMatchObject({ status: grpc.status.INVALID_ARGUMENT });
    raw.close();
  });

  it('GIVEN no burst allocation WHEN ensured twice THEN it is created once, with its facility and tag', async () => {
    const a = await client.ensureAllocation('cloud', 'burst', 'burst');
    const b = await client.ensureAllocation('cloud', 'burst', 'burst');
    expect(a.id).toBe(b.id);
    expect(a).toMatchObject({ name: 'cloud.burst', tag: 'burst', facility: 'cloud' });
  });

  it('GIVEN a subscription of 2 cores bursting to 4 WHEN created THEN Cuebot keeps core units (x100)', async () => {
    cuebot.createShow('subs');
    const show = (await client.findShow('subs'))!;
    const alloc = await client.ensureAllocation('cloud', 'burst', 'burst');
    const sub = await client.createSubscription(show, alloc, 2, 4);
    expect(sub).toMatchObject({ size: 200, burst: 400, allocation_name: 'cloud.burst', show_name: 'subs' });
    expect(await client.findShow('no-such-show')).toBeUndefined();
  });

  it('GIVEN a burst below the size WHEN subscribing THEN the bad field is named before any call', async () => {
    await expect(client.createSubscription({ id: 'x' }, { id: 'y' }, 4, 2)).rejects.toThrow(
      /burstCores.*got 2/,
    );
  });
});

describe('CuebotClient faults', () => {
  it('GIVEN Cuebot down for the first 250 ms WHEN a read is made THEN it is retried until Cuebot answers', async () => {
    const port = await freePort();
    const client = new CuebotClient(`127.0.0.1:${port}`, { callTimeoutMs: 2000, maxAttempts: 6 });
    let cuebot: FakeCuebot | undefined;
    const starting = new Promise<void>((resolve) =>
      setTimeout(() => void FakeCuebot.start({ port }).then((c) => ((cuebot = c), resolve())), 250),
    );
    try {
      const stats = await client.getSystemStats();
      expect(stats).toHaveProperty('booked_procs');
    } finally {
      await starting;
      client.close();
      await cuebot?.close();
    }
  });

  describe('GIVEN a Cuebot that never answers', () => {
    let server: grpc.Server;
    let address: string;
    const calls = { stats: 0, completion: 0 };

    beforeAll(async () => {
      server = new grpc.Server();
      const s = openCueServices();
      server.addService(s.cue.CueInterface.definition, { GetSystemStats: () => void calls.stats++ });
      server.addService(s.report.RqdReportInterface.definition, {
        ReportRunningFrameCompletion: () => void calls.completion++,
        ReportStatus: () => undefined,
        ReportRqdStartup: () => undefined,
      });
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
          e ? reject(e) : resolve(p),
        ),
      );
      address = `127.0.0.1:${port}`;
    });
    afterAll(() => server.forceShutdown());

    it('WHEN a read times out THEN it is retried within its attempts and fails DEADLINE_EXCEEDED', async () => {
      const client = new CuebotClient(address, { callTimeoutMs: 200, maxAttempts: 2 });
      calls.stats = 0;
      const err = await client.getSystemStats().catch((e: unknown) => e);
      client.close();
      expect(err).toBeInstanceOf(OpenCueCallError);
      expect((err as OpenCueCallError).status).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(calls.stats).toBe(2);
    });

    it('WHEN a completion report times out THEN it is not repeated (Cuebot may have taken it)', async () => {
      const client = new CuebotClient(address, { callTimeoutMs: 200, maxAttempts: 3 });
      calls.completion = 0;
      const err = await client
        .reportRunningFrameCompletion({
          host: null,
          frame: null,
          exit_status: 0,
          exit_signal: 0,
          run_time: 1,
        })
        .catch((e: unknown) => e);
      client.close();
      expect((err as OpenCueCallError).status).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(calls.completion).toBe(1);
    });

    it('WHEN the caller aborts THEN the call stops at once with CANCELLED', async () => {
      const client = new CuebotClient(address, { callTimeoutMs: 30_000 });
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 100);
      const started = Date.now();
      const err = await client.getSystemStats({ abortSignal: abort.signal }).catch((e: unknown) => e);
      client.close();
      expect((err as OpenCueCallError).status).toBe(grpc.status.CANCELLED);
      expect(Date.now() - started).toBeLessThan(5000);
    });
  });
});
