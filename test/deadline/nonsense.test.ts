import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeadlineBridge, resolveConfig } from '@spillway/bridge-deadline';
import { FakeDeadline } from '@spillway/bridge-deadline/testing';
import { createLogger } from '@spillway/sdk';
import { startTestService, type TestService } from '../support/service';

// GIVEN a running bridge polling every 100 ms, through a proxy in front of a fake Deadline Web
// Service, and a real service
// WHEN the proxy answers job lists with nonsense for many polls — an HTML page, then
// truncated JSON, then wrong-shaped JSON — and then the Web Service answers sensibly again
// THEN the bridge warns once when each kind of nonsense starts (not on every poll), names
// what was wrong, never logs a job whose id is "undefined", and says once that it recovered.

type Mode = 'pass' | 'html' | 'truncated' | 'shape';

describe('Deadline bridge facing a Web Service that answers nonsense', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-deadline-nonsense-'));
  let svc: TestService;
  let deadline: FakeDeadline;
  let proxy: http.Server;
  let proxyUrl = '';
  let mode: Mode = 'pass';
  let jobPolls = 0;
  const lines: string[] = [];

  beforeAll(async () => {
    svc = await startTestService({ nodes: 1 });
    deadline = await FakeDeadline.start({ startWorkers: false });
    proxy = http.createServer((req, res) => {
      if (req.method === 'GET' && req.url?.startsWith('/api/jobs') && mode !== 'pass') {
        jobPolls += 1;
        if (mode === 'html')
          return void res
            .writeHead(200, { 'Content-Type': 'text/html' })
            .end('<html><body>Proxy error</body></html>');
        if (mode === 'truncated')
          return void res.writeHead(200, { 'Content-Type': 'application/json' }).end('[{"_id": "abc", "Pro');
        return void res
          .writeHead(200, { 'Content-Type': 'application/json' })
          .end('[{"JobID": "abc", "Stat": 1}]');
      }
      const up = http.request(
        `${deadline.url}${req.url}`,
        { method: req.method, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  }, 60_000);

  afterAll(async () => {
    await new Promise<void>((r) => proxy.close(() => r()));
    await deadline.close();
    await svc.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  const waitPolls = async (n: number): Promise<void> => {
    const target = jobPolls + n;
    const end = Date.now() + 20_000;
    while (jobPolls < target) {
      if (Date.now() > end) throw new Error(`only ${jobPolls} polls`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('warns once per episode and says when it is over', async () => {
    const bridge = await DeadlineBridge.start(
      resolveConfig({ webservice: proxyUrl, service: svc.address, stateDir: work, pollIntervalMs: 100 }),
      { logger: createLogger({ name: 'deadline', level: 'info', write: (l) => lines.push(l) }) },
    );
    try {
      for (const m of ['html', 'truncated', 'shape'] as const) {
        mode = m;
        await waitPolls(8);
      }
      mode = 'pass';
      const end = Date.now() + 10_000;
      while (!lines.some((l) => l.includes('poll cycle succeeds again')) && Date.now() < end)
        await new Promise((r) => setTimeout(r, 50));
    } finally {
      await bridge.close();
    }
    const warnings = lines.filter((l) => l.includes('cycle failed'));
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(/HTML page/);
    expect(warnings[1]).toMatch(/not JSON \(truncated\?\)/);
    expect(warnings[2]).toMatch(/job without _id/);
    for (const w of warnings) expect(w).toMatch(/WARN/);
    expect(lines.filter((l) => l.includes('poll cycle succeeds again'))).toHaveLength(1);
    expect(lines.join('\n')).not.toMatch(/undefined/);
  }, 60_000);
});
