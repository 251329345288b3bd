// The burst policy decides a live burst end to end: a real service (local engine, Azurite),
// the real Deadline bridge and the testing Deadline farm, whose workers and the cloud's
// nodes both run each frame as a CommandLine `sleep`.
//
// GIVEN a 2-worker farm WHEN a job arrives that the farm finishes well before its deadline
// THEN not one frame goes to the cloud; WHEN a job arrives that the farm alone would finish
// too late THEN part of its frames go, about as many as needed, and it finishes in time.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeadlineBridge, resolveConfig } from '@spillway/bridge-deadline';
import { FakeDeadline } from '@spillway/bridge-deadline/testing';
import { createLogger } from '@spillway/sdk';
import { startTestService, type TestService } from '../support/service';

const SLEEP = '/bin/sleep';

async function waitFor(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the burst policy decides a live Deadline burst', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-policy-e2e-'));
  let svc: TestService;
  let deadline: FakeDeadline;
  let bridge: DeadlineBridge;
  const logs: string[] = [];

  beforeAll(async () => {
    svc = await startTestService({
      nodes: 4,
      planner: 'policy',
      // The embedded engine's round trip per frame is about a second, not a cloud's 10.
      config: { 'burst.groupDefaults.transferSecondsPerFrame': 1 },
    });
    deadline = await FakeDeadline.start({ workers: [{ name: 'render-01' }, { name: 'render-02' }] });
    bridge = await DeadlineBridge.start(
      resolveConfig({
        webservice: deadline.url,
        service: svc.address,
        name: 'policy-e2e',
        stateDir: path.join(work, 'bridge'),
        pollIntervalMs: 500,
      }),
      { logger: createLogger({ level: 'info', write: (l) => logs.push(l) }) },
    );
  }, 60_000);

  afterAll(async () => {
    await bridge?.close();
    await deadline?.close();
    await svc?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  const submit = (name: string, frames: number, seconds: number, dueInSeconds: number): string =>
    deadline.submitJob(
      {
        Plugin: 'CommandLine',
        Name: name,
        Frames: `1-${frames}`,
        ChunkSize: 1,
        Priority: 50,
        OutputDirectory0: work,
        ExtraInfoKeyValue0: `SpillwayDeadline=${new Date(Date.now() + dueInSeconds * 1000).toISOString()}`,
      },
      { Executable: SLEEP, Arguments: String(seconds) },
    );

  /** Frames of a Deadline job the service has seen (offloaded), and how many the cloud rendered. */
  const cloudFrames = async (deadlineJobId: string): Promise<{ sent: number; rendered: number }> => {
    let sent = 0;
    let rendered = 0;
    for await (const job of svc.client.listJobs({ source: 'deadline:policy-e2e' }))
      if (job.spec.sourceJobId === deadlineJobId) {
        const c = job.counts;
        sent += c.queued + c.running + c.succeeded + c.failed + c.recalled + c.cancelled;
        rendered += c.succeeded;
      }
    return { sent, rendered };
  };

  it('sends 0 frames to the cloud when the farm meets the deadline', async () => {
    // GIVEN 24 frames of 1 s on 2 workers (about 12 s), due in 3 hours
    const id = submit('in-time', 24, 1, 3 * 3600);
    // WHEN the farm renders them
    await waitFor('the in-time job to complete', () => deadline.summary(id).completed === 24, 90_000);
    // THEN every frame was rendered locally and the service never saw one
    expect(deadline.summary(id).completedLocally).toBe(24);
    expect(await cloudFrames(id)).toEqual({ sent: 0, rendered: 0 });
    // AND the plan said why
    const plan = (await svc.client.burstStatus()).sources.find(
      (s) => s.source === 'deadline:policy-e2e',
    )?.lastPlan;
    expect(plan?.offload ?? []).toEqual([]);
  }, 120_000);

  it('sends part of a job that cannot make its deadline locally, about as many as needed, and it finishes in time', async () => {
    // GIVEN 30 frames of 5 s on 2 workers (75 s), due in 55 s: about 8 frames too many
    const due = Date.now() + 55_000;
    const id = submit('too-late', 30, 5, 55);
    // WHEN the farm and the cloud render them
    await waitFor('the late job to complete', () => deadline.summary(id).completed === 30, 150_000);
    const doneAt = Date.now();
    // THEN part of its frames went to the cloud: some, not most (the farm keeps what it can
    // finish in time)
    const { sent, rendered } = await cloudFrames(id);
    const report = `${sent} sent, ${rendered} rendered in the cloud, done ${((doneAt - due) / 1000).toFixed(1)} s after the deadline`;
    expect({ report, sentEnough: sent >= 4, notMost: sent <= 20 }).toEqual({
      report,
      sentEnough: true,
      notMost: true,
    });
    expect(deadline.summary(id).completedLocally).toBe(30 - rendered);
    // AND the job finished before its deadline
    if (process.env.SPILLWAY_TEST_VERBOSE) {
      console.log(logs.filter((l) => l.includes('plan')).join('\n'));
      console.log(JSON.stringify((await svc.client.burstStatus()).parameters, null, 1));
      for await (const job of svc.client.listJobs({ source: 'deadline:policy-e2e' }))
        for await (const f of svc.client.listFrames(job.jobId))
          console.log(
            f.key.sourceTaskId,
            f.state,
            f.submittedAt.toISOString(),
            f.startedAt?.toISOString(),
            f.finishedAt?.toISOString(),
          );
    }
    expect({ report, inTime: doneAt <= due }).toEqual({ report, inTime: true });
  }, 180_000);
});
