import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { BatchServiceClient, BatchSharedKeyCredentials, type BatchServiceModels } from '@azure/batch';
import { type BatchEmulator, startBatchEmulator } from '@spillway/sdk/emulate';

const VMC = {
  imageReference: { publisher: 'canonical', offer: 'ubuntu', sku: '22_04' },
  nodeAgentSKUId: 'batch.node.ubuntu 22.04',
};

function clientFor(
  emu: { url: string; accountName: string; accountKey: string },
  key = emu.accountKey,
): BatchServiceClient {
  return new BatchServiceClient(new BatchSharedKeyCredentials(emu.accountName, key), emu.url, {
    noRetryPolicy: true,
  } as never);
}

async function failure(
  p: Promise<unknown>,
): Promise<{ statusCode?: number; code?: string; body?: BatchServiceModels.BatchError }> {
  return p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: { statusCode?: number; code?: string; body?: BatchServiceModels.BatchError }) => e,
  );
}

describe('the Batch emulator, spoken to by the real @azure/batch client', () => {
  let emu: BatchEmulator;
  let client: BatchServiceClient;
  beforeAll(async () => {
    emu = await startBatchEmulator({ engine: { bootDelayMs: 3000 } });
    client = clientFor(emu);
    await client.pool.add({ id: 'p', vmSize: 'Standard_D2as_v5', virtualMachineConfiguration: VMC });
    await client.job.add({ id: 'j', poolInfo: { poolId: 'p' } });
  });
  afterAll(async () => emu.close());

  it('GIVEN 101 tasks WHEN added as one collection THEN RequestBodyTooLarge (413) and none is created', async () => {
    // The generated method refuses 101 tasks itself; send them signed through the client's pipeline.
    const tasks = Array.from({ length: 101 }, (_, i) => ({ id: `t${i}`, commandLine: 'true' }));
    const res = await client.sendRequest({
      method: 'POST',
      url: `${emu.url}/jobs/j/addtaskcollection`,
      queryParameters: { 'api-version': '2022-10-01.16.0' },
      headers: {
        'Content-Type': 'application/json; odata=minimalmetadata; charset=utf-8',
        'ocp-date': new Date().toUTCString(),
      },
      body: { value: tasks },
    });
    expect(res.status).toBe(413);
    expect(res.parsedBody).toMatchObject({ code: 'RequestBodyTooLarge', message: { lang: 'en-US' } });
    expect(emu.engine.getTask('j', 't0')).toBeUndefined();
  });

  it('GIVEN 100 tasks over 1 MB in all WHEN added as one collection THEN RequestBodyTooLarge', async () => {
    const tasks = Array.from({ length: 100 }, (_, i) => ({
      id: `big${i}`,
      commandLine: `echo ${'x'.repeat(11_000)}`,
    }));
    const e = await failure(client.task.addCollection('j', tasks));
    expect(e).toMatchObject({ statusCode: 413, code: 'RequestBodyTooLarge' });
  });

  it('GIVEN a collection with a bad id and an existing id WHEN added THEN per-task client errors name them, the good one is added', async () => {
    await client.task.add('j', { id: 'dup', commandLine: 'true' });
    const r = await client.task.addCollection('j', [
      { id: 'ok-1', commandLine: 'true' },
      { id: 'bad id', commandLine: 'true' },
      { id: 'DUP', commandLine: 'true' },
    ]);
    const byId = new Map(r.value!.map((x) => [x.taskId, x]));
    expect(byId.get('ok-1')?.status).toBe('success');
    expect(byId.get('bad id')).toMatchObject({
      status: 'clienterror',
      error: { code: 'InvalidPropertyValue' },
    });
    expect(byId.get('bad id')?.error?.values).toContainEqual({ key: 'PropertyName', value: 'id' });
    expect(byId.get('DUP')).toMatchObject({
      status: 'clienterror',
      error: { code: 'TaskExists', message: { lang: 'en-US' } },
    });
  });

  it('GIVEN missing things WHEN fetched THEN PoolNotFound / JobNotFound / TaskNotFound (404) in Batch error shape', async () => {
    expect(await failure(client.pool.get('nope'))).toMatchObject({ statusCode: 404, code: 'PoolNotFound' });
    expect(await failure(client.job.get('nope'))).toMatchObject({ statusCode: 404, code: 'JobNotFound' });
    expect(await failure(client.task.get('nope', 't'))).toMatchObject({
      statusCode: 404,
      code: 'JobNotFound',
    });
    expect(await failure(client.task.get('j', 'nope'))).toMatchObject({
      statusCode: 404,
      code: 'TaskNotFound',
    });
    expect(await failure(client.job.add({ id: 'j', poolInfo: { poolId: 'p' } }))).toMatchObject({
      statusCode: 409,
      code: 'JobExists',
    });
  });

  it('GIVEN a pool resizing WHEN resized again or nodes removed THEN 409 PoolBeingResized', async () => {
    await client.pool.resize('p', { targetDedicatedNodes: 2 });
    expect(await failure(client.pool.resize('p', { targetDedicatedNodes: 3 }))).toMatchObject({
      statusCode: 409,
      code: 'PoolBeingResized',
    });
    expect(await failure(client.pool.removeNodes('p', { nodeList: ['x'] }))).toMatchObject({
      statusCode: 409,
      code: 'PoolBeingResized',
    });
    await client.pool.stopResize('p');
    expect((await client.pool.get('p')).allocationState).toBe('steady');
  });

  it('GIVEN a malformed $filter WHEN listing tasks THEN 400 InvalidQueryParameterValue; a good one filters', async () => {
    expect(
      await failure(client.task.list('j', { taskListOptions: { filter: "state eq 'active" } })),
    ).toMatchObject({
      statusCode: 400,
      code: 'InvalidQueryParameterValue',
    });
    const page = await client.task.list('j', {
      taskListOptions: { filter: "id eq 'dup' or id eq 'ok-1'", select: 'id' },
    });
    expect(page.map((t) => t.id).sort()).toEqual(['dup', 'ok-1']);
    expect(Object.keys(page[0]!)).toEqual(['id']);
  });

  it('GIVEN a wrong key or no Authorization WHEN calling THEN 403 / 401 AuthenticationFailed, in Batch error shape', async () => {
    const wrong = clientFor(emu, Buffer.from('0123456789abcdef0123456789abcdef').toString('base64'));
    const e = await failure(wrong.pool.get('p'));
    expect(e).toMatchObject({ statusCode: 403, code: 'AuthenticationFailed' });
    const res = await fetch(`${emu.url}/pools?api-version=2022-10-01.16.0`);
    expect(res.status).toBe(401);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ code: 'AuthenticationFailed', message: { lang: 'en-US' } });
    expect(String(body['odata.metadata'])).toContain(
      '$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors',
    );
  });

  it('GIVEN a 500 injected after the work was applied WHEN a task is added and re-added THEN the second answer is TaskExists', async () => {
    emu.setFaults({ operationTimedOutRate: 1, appliedShare: 1, operations: ['Task_Add'] });
    expect(await failure(client.task.add('j', { id: 'applied', commandLine: 'true' }))).toMatchObject({
      statusCode: 500,
      code: 'OperationTimedOut',
    });
    emu.setFaults({});
    expect(await failure(client.task.add('j', { id: 'applied', commandLine: 'true' }))).toMatchObject({
      statusCode: 409,
      code: 'TaskExists',
    });
    expect(emu.records.taskCreations.get('j/applied')).toBe(1);
  });
});

