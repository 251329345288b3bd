import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../support/process';
import { startTestService, type TestService } from '../support/service';

// GIVEN docs/sdk.md, whose examples are the files under examples/src/sdk (compiled by
// `tsc -b` into examples/dist/sdk), and a live service (local engine, Azurite)
// WHEN each example runs as a user runs it (`node examples/dist/sdk/X.js`)
// THEN it does what the page says, and every block on the page is its file byte for byte.

const root = path.resolve(__dirname, '../..');
const examples = path.join(root, 'examples/src/sdk');
const built = path.join(root, 'examples/dist/sdk');
const { render, pages } = require(path.join(root, 'scripts/docs-examples.js')) as {
  render(text: string): { out: string; shown: string[] };
  pages: string[];
};

describe('docs/sdk.md', () => {
  it('shows every example under examples/src/sdk, each block equal to its file', () => {
    expect(pages).toContain('docs/sdk.md');
    const text = fs.readFileSync(path.join(root, 'docs/sdk.md'), 'utf8');
    const { out, shown } = render(text);
    expect(shown.sort()).toEqual(
      fs
        .readdirSync(examples)
        .filter((f) => f.endsWith('.ts'))
        .map((f) => `examples/src/sdk/${f}`)
        .sort(),
    );
    // A difference means the page shows something else than what the tests run: npm run docs:examples.
    expect(out).toBe(text);
  });

  describe('its examples, against a live service', () => {
    let svc: TestService;
    let dir: string;
    const example = (name: string, ...args: string[]): ReturnType<typeof run> =>
      run(process.execPath, [path.join(built, `${name}.js`), ...args], {
        cwd: dir,
        env: { ...process.env, SPILLWAY_ADDRESS: svc.address, SPILLWAY_DATA_DIR: path.join(dir, 'data') },
      });
    let watchedJob: string;

    beforeAll(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-sdk-docs-'));
      svc = await startTestService({ nodes: 2, slotsPerNode: 2 });
    });
    afterAll(async () => {
      await svc.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('connect: lists the capacity groups', async () => {
      const r = await example('connect');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`connected to ${svc.address}: 1 capacity group(s)`);
      expect(r.stdout).toMatch(
        /^ {2}default: frame-offload, 2 dedicated \+ 0 spot node\(s\), 0\.00 per hour$/m,
      );

      const none = await run(process.execPath, [path.join(built, 'connect.js')], {
        env: { ...process.env, SPILLWAY_ADDRESS: '127.0.0.1:1' },
      });
      expect(none.code).toBe(1);
      expect(none.stderr.trim()).toBe('no service at 127.0.0.1:1 (start one: npx spillway serve)');
    });

    it('submit-range: 100 frames in 10 tasks, idempotent', async () => {
      const r = await example('submit-range', 'docs-range-1');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const [first, again, counts] = r.stdout.trim().split('\n');
      expect(first).toMatch(/^job j-\w+: 10 tasks, 10 new$/);
      expect(again).toBe('again: 0 new');
      expect(counts).toMatch(/^queued \d+, running \d+, succeeded \d+$/);
      const job = await svc.client.getJob({
        source: `pipeline:${os.userInfo().username}`,
        sourceJobId: 'docs-range-1',
      });
      const frames = [];
      for await (const f of svc.client.listFrames(job.jobId)) frames.push(f);
      expect(frames.map((f) => [f.frameStart, f.frameEnd])).toEqual(
        Array.from({ length: 10 }, (_, i) => [i * 10 + 1, i * 10 + 10]),
      );
    });

    it('watch-events: follows a job to the end, then stops', async () => {
      const r = await example('watch-events');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const lines = r.stdout.trim().split('\n');
      watchedJob = /^job (j-\w+)$/.exec(lines[0]!)![1]!;
      expect(lines.filter((l) => /^succeeded frame [123]$/.test(l))).toHaveLength(3);
      expect(lines.filter((l) => /^started frame \d on \S+$/.test(l)).length).toBeGreaterThanOrEqual(3);
      expect(lines.at(-1)).toBe(`job ${watchedJob} completed: 3 succeeded, 0 failed`);
    });

    it('fetch-outputs: every output of the watched job, verified, in the folder', async () => {
      expect(watchedJob).toBeDefined();
      const dest = path.join(dir, 'renders');
      const r = await example('fetch-outputs', watchedJob, dest);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^f_0002\.txt: 2 bytes, sha256 [0-9a-f]{12}\.\.\.$/m);
      expect(r.stdout.trim().split('\n').at(-1)).toBe(`3 file(s) in ${dest}`);
      expect(fs.readdirSync(dest).sort()).toEqual(['f_0001.txt', 'f_0002.txt', 'f_0003.txt']);
      expect(fs.readFileSync(path.join(dest, 'f_0003.txt'), 'utf8')).toBe('3\n');
    });

    it('capacity-group: creates, resizes, lists the nodes and deletes a group', async () => {
      const r = await example('capacity-group');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toBe('created example-nightly');
      expect(lines[1]).toBe('target 1 dedicated + 2 spot');
      expect(lines.filter((l) => /^ {2}\S+ dedicated /.test(l))).toHaveLength(1);
      expect(lines.filter((l) => /^ {2}\S+ spot /.test(l))).toHaveLength(2);
      expect(lines).toContain('cost 1.07 per hour'); // 0.77 + 2 x 0.15
      expect(lines.at(-1)).toBe('deleted example-nightly');
      expect((await svc.client.capacity.list()).map((g) => g.name)).not.toContain('example-nightly');
    });

    it('sync-assets: uploads what the store lacks, once; the job reads the files', async () => {
      const project = path.join(dir, 'shot010');
      fs.mkdirSync(path.join(project, 'tex'), { recursive: true });
      fs.writeFileSync(path.join(project, 'shot.blend'), 'scene bytes');
      fs.writeFileSync(path.join(project, 'tex', 'wood.png'), 'texture bytes');
      fs.writeFileSync(path.join(project, 'tex', 'wood-copy.png'), 'texture bytes'); // same content
      const first = await example('sync-assets', project);
      expect(first.stderr).toBe('');
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/^manifest [0-9a-f]{12}\.\.\.: 3 file\(s\), 2 uploaded$/m);
      const again = await example('sync-assets', project);
      expect(again.stdout).toMatch(/: 3 file\(s\), 0 uploaded$/m);

      const jobId = /^job (j-\w+) reads it$/m.exec(first.stdout)![1]!;
      let frames: Awaited<ReturnType<typeof collect>> = [];
      for (let i = 0; i < 600; i++) {
        frames = await collect(jobId);
        if (frames.every((f) => f.state === 'succeeded' || f.state === 'failed')) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(frames.map((f) => f.state)).toEqual(['succeeded']);
      const listing = path.join(dir, 'assets.txt');
      await svc.client.assets.fetchOutput(frames[0]!.frameId, 'assets.txt', listing);
      expect(fs.readFileSync(listing, 'utf8').trim().split('\n').sort()).toEqual(['shot.blend', 'tex']);
    }, 180_000);

    async function collect(jobId: string) {
      const out = [];
      for await (const f of svc.client.listFrames(jobId)) out.push(f);
      return out;
    }
  });
});
