import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CuebotClient } from '@spillway/bridge-opencue';
import { FakeCuebot, SimulatedRqdHost } from '@spillway/bridge-opencue/testing';

// GIVEN the fake Cuebot with simulated RQD hosts that really run commands
// WHEN layers with tags, a failing command and a killed frame are dispatched
// THEN frames go only to hosts sharing a tag in subscribed allocations, commands get their
// tokens substituted, failures retry then die with the real exit status, and a kill reaches
// the process and requeues the frame, as Cuebot does.

describe('OpenCue testing harness', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-opencue-harness-'));
  let cuebot: FakeCuebot;
  let general: SimulatedRqdHost;
  let fx: SimulatedRqdHost;
  let client: CuebotClient;

  beforeAll(async () => {
    cuebot = await FakeCuebot.start({ dispatchIntervalMs: 100, maxRetries: 1 });
    cuebot.subscribe('pipe', 'local.general', 4, 4);
    cuebot.ensureAllocation('local', 'fx', 'fx'); // no subscription: never booked for 'pipe'
    general = await SimulatedRqdHost.start({
      name: 'gen-1',
      cuebot: cuebot.address,
      cores: 2,
      reportIntervalMs: 300,
      workDir: work,
    });
    fx = await SimulatedRqdHost.start({
      name: 'fx-1',
      cuebot: cuebot.address,
      cores: 2,
      tags: ['fx', 'general'],
      reportIntervalMs: 300,
      workDir: work,
    });
    cuebot.mapHost('gen-1', general.rqdAddress);
    cuebot.mapHost('fx-1', fx.rqdAddress);
    client = new CuebotClient(cuebot.address);
  });
  afterAll(async () => {
    client.close();
    await general.close();
    await fx.close();
    await cuebot.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('GIVEN a 4-frame layer WHEN dispatched THEN each frame runs once on the subscribed host with its tokens', async () => {
    const hosts = await client.getHosts();
    expect(hosts.find((h) => h.name === 'fx-1')?.alloc_name).toBe('local.fx');
    expect(hosts.find((h) => h.name === 'gen-1')).toMatchObject({ alloc_name: 'local.general', cores: 2 });

    const job = cuebot.launchJob({
      name: 'tokens',
      show: 'pipe',
      layers: [
        { name: 'echo', range: '1-4', command: `echo "#JOB# #LAYER# #FRAME#" > ${work}/#ZFRAME#.txt` },
      ],
    });
    await cuebot.waitFor(() => cuebot.getFrames(job.id).every((f) => f.state === 'SUCCEEDED'), {
      what: 'frames',
    });
    expect(fx.launched).toEqual([]);
    expect([...general.launched].sort()).toEqual(['0001-echo', '0002-echo', '0003-echo', '0004-echo']);
    expect(fs.readFileSync(path.join(work, '0003.txt'), 'utf8').trim()).toBe('tokens echo 0003-echo');
    const job2 = await client.getJob(job.id);
    expect(job2.state).toBe('FINISHED');
  });

  it('GIVEN a command exiting 3 WHEN it runs THEN it is retried once and ends DEAD with exit status 3', async () => {
    const job = cuebot.launchJob({
      name: 'fails',
      show: 'pipe',
      layers: [{ name: 'x', range: '1', command: 'exit 3' }],
    });
    const [frame] = cuebot.getFrames(job.id);
    const dead = await client.waitForFrame(frame!.id, (f) => f.state === 'DEAD', { timeoutMs: 20_000 });
    expect(dead).toMatchObject({ exit_status: 3, retry_count: 2 });
  });

  it('GIVEN a running frame WHEN killed from Cuebot THEN the process dies and the frame is requeued; eaten, it stops', async () => {
    const job = cuebot.launchJob({
      name: 'long',
      show: 'pipe',
      layers: [{ name: 's', range: '1', command: 'sleep 30' }],
    });
    const [frame] = cuebot.getFrames(job.id);
    await client.waitForFrame(frame!.id, (f) => f.state === 'RUNNING', { timeoutMs: 10_000 });
    await cuebot.waitFor(() => general.launched.includes('0001-s'), { what: 'launch' });
    const started = Date.now();
    await client.killFrame(frame!, { reason: 'test' });
    // Asynchronous, as in Cuebot: the frame is requeued once the host reports the kill.
    await cuebot.waitFor(
      () => cuebot.completions.some((c) => c.frameId === frame!.id && c.exitSignal === 15),
      { what: 'the kill to land', timeoutMs: 10_000 },
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(cuebot.getFrame(frame!.id)!.retry_count).toBe(1);
    await client.eatFrame(frame!);
    await client.waitForFrame(frame!.id, (f) => f.state === 'EATEN', { timeoutMs: 10_000 });
  });

  it('GIVEN a host rendering WHEN its RQD shuts down THEN it locks its cores first: nothing more is booked on it', async () => {
    const host = await SimulatedRqdHost.start({
      name: 'leaving-1',
      cuebot: cuebot.address,
      cores: 2,
      tags: ['leaving'],
      reportIntervalMs: 300,
      workDir: work,
    });
    cuebot.mapHost('leaving-1', host.rqdAddress);
    cuebot.ensureAllocation('local', 'leaving', 'leaving');
    cuebot.subscribe('pipe', 'local.leaving', 2, 2);
    try {
      // One frame takes 2 s to die after SIGTERM; the other dies at once, freeing a core
      // while the host is still shutting down, with a third frame waiting.
      const ready = path.join(work, 'slow-ready');
      const job = cuebot.launchJob({
        name: 'given-back',
        show: 'pipe',
        layers: [
          {
            name: 'slow',
            range: '1',
            command: `trap "sleep 2; exit 143" TERM; touch ${ready}; sleep 30 & wait`,
            tags: ['leaving'],
          },
          { name: 'quick', range: '1-2', command: 'sleep 30', tags: ['leaving'] },
        ],
      });
      await cuebot.waitFor(() => host.launched.length === 2 && fs.existsSync(ready), {
        what: 'two frames running, the slow one trapping SIGTERM',
        timeoutMs: 10_000,
      });
      const running = [...host.launched];
      await host.shutdown();
      // Both running frames were given back, and Cuebot booked nothing more on the leaving host
      // (before the fix, the waiting frame was launched there the moment a core came free).
      const frames = cuebot.getFrames(job.id);
      expect(host.launched).toEqual(running);
      const givenBack = cuebot.completions.filter((c) => c.host === 'leaving-1');
      expect(givenBack.map((c) => [c.frameName, c.exitStatus]).sort()).toEqual([
        ['0001-quick', 143],
        ['0001-slow', 143],
      ]);
      expect(frames.map((f) => f.state)).toEqual(['WAITING', 'WAITING', 'WAITING']);
      for (const f of frames) await client.eatFrame(f);
    } finally {
      await host.close();
    }
  });
});
