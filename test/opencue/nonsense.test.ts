import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveConfig, VirtualHost } from '@spillway/bridge-opencue';
import { FakeCuebot } from '@spillway/bridge-opencue/testing';
import { createLogger } from '@spillway/sdk';
import { startTestService, type TestService } from '../support/service';
import { freePort } from './ports';

// GIVEN a virtual host reporting every 100 ms to a fake Cuebot, and a real service
// WHEN Cuebot's port answers with an HTML page (a plain HTTP server, not gRPC) for many
// cycles, and then Cuebot is back
// THEN the host warns when the problem starts (once per kind of failure, not every cycle),
// stays closed, and says once that status reports reach Cuebot again.

describe('virtual host facing a Cuebot that answers nonsense', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-opencue-nonsense-'));
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ nodes: 1 });
  }, 60_000);
  afterAll(async () => {
    await svc.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('warns once per episode, not every cycle', async () => {
    const port = await freePort();
    let cuebot = await FakeCuebot.start({ port });
    const lines: string[] = [];
    const host = await VirtualHost.start(
      resolveConfig(
        {},
        {
          cuebot: `127.0.0.1:${port}`,
          service: svc.address,
          hostName: 'azure-nonsense',
          rqdPort: String(await freePort()),
          rqdListenHost: '127.0.0.1',
          reportIntervalMs: '100',
          stateDir: work,
        },
      ),
      { logger: createLogger({ name: 'opencue', level: 'debug', write: (l) => lines.push(l) }) },
    );
    let html: http.Server | undefined;
    try {
      await cuebot.close();
      html = http.createServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html><body>Cuebot moved</body></html>');
      });
      await new Promise<void>((r) => html!.listen(port, '127.0.0.1', r));
      // Several cycles of nonsense (each call retries a few times before it fails).
      const failedReports = (): number =>
        lines.filter((l) => l.includes('status report to Cuebot failed')).length;
      const end = Date.now() + 40_000;
      while (failedReports() < 4 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      await new Promise<void>((r) => html!.close(() => r()));
      html = undefined;
      cuebot = await FakeCuebot.start({ port });
      const back = Date.now() + 10_000;
      while (!lines.some((l) => l.includes('status reports reach Cuebot again')) && Date.now() < back)
        await new Promise((r) => setTimeout(r, 100));
    } finally {
      if (html) await new Promise<void>((r) => html!.close(() => r()));
      await host.close();
      await cuebot.close();
    }
    const statusWarnings = lines.filter((l) => / WARN .*status report to Cuebot failed/.test(l));
    const repeats = lines.filter((l) => / DEBUG .*status report to Cuebot failed.*repeated=true/.test(l));
    const planWarnings = lines.filter((l) => / WARN .*no plan: the host stays closed/.test(l));
    // Told once when it starts, never per cycle (4 or more failed), nothing at the stop.
    expect(statusWarnings).toHaveLength(1);
    expect(statusWarnings[0]).toMatch(/Protocol error/);
    expect(planWarnings).toHaveLength(1);
    expect(repeats.length).toBeGreaterThanOrEqual(3);
    expect(lines.filter((l) => l.includes('status reports reach Cuebot again'))).toHaveLength(1);
  }, 90_000);
});
