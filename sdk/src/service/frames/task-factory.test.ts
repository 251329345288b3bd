import type { FrameSpec, JobSpec } from '../../model/frames';
import {
  backendJob,
  backendTask,
  blobUrl,
  createTaskFactory,
  frameCommand,
  frameLogBlob,
  outputPrefix,
  type TaskLocations,
} from './task-factory';

const where: TaskLocations = {
  assetsUrl: 'https://acct.blob.core.windows.net/assets?sv=1&sig=READ',
  nodeScriptUrl: 'https://acct.blob.core.windows.net/assets/tools/spillway_fetch-0123.py?sv=1&sig=SCRIPT',
  outputsUrl: 'https://acct.blob.core.windows.net/assets-outputs?sv=1&sig=WRITE',
};
const MANIFEST = 'a'.repeat(64);
const job: JobSpec = {
  source: 'farm',
  sourceJobId: 'J1',
  commandTemplate: 'render -f #IFRAME# -o out/f_#ZFRAME#.png',
};
const frame: FrameSpec = { sourceTaskId: '7', frameStart: 7, frameEnd: 7 };

describe('blobUrl', () => {
  it.each([
    ['https://a/c?sv=1&sig=X', 'm/x.json', 'https://a/c/m/x.json?sv=1&sig=X'],
    ['https://a/c/?sig=X', 'x', 'https://a/c/x?sig=X'],
    ['http://127.0.0.1:10000/devstoreaccount1/c', 'x', 'http://127.0.0.1:10000/devstoreaccount1/c/x'],
  ])('GIVEN container %s and blob %s THEN %s', (container, blob, expected) => {
    expect(blobUrl(container, blob)).toBe(expected);
  });
});

describe('frameCommand', () => {
  it.each<[string, JobSpec, FrameSpec, string]>([
    ['the template with the frame tokens', job, frame, 'render -f 7 -o out/f_0007.png'],
    ["the frame's own command over the template", job, { ...frame, command: 'special 7' }, 'special 7'],
    [
      'a chunk with start, end and step',
      { ...job, commandTemplate: 'r -s #FRAME_START# -e #FRAME_END# -j #FRAME_CHUNK#' },
      { sourceTaskId: '1', frameStart: 1, frameEnd: 9, frameStep: 2 },
      'r -s 1 -e 9 -j 5',
    ],
  ])('GIVEN %s THEN the command is rendered', (_what, j, f, expected) => {
    expect(frameCommand(j, f)).toBe(expected);
  });
});

describe('backendJob', () => {
  it('GIVEN a job without assets WHEN built THEN preparation only installs the node script', () => {
    const spec = backendJob('j-1', job, 'default', where);
    expect(spec).toEqual({
      id: 'j-1',
      group: 'default',
      preparation: {
        commandLine: expect.stringContaining('spillway_fetch.py'),
        resourceFiles: [{ httpUrl: where.nodeScriptUrl, filePath: 'spillway_fetch.py', fileMode: '0755' }],
      },
      maxTaskRetryCount: 0,
    });
    expect(spec.preparation?.commandLine).not.toContain(' fetch ');
  });

  it('GIVEN a job with a manifest, retries and environment WHEN built THEN preparation fetches that manifest with the read SAS', () => {
    const spec = backendJob(
      'j-1',
      { ...job, assetManifestId: MANIFEST, maxRetries: 2, environment: { A: '1' } },
      'nightly',
      where,
    );
    expect(spec).toMatchObject({
      id: 'j-1',
      group: 'nightly',
      maxTaskRetryCount: 2,
      // The URLs too: a task that finds its tree evicted lays it out again.
      environment: {
        A: '1',
        SPILLWAY_MANIFEST_URL: `https://acct.blob.core.windows.net/assets/manifests/${MANIFEST}.json?sv=1&sig=READ`,
        SPILLWAY_CONTENT_URL: where.assetsUrl,
      },
      // When the job ends on a node, its release removes the laid-out tree.
      release: {
        commandLine: expect.stringContaining(
          'release --cache "$AZ_BATCH_NODE_SHARED_DIR/spillway-cache" --job "$AZ_BATCH_JOB_ID"',
        ),
      },
    });
    expect(spec.preparation?.commandLine).toContain(`fetch --manifest-id ${MANIFEST}`);
    expect(spec.preparation?.environment).toEqual({
      SPILLWAY_MANIFEST_URL: `https://acct.blob.core.windows.net/assets/manifests/${MANIFEST}.json?sv=1&sig=READ`,
      SPILLWAY_CONTENT_URL: where.assetsUrl,
      SPILLWAY_ASSETS_DIR: `$AZ_BATCH_NODE_SHARED_DIR/spillway-assets/${MANIFEST}`,
    });
  });
});

describe('node cache limits', () => {
  it.each([
    ['bytes for the group', { bytes: 5_000_000 }, '--cache-limit-bytes 5000000'],
    ['a share of the disk', { fraction: 0.3 }, '--cache-limit-fraction 0.3'],
  ] as const)(
    'GIVEN %s WHEN the factory builds THEN preparation and task carry it',
    async (_n, limit, flag) => {
      const groups: (string | undefined)[] = [];
      const factory = createTaskFactory(async () => where, {
        cacheLimit: (g) => {
          groups.push(g);
          return limit;
        },
      });
      const j = { ...job, assetManifestId: MANIFEST, capacityGroup: 'nightly' };
      const spec = await factory.jobFor('j-1', j, 'nightly');
      const task = await factory.taskFor('f-1', 'j-1', 'f-1', j, frame);
      expect(spec.preparation?.commandLine).toContain(flag);
      expect(task.commandLine).toContain(flag);
      expect(groups).toEqual(['nightly', 'nightly']);
    },
  );
});