describe('spillway emulate batch (the CLI, as a child process)', () => {
  it('GIVEN --port 0 --json and quotas WHEN started THEN it prints its endpoint, serves the real client with those quotas until SIGTERM', async () => {
    const bin = path.join(__dirname, '../../sdk/bin/spillway.js');
    const child = spawn(
      process.execPath,
      [
        bin,
        'emulate',
        'batch',
        '--port',
        '0',
        '--json',
        '--boot-delay-ms',
        '0',
        '--active-job-quota',
        '1',
        '--pool-quota',
        '2',
        '--dedicated-core-quota',
        '8',
        '--low-priority-core-quota',
        '4',
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      const info = JSON.parse(line) as { url: string; account: string; key: string };
      const client = clientFor({ url: info.url, accountName: info.account, accountKey: info.key });
      await client.pool.add({
        id: 'cli',
        vmSize: 'x',
        virtualMachineConfiguration: VMC,
        targetDedicatedNodes: 1,
      });
      expect((await client.pool.list()).map((p) => p.id)).toEqual(['cli']);
      // The quotas given are enforced, and the account's ARM resource reports them.
      await client.job.add({ id: 'one', poolInfo: { poolId: 'cli' } });
      expect(await failure(client.job.add({ id: 'two', poolInfo: { poolId: 'cli' } }))).toMatchObject({
        statusCode: 409,
        code: 'ActiveJobAndScheduleQuotaReached',
      });
      const res = await fetch(
        `${info.url}/subscriptions/s/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/${info.account}?api-version=2024-02-01`,
        { headers: { authorization: 'Bearer any' } },
      );
      expect(((await res.json()) as { properties: unknown }).properties).toMatchObject({
        activeJobAndJobScheduleQuota: 1,
        poolQuota: 2,
        dedicatedCoreQuota: 8,
        lowPriorityCoreQuota: 4,
      });
    } finally {
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
