import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FrameLogChunk } from '@spillway/sdk';
import { startTestService, type TestService } from '../support/service';

// GIVEN the embedded default with one node, and a frame whose first attempt writes a long log
// and fails, and whose retry (maxRetries 1, on the same node) writes a short one
// WHEN its log is followed from the start
// THEN each attempt's bytes carry that attempt, the retry's log starts at its own byte 0 and
// holds none of the first attempt's lines.
describe('live log of a frame retried on the same node', () => {
  let svc: TestService;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-retry-log-'));
  beforeAll(async () => {
    svc = await startTestService({ nodes: 1 });
  });
  afterAll(async () => {
    await svc.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the attempts apart', async () => {
    const mark = path.join(dir, 'tried');
    const long = 'first attempt line that is long enough to outlast the second attempt';
    const { jobId } = await svc.client.submitFrames(
      {
        source: 'test:retry-log',
        sourceJobId: 'r',
        maxRetries: 1,
        commandTemplate: `if [ -e ${mark} ]; then echo second; sleep 1; echo done > out/f.txt; else touch ${mark}; for i in 1 2 3; do echo "${long} $i"; done; sleep 1; exit 3; fi`,
      },
      [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1 }],
    );
    const chunks: FrameLogChunk[] = [];
    for await (const c of svc.client.followFrameLog(jobId, 1, { follow: true })) chunks.push(c);
    const last = chunks[chunks.length - 1]!;
    expect(last).toMatchObject({ end: true, state: 'succeeded', attempt: 2 });
    const of = (attempt: number): string =>
      Buffer.concat(chunks.filter((c) => c.attempt === attempt).map((c) => c.data)).toString();
    expect(of(1)).toContain(`${long} 1\n`);
    expect(of(2).startsWith('second\n')).toBe(true);
    expect(of(2)).not.toContain(long);
    expect(chunks.filter((c) => c.attempt > 2)).toEqual([]);
    for (const c of chunks.filter((c) => c.attempt === 2 && c.data.length > 0)) {
      expect(of(2).slice(c.offset, c.offset + c.data.length)).toBe(c.data.toString());
    }
  }, 120_000);
});