describe('backendTask', () => {
  const input = { taskId: 'f-1-g2', jobId: 'j-1', frameId: 'f-1', job, frame };

  it('GIVEN a frame WHEN built THEN out/ on success, the log always and stderr on failure go to the outputs container', () => {
    const task = backendTask(input, where);
    expect(task.id).toBe('f-1-g2');
    expect(task.outputFiles).toEqual([
      {
        filePattern: 'out/**/*',
        containerUrl: where.outputsUrl,
        path: 'j-1/f-1',
        uploadCondition: 'taskSuccess',
      },
      {
        filePattern: '../stdout.txt',
        containerUrl: where.outputsUrl,
        path: 'logs/j-1/f-1/stdout.txt',
        uploadCondition: 'taskCompletion',
      },
      {
        filePattern: '../stderr.txt',
        containerUrl: where.outputsUrl,
        path: 'logs/j-1/f-1/stderr.txt',
        uploadCondition: 'taskFailure',
      },
    ]);
  });

  it.each<[string, Partial<JobSpec>, Partial<FrameSpec>, (t: ReturnType<typeof backendTask>) => void]>([
    [
      'no limits',
      {},
      {},
      (t) => {
        expect(t.maxWallClockMs).toBeUndefined();
        expect(t.maxTaskRetryCount).toBeUndefined();
        expect(t.environment).toBeUndefined();
      },
    ],
    [
      'a frame timeout and retries',
      { frameTimeoutMs: 60_000, maxRetries: 3 },
      {},
      (t) => expect(t).toMatchObject({ maxWallClockMs: 60_000, maxTaskRetryCount: 3 }),
    ],
    [
      'zero retries (kept: it overrides the job)',
      { maxRetries: 0 },
      {},
      (t) => expect(t.maxTaskRetryCount).toBe(0),
    ],
    [
      'frame environment',
      {},
      { environment: { SHOT: 's010' } },
      (t) => expect(t.environment).toEqual({ SHOT: 's010' }),
    ],
    [
      'stderr merged and the outputs hashed with the default pattern',
      {},
      {},
      (t) => {
        expect(
          t.commandLine.startsWith('exec 2>&1\n( mkdir -p out && render -f 7 -o out/f_0007.png\n)'),
        ).toBe(true);
        expect(t.commandLine).toContain("collect --dir out --pattern '**' --output outputs.json");
      },
    ],
    [
      'output patterns of the job',
      { outputPatterns: ['*.exr', 'beauty/*.png'] },
      {},
      (t) => expect(t.commandLine).toContain("--pattern '*.exr' --pattern 'beauty/*.png'"),
    ],
    [
      'assets: the command sees SPILLWAY_ASSETS_DIR',
      { assetManifestId: MANIFEST },
      {},
      (t) => {
        expect(t.commandLine).toContain(
          `( export SPILLWAY_ASSETS_DIR="$AZ_BATCH_NODE_SHARED_DIR/spillway-assets/${MANIFEST}"\n`,
        );
        // The task pins its assets on the node (a lease by its shell's pid) before it renders.
        expect(t.commandLine).toContain(
          `enter --manifest-id ${MANIFEST} --cache "$AZ_BATCH_NODE_SHARED_DIR/spillway-cache"`,
        );
        expect(t.commandLine).toContain(`--lease-pid $$ || exit $?\nmkdir -p out && render`);
      },
    ],
  ])('GIVEN %s WHEN built THEN the task says so', (_what, jobOver, frameOver, check) => {
    check(backendTask({ ...input, job: { ...job, ...jobOver }, frame: { ...frame, ...frameOver } }, where));
  });

  it('GIVEN the same input twice WHEN built THEN the same task (a re-send after a crash is recognised)', () => {
    expect(backendTask(input, where)).toEqual(backendTask(input, where));
  });
});

describe('paths and the factory', () => {
  it('GIVEN a job and a frame THEN outputs and logs have fixed places', () => {
    expect(outputPrefix('j', 'f')).toBe('j/f/');
    expect(frameLogBlob('j', 'f', 'stdout')).toBe('logs/j/f/stdout.txt');
  });

  it('GIVEN renewed locations WHEN the factory builds THEN each call uses the current URLs', async () => {
    let n = 0;
    const factory = createTaskFactory(async () => ({ ...where, outputsUrl: `https://x/o?sig=${++n}` }));
    const a = await factory.taskFor('f-1', 'j-1', 'f-1', job, frame);
    const b = await factory.taskFor('f-1', 'j-1', 'f-1', job, frame);
    expect(a.outputFiles?.[0]?.containerUrl).toBe('https://x/o?sig=1');
    expect(b.outputFiles?.[0]?.containerUrl).toBe('https://x/o?sig=2');
    expect((await factory.jobFor('j-1', job, 'g')).group).toBe('g');
  });
});
