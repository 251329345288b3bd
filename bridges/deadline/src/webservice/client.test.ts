import * as http from 'node:http';
import { FakeDeadline } from '../testing';
import { DeadlineClient } from './client';
import { DeadlineAnswerError, DeadlineRequestError, EmptyTaskListError } from './errors';
import { jobFromRaw, taskFromRaw } from './types';

describe('DeadlineClient against the fake Web Service', () => {
  let fake: FakeDeadline;
  let client: DeadlineClient;
  const secret = 'pa55-word-XYZ';
  beforeAll(async () => {
    fake = await FakeDeadline.start({
      user: 'spillway',
      password: secret,
      startWorkers: false,
      limits: { lic: 2 },
    });
    client = new DeadlineClient(fake.url, { user: 'spillway', password: secret, maxAttempts: 2 });
  });
  afterAll(async () => {
    client.close();
    await fake.close();
  });

  const submit = (): Promise<string> =>
    client.submitJob({
      jobInfo: {
        Plugin: 'CommandLine',
        Name: 'j',
        Frames: '1-4',
        Group: 'none',
        Priority: 70,
        ExtraInfoKeyValue0: 'SpillwayDeadline=2030-01-01T00:00:00Z',
        OutputDirectory0: '/tmp/o',
      },
      pluginInfo: { Executable: '/bin/true' },
    });

  it('GIVEN a submitted job WHEN listed THEN jobs, tasks and their states read back typed', async () => {
    const id = await submit();
    const [job] = await client.getJobs([id]);
    expect(job).toMatchObject({
      id,
      plugin: 'CommandLine',
      priority: 70,
      group: '',
      state: 'active',
      outputDirectories: ['/tmp/o'],
    });
    expect(job!.extraInfo.SpillwayDeadline).toBe('2030-01-01T00:00:00Z');
    expect((await client.listJobs(['active'])).map((j) => j.id)).toContain(id);
    const tasks = await client.listTasks(id);
    expect(tasks.map((t) => [t.taskId, t.state, t.frames])).toEqual([
      [0, 'queued', '1-1'],
      [1, 'queued', '2-2'],
      [2, 'queued', '3-3'],
      [3, 'queued', '4-4'],
    ]);
  });

  it('GIVEN a task list WHEN suspended THEN exactly those tasks are suspended', async () => {
    const id = await submit();
    await client.taskCommand('suspend', id, [1, 3]);
    expect((await client.listTasks(id)).map((t) => t.state)).toEqual([
      'queued',
      'suspended',
      'queued',
      'suspended',
    ]);
    await client.taskCommand('resume', id, [1]);
    expect((await client.listTasks(id)).map((t) => t.state)).toEqual([
      'queued',
      'queued',
      'queued',
      'suspended',
    ]);
  });

  it('GIVEN an empty task list WHEN a command is sent THEN it is refused before anything reaches Deadline', async () => {
    const id = await submit();
    const before = fake.taskCommands.length;
    await expect(client.taskCommand('suspend', id, [])).rejects.toBeInstanceOf(EmptyTaskListError);
    await expect(client.taskCommand('complete', id, undefined as unknown as number[])).rejects.toThrow(
      /TaskList/,
    );
    expect(fake.taskCommands.length).toBe(before);
    expect((await client.listTasks(id)).every((t) => t.state === 'queued')).toBe(true);
  });

  it('GIVEN the fake WHEN sent a raw empty TaskList THEN it applies to every task, as Deadline does', async () => {
    const id = await submit();
    const res = await fetch(`${fake.url}/api/tasks`, {
      method: 'PUT',
      headers: { Authorization: `Basic ${Buffer.from(`spillway:${secret}`).toString('base64')}` },
      body: JSON.stringify({ Command: 'suspend', JobID: id, TaskList: [] }),
    });
    expect(res.status).toBe(200);
    expect((await client.listTasks(id)).every((t) => t.state === 'suspended')).toBe(true);
  });

  it('GIVEN a wrong password WHEN calling THEN 401 is not retried and the password is in no message', async () => {
    const bad = new DeadlineClient(fake.url, {
      user: 'spillway',
      password: 'wrong-secret-123',
      maxAttempts: 4,
    });
    const err = await bad.listJobs().catch((e: unknown) => e);
    bad.close();
    expect(err).toBeInstanceOf(DeadlineRequestError);
    expect((err as DeadlineRequestError).status).toBe(401);
    expect((err as Error).message).not.toContain('wrong-secret-123');
    expect((err as Error).message).not.toContain(Buffer.from('spillway:wrong-secret-123').toString('base64'));
  });

  it('GIVEN an unknown job WHEN tasks are asked THEN the 500 becomes a typed error', async () => {
    const err = await client.listTasks('nope').catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 500 });
  });

  it('GIVEN workers, pools, groups and limits WHEN listed THEN they read back', async () => {
    expect((await client.listWorkers()).map((w) => [w.name, w.state])).toEqual([
      ['worker-1', 'idle'],
      ['worker-2', 'idle'],
    ]);
    expect(await client.listPools()).toEqual(['none']);
    expect(await client.listGroups()).toEqual(['none']);
    expect(await client.listLimits()).toEqual([{ name: 'lic', limit: 2, inUse: 0 }]);
  });

  it('GIVEN nothing listening WHEN calling THEN it retries a bounded number of times and fails typed', async () => {
    const dead = new DeadlineClient('http://127.0.0.1:1', { maxAttempts: 3, maxBackoffMs: 10 });
    const t0 = Date.now();
    const err = await dead.listJobs().catch((e: unknown) => e);
    dead.close();
    expect(err).toMatchObject({ status: 0 });
    expect((err as DeadlineRequestError).retryable).toBe(true);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('GIVEN an abort WHEN calling THEN it stops', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(client.listJobs(['active'], { abortSignal: ac.signal })).rejects.toThrow(/aborted/);
  });
});

