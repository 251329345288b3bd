import {
  BatchComputeBackend,
  frameOutputFiles,
  type CapacityEvent,
  type ComputeTaskSpec,
  type GroupSpec,
  type TaskEvent,
} from '@spillway/sdk/compute';
import { startBatchEmulator, type BatchEmulator } from '@spillway/sdk/emulate';
import { startTestAzurite, type TestAzurite } from './azurite';

const IMAGE = {
  publisher: 'canonical',
  offer: '0001-com-ubuntu-server-jammy',
  sku: '22_04-lts',
  nodeAgentSkuId: 'batch.node.ubuntu 22.04',
};

function group(name: string, extra: Partial<GroupSpec> = {}): GroupSpec {
  return {
    name,
    vmSize: 'Standard_D2as_v5',
    taskSlotsPerNode: 4,
    maxDedicatedNodes: 4,
    maxSpotNodes: 8,
    image: IMAGE,
    ...extra,
  };
}

function backendFor(
  emu: BatchEmulator,
  extra: Partial<ConstructorParameters<typeof BatchComputeBackend>[0]> = {},
): BatchComputeBackend {
  return new BatchComputeBackend({
    accountUrl: emu.url,
    credential: { accountName: emu.accountName, accountKey: emu.accountKey },
    pollIntervalMs: 150,
    retry: { maxAttempts: 12, initialIntervalMs: 10, maxIntervalMs: 100 },
    resizeConflictWaitMs: 5_000,
    ...extra,
  });
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('Batch backend over the real @azure/batch client against the Batch emulator', () => {
  let azurite: TestAzurite;
  beforeAll(async () => {
    azurite = await startTestAzurite();
  });
  afterAll(async () => azurite?.stop());

  it(
    'GIVEN a pool of spot and dedicated nodes, 20% injected 503/500 faults and 30% of nodes preempted mid-job ' +
      'WHEN a job of 300 file-writing tasks is submitted THEN every task is created once and succeeds once, outputs are in Azurite',
    async () => {
      // Preempted nodes stay so for 5 s: monitoring polls must see them, even on a loaded machine.
      const emu = await startBatchEmulator({ engine: { bootDelayMs: 300, spotRecoveryMs: 5_000, seed: 7 } });
      const backend = backendFor(emu);
      const events: TaskEvent[] = [];
      const capacity: CapacityEvent[] = [];
      backend.onTaskEvent((e) => events.push(e));
      backend.onCapacityEvent((e) => capacity.push(e));
      try {
        const containerUrl = await azurite.containerSasUrl('frames');
        const assetsUrl = await azurite.containerSasUrl('assets');
        await azurite.service
          .getContainerClient('assets')
          .getBlockBlobClient('shot010/scene.txt')
          .upload('scene-v1\n', 9);
        await backend.ensureGroup(group('render'));
        // GIVEN: faults from here on, on every operation, half of the 500s after the work was applied.
        emu.setFaults({
          serverBusyRate: 0.1,
          operationTimedOutRate: 0.1,
          dropConnectionRate: 0.03,
          appliedShare: 0.5,
          seed: 3,
          // And for certain: the first add-collection is applied, then answered 500.
          script: [{ operation: 'Task_AddCollection', kind: 'operationTimedOut', afterApply: true }],
        });
        await backend.resizeGroup('render', { dedicated: 3, spot: 7 });
        await backend.createJob({
          id: 'shot010',
          group: 'render',
          // Assets come from Azurite through a container SAS, into the preparation's directory.
          preparation: {
            commandLine: 'cp assets/shot010/scene.txt "$AZ_BATCH_NODE_SHARED_DIR/scene.txt"',
            resourceFiles: [{ storageContainerUrl: assetsUrl, blobPrefix: 'shot010/', filePath: 'assets' }],
          },
          release: { commandLine: 'rm -f "$AZ_BATCH_NODE_SHARED_DIR/scene.txt"' },
          maxTaskRetryCount: 2,
        });
        const tasks: ComputeTaskSpec[] = Array.from({ length: 300 }, (_, i) => ({
          id: `frame-${String(i + 1).padStart(4, '0')}`,
          commandLine:
            'mkdir -p out && echo "$AZ_BATCH_TASK_ID $(cat "$AZ_BATCH_NODE_SHARED_DIR/scene.txt")" > out/frame.txt && sleep 0.05',
          outputFiles: frameOutputFiles(containerUrl, `shot010/frame-${String(i + 1).padStart(4, '0')}`, {
            framesPattern: 'out/*.txt',
          }),
        }));

        // WHEN
        const result = await backend.addTasks('shot010', tasks);
        expect(result.added.length + result.alreadyExisted.length).toBe(300);
        expect(new Set([...result.added, ...result.alreadyExisted]).size).toBe(300);

        // ... and 3 of the 10 nodes are preempted once a third of the frames are done.
        await until('a third of the frames', () => {
          const c = emu.engine.taskCounts('shot010');
          return c.completed >= 100 ? c : undefined;
        });
        const preempted = emu.engine.preemptSpotNodes('render', 3);
        expect(preempted).toHaveLength(3);

        const counts = await until('every task completed', async () => {
          const c = await backend.getTaskCounts('shot010');
          return c.completed === 300 ? c : undefined;
        });

        // THEN: all succeeded, per the backend ...
        expect(counts).toMatchObject({ active: 0, running: 0, completed: 300, succeeded: 300, failed: 0 });
        // ... and per the emulator's own records: one creation and one success per task id, 300 ids in all.
        const creations = [...emu.records.taskCreations.entries()].filter(([k]) => k.startsWith('shot010/'));
        expect(creations).toHaveLength(300);
        expect(creations.filter(([, n]) => n !== 1)).toEqual([]);
        const successes = [...emu.records.taskSuccesses.entries()].filter(([k]) => k.startsWith('shot010/'));
        expect(successes).toHaveLength(300);
        expect(successes.filter(([, n]) => n !== 1)).toEqual([]);
        // The faults and preemptions really happened (so the test exercised what it claims).
        expect(emu.records.faults.serverBusy).toBeGreaterThan(0);
        expect(emu.records.faults.operationTimedOut).toBeGreaterThan(0);
        expect(emu.records.faults.drop).toBeGreaterThan(0);
        expect(emu.records.faults.afterApply).toBeGreaterThan(0);
        expect(result.alreadyExisted.length).toBeGreaterThan(0);
        const engineTasks = [...emu.engine.listTasks('shot010')];
        expect(engineTasks.reduce((n, t) => n + t.requeueCount, 0)).toBeGreaterThan(0);
        expect(engineTasks.every((t) => t.retryCount === 0)).toBe(true);

        // Outputs: one frame per task in the container, written on a node that ran the preparation.
        const frames = new Map<string, string>();
        for await (const b of azurite.service
          .getContainerClient('frames')
          .listBlobsFlat({ prefix: 'shot010/' })) {
          if (b.name.endsWith('/frames/frame.txt')) frames.set(b.name, b.name);
        }
        expect(frames.size).toBe(300);
        const sample = await azurite.service
          .getContainerClient('frames')
          .getBlobClient('shot010/frame-0042/frames/frame.txt')
          .downloadToBuffer();
        expect(sample.toString()).toBe('frame-0042 scene-v1\n');
        const logs = await azurite.service
          .getContainerClient('frames')
          .getBlobClient('shot010/frame-0042/logs/stdout.txt')
          .exists();
        expect(logs).toBe(true);

        // Files on the node, through Get File From Task (what the service reads a frame's
        // outputs.json with); anything missing or outside the task's directory is undefined.
        emu.setFaults({});
        const onNode = await backend.readTaskFile('shot010', 'frame-0042', 'wd/out/frame.txt');
        expect(onNode?.toString()).toBe('frame-0042 scene-v1\n');
        expect(await backend.readTaskFile('shot010', 'frame-0042', 'wd/out/none.txt')).toBeUndefined();
        expect(
          await backend.readTaskFile('shot010', 'frame-0042', '../frame-0041/wd/out/frame.txt'),
        ).toBeUndefined();
        expect(await backend.readTaskFile('shot010', 'no-such-task', 'stdout.txt')).toBeUndefined();
        expect(emu.records.byOperation.get('File_GetFromTask')).toBeGreaterThanOrEqual(4);

        // Monitoring turned the changes into events: one completion per task, and the preemptions.
        await until(
          'completion events',
          () =>
            new Set(events.filter((e) => e.type === 'completed').map((e) => e.task.taskId)).size === 300 ||
            undefined,
        );
        expect(events.some((e) => e.type === 'preempted')).toBe(true);
        expect(capacity.some((e) => e.type === 'nodePreempted')).toBe(true);
        expect(capacity.filter((e) => e.type === 'nodeReady').length).toBeGreaterThanOrEqual(10);

        // Release runs at job end.
        await backend.terminateJob('shot010');
        await until('job completed', () => emu.engine.getJob('shot010')?.state === 'completed' || undefined);
      } finally {
        await backend.close();
        await emu.close();
      }
    },
  );

  it('GIVEN a task with an httpUrl resource file (a blob SAS URL) WHEN it runs THEN the file is there first; a bad URL fails the task without the SAS', async () => {
    const emu = await startBatchEmulator();
    const backend = backendFor(emu);
    try {
      const assetsUrl = await azurite.containerSasUrl('inputs');
      await azurite.service
        .getContainerClient('inputs')
        .getBlockBlobClient('tex/wood.txt')
        .upload('grain\n', 6);
      const [base, sas] = assetsUrl.split('?') as [string, string];
      await backend.ensureGroup(group('inputs'));
      await backend.resizeGroup('inputs', { dedicated: 1, spot: 0 });
      await backend.createJob({ id: 'tex', group: 'inputs' });
      await backend.addTasks('tex', [
        {
          id: 'good',
          commandLine: 'test "$(cat maps/wood.txt)" = grain',
          resourceFiles: [{ httpUrl: `${base}/tex/wood.txt?${sas}`, filePath: 'maps/wood.txt' }],
        },
        {
          id: 'bad',
          commandLine: 'true',
          resourceFiles: [{ httpUrl: `${base}/tex/missing.txt?${sas}`, filePath: 'x.txt' }],
        },
      ]);
      await until('both done', async () =>
        (await backend.getTaskCounts('tex')).completed === 2 ? true : undefined,
      );
      expect(await backend.getTask('tex', 'good')).toMatchObject({ result: 'success', exitCode: 0 });
      const bad = await backend.getTask('tex', 'bad');
      expect(bad).toMatchObject({ result: 'failure', failure: { code: 'ResourceFileDownloadError' } });
      expect(bad?.failure?.message).not.toContain('sig=');
    } finally {
      await backend.close();
      await emu.close();
    }
  });

  it('GIVEN a pool that is resizing WHEN it is resized again and nodes are removed THEN the 409 is handled, never surfaced', async () => {
    const emu = await startBatchEmulator({ engine: { bootDelayMs: 1500 } });
    const backend = backendFor(emu);
    try {
      await backend.ensureGroup(group('anim'));
      await backend.resizeGroup('anim', { dedicated: 2, spot: 0 });
      // The first resize is still allocating: Batch answers 409, the backend waits and retries.
      const status = await backend.resizeGroup('anim', { dedicated: 3, spot: 1 });
      expect(status).toMatchObject({ targetDedicatedNodes: 3, targetSpotNodes: 1 });
      expect(emu.records.byOperation.get('Pool_Resize')).toBeGreaterThanOrEqual(3);
      await until('4 idle nodes', async () => {
        const nodes = await backend.listNodes('anim');
        return nodes.length === 4 && nodes.every((n) => n.state === 'idle') ? nodes : undefined;
      });
      await backend.resizeGroup('anim', { dedicated: 4, spot: 1 });
      const nodes = await backend.listNodes('anim');
      await backend.removeNodes('anim', [nodes[0]!.id]);
      const after = await until('node removed', async () => {
        const g = await backend.getGroup('anim');
        return g && g.state === 'steady' && g.currentDedicatedNodes + g.currentSpotNodes === 4
          ? g
          : undefined;
      });
      expect(after.targetDedicatedNodes + after.targetSpotNodes).toBe(4);
      await backend.deleteGroup('anim');
      await backend.deleteGroup('anim');
      expect(
        await until('pool gone', async () =>
          (await backend.getGroup('anim')) === undefined ? true : undefined,
        ),
      ).toBe(true);
    } finally {
      await backend.close();
      await emu.close();
    }
  });

  it('GIVEN an account whose core quota is 2 nodes WHEN a resize asks for 5 THEN quotaReached arrives as a capacity event at once', async () => {
    const emu = await startBatchEmulator({ engine: { quota: { dedicatedNodes: 2 } } });
    const backend = backendFor(emu, { pollIntervalMs: 60_000 });
    const capacity: CapacityEvent[] = [];
    backend.onCapacityEvent((e) => capacity.push(e));
    try {
      await backend.ensureGroup(group('quota', { maxDedicatedNodes: 10 }));
      const status = await backend.resizeGroup('quota', { dedicated: 5, spot: 0 });
      expect(status.errors.map((e) => e.code)).toContain('AccountCoreQuotaReached');
      expect(capacity.find((e) => e.type === 'quotaReached')?.error?.code).toBe('AccountCoreQuotaReached');
    } finally {
      await backend.close();
      await emu.close();
    }
  });

  it('GIVEN a pool whose start task fails WHEN nodes boot THEN each is reported nodeFailed with StartTaskFailed', async () => {
    const emu = await startBatchEmulator();
    const backend = backendFor(emu);
    const capacity: CapacityEvent[] = [];
    backend.onCapacityEvent((e) => capacity.push(e));
    try {
      await backend.ensureGroup(group('broken', { startTaskCommand: 'echo no licence server >&2; exit 3' }));
      await backend.resizeGroup('broken', { dedicated: 2, spot: 0 });
      const failed = await until('two nodeFailed events', () => {
        const f = capacity.filter((e) => e.type === 'nodeFailed');
        return f.length === 2 ? f : undefined;
      });
      expect(failed.map((e) => e.error?.code)).toEqual(['StartTaskFailed', 'StartTaskFailed']);
      expect((await backend.listNodes('broken')).map((n) => n.state)).toEqual([
        'startTaskFailed',
        'startTaskFailed',
      ]);
      expect(capacity.some((e) => e.type === 'nodeReady')).toBe(false);
    } finally {
      await backend.close();
      await emu.close();
    }
  });

  it('GIVEN poolMode auto WHEN a job runs THEN an auto pool is made from the group spec and targets, runs it, and goes when the job ends', async () => {
    const emu = await startBatchEmulator({ engine: { bootDelayMs: 50 } });
    const backend = backendFor(emu, { poolMode: 'auto' });
    try {
      const empty = await backend.ensureGroup(group('auto', { taskSlotsPerNode: 2 }));
      expect(empty).toMatchObject({ name: 'auto', currentDedicatedNodes: 0, currentSpotNodes: 0 });
      await backend.resizeGroup('auto', { dedicated: 1, spot: 1 });
      expect(emu.records.requests).toBe(0);
      await backend.createJob({ id: 'a1', group: 'auto' });
      const pools = emu.engine.listPools();
      expect(pools).toHaveLength(1);
      expect(pools[0]).toMatchObject({ targetDedicatedNodes: 1, targetSpotNodes: 1, taskSlotsPerNode: 2 });
      expect(pools[0]!.id.startsWith('auto_')).toBe(true);
      await backend.addTasks(
        'a1',
        [1, 2, 3, 4].map((i) => ({ id: `t${i}`, commandLine: 'true' })),
      );
      await until('tasks done', async () =>
        (await backend.getTaskCounts('a1')).succeeded === 4 ? true : undefined,
      );
      expect(await backend.getGroup('auto')).toMatchObject({ currentDedicatedNodes: 1, currentSpotNodes: 1 });
      expect(await backend.listNodes('auto')).toHaveLength(2);
      await backend.terminateJob('a1');
      await until('auto pool gone', () => (emu.engine.listPools().length === 0 ? true : undefined));
      expect(await backend.getGroup('auto')).toMatchObject({ currentDedicatedNodes: 0, currentSpotNodes: 0 });
    } finally {
      await backend.close();
      await emu.close();
    }
  });

  it('GIVEN pages of 7 tasks WHEN 20 are listed by state and change time THEN every page is followed', async () => {
    const emu = await startBatchEmulator({ defaultMaxResults: 7 });
    const backend = backendFor(emu);
    try {
      await backend.ensureGroup(group('pages'));
      await backend.createJob({ id: 'p1', group: 'pages' });
      const since = new Date(Date.now() - 60_000);
      await backend.addTasks(
        'p1',
        Array.from({ length: 20 }, (_, i) => ({ id: `t${i}`, commandLine: 'true' })),
      );
      const listed: string[] = [];
      for await (const t of backend.listTasks('p1', { state: 'active', changedSince: since }))
        listed.push(t.taskId);
      expect(listed).toHaveLength(20);
      expect(new Set(listed).size).toBe(20);
      expect(emu.records.byOperation.get('Task_List')).toBe(3);
      const none: string[] = [];
      for await (const t of backend.listTasks('p1', { state: 'completed' })) none.push(t.taskId);
      expect(none).toEqual([]);
    } finally {
      await backend.close();
      await emu.close();
    }
  });

  it('GIVEN a service that only answers 503 WHEN the caller aborts THEN the retries stop at once', async () => {
    const emu = await startBatchEmulator();
    const backend = backendFor(emu, {
      retry: { maxAttempts: 100, initialIntervalMs: 50, maxIntervalMs: 200 },
    });
    try {
      emu.setFaults({ serverBusyRate: 1 });
      const abort = new AbortController();
      const started = Date.now();
      setTimeout(() => abort.abort(new Error('caller gave up')), 300);
      await expect(backend.getGroup('any', { abortSignal: abort.signal })).rejects.toThrow('caller gave up');
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(emu.records.faults.serverBusy).toBeGreaterThan(1);
    } finally {
      await backend.close();
      await emu.close();
    }
  });

  it('GIVEN a wrong account key WHEN the backend calls Batch THEN a typed 403 BatchError arrives without the key', async () => {
    const emu = await startBatchEmulator();
    const wrongKey = Buffer.from('not-the-right-key-at-all-0123456789').toString('base64');
    const backend = new BatchComputeBackend({
      accountUrl: emu.url,
      credential: { accountName: emu.accountName, accountKey: wrongKey },
    });
    try {
      const err = await backend.getGroup('x').catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'BatchError', code: 'AuthenticationFailed', statusCode: 403 });
      const text = `${String(err)} ${JSON.stringify(err)} ${(err as Error).stack ?? ''}`;
      expect(text).not.toContain(wrongKey);
      expect(text).not.toContain(emu.accountKey);
    } finally {
      await backend.close();
      await emu.close();
    }
  });

  it('GIVEN an Azure AD TokenCredential WHEN the backend calls Batch THEN a bearer token authenticates it', async () => {
    const emu = await startBatchEmulator({ bearerTokens: ['token-abc'] });
    const credential = {
      getToken: async () => ({ token: 'token-abc', expiresOnTimestamp: Date.now() + 3_600_000 }),
    };
    const backend = new BatchComputeBackend({ accountUrl: emu.url, credential });
    try {
      await backend.ensureGroup(group('aad'));
      expect(await backend.getGroup('aad')).toMatchObject({ name: 'aad', state: 'steady' });
      expect(await backend.getTask('nojob', 'nothing')).toBeUndefined();
    } finally {
      await backend.close();
      await emu.close();
    }
  });
});