describe('records', () => {
  it('GIVEN unknown fields, string codes and null dates WHEN read THEN they are tolerated', () => {
    const j = jobFromRaw({
      _id: 'x',
      Stat: 2,
      Date: '0001-01-01T00:00:00Z',
      Whatever: { a: 1 },
      Props: { Grp: 'none', Limits: 'a, b' },
    });
    expect(j).toMatchObject({
      state: 'suspended',
      submittedAt: undefined,
      group: '',
      limits: ['a', 'b'],
      chunkSize: 1,
    });
    expect(taskFromRaw({ TaskID: '3', Stat: 99 }, 'x')).toMatchObject({
      taskId: 3,
      state: 'unknown',
      jobId: 'x',
    });
  });
});

describe('DeadlineClient against a Web Service answering nonsense', () => {
  // GIVEN a real HTTP server on 127.0.0.1:0 that answers 200 with something that is not the API
  // WHEN the client lists jobs, tasks or workers
  // THEN it fails with a DeadlineAnswerError saying what was wrong, never an empty list or a
  // job whose id is "undefined".
  let server: http.Server;
  let url = '';
  let answer: { type: string; body: string } = { type: 'application/json', body: '[]' };
  beforeAll(async () => {
    server = http.createServer((_req, res) =>
      res.writeHead(200, { 'Content-Type': answer.type }).end(answer.body),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it.each<[string, string, string, (c: DeadlineClient) => Promise<unknown>, RegExp]>([
    [
      'truncated JSON',
      'application/json',
      '[{"_id": "a", "Props": {"Na',
      (c) => c.listJobs(),
      /not JSON \(truncated\?\)/,
    ],
    [
      'an HTML page',
      'text/html',
      '<!DOCTYPE html><html><body>Sign in</body></html>',
      (c) => c.listJobs(),
      /HTML page/,
    ],
    [
      'HTML sent as JSON',
      'application/json',
      '<html><body>502</body></html>',
      (c) => c.listWorkers(),
      /HTML page/,
    ],
    [
      'jobs without _id',
      'application/json',
      '[{"JobID": "x", "Stat": 1}]',
      (c) => c.listJobs(),
      /job without _id/,
    ],
    [
      'an object where jobs are due',
      'application/json',
      '{"error": "busy"}',
      (c) => c.listJobs(),
      /where a list of jobs is due/,
    ],
    [
      'tasks without ids',
      'application/json',
      '{"Tasks": [{"Stat": 2}]}',
      (c) => c.listTasks('j'),
      /task without a whole-number TaskID/,
    ],
    ['nothing at all', 'application/json', '', (c) => c.listWorkers(), /answered nothing/],
  ])('GIVEN %s WHEN read THEN a DeadlineAnswerError says so', async (_n, type, body, call, message) => {
    answer = { type, body };
    const client = new DeadlineClient(url, { maxAttempts: 1 });
    try {
      const err = await call(client).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DeadlineAnswerError);
      expect((err as Error).message).toMatch(message);
    } finally {
      client.close();
    }
  });
});
