import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import {
  repoRoot,
  slowLinesCommand,
  startHttpTestService,
  waitForEvent,
  type HttpTestService,
} from './support';

const CHROMIUM = process.env.SPILLWAY_CHROMIUM ?? '/usr/bin/chromium';

/** Headless Chromium with a fresh profile, as CI runs it. */
async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

const describeIfChromium = fs.existsSync(CHROMIUM) ? describe : describe.skip;
if (!fs.existsSync(CHROMIUM)) console.warn(`${CHROMIUM} is missing: apt-get install chromium`);

// GIVEN a service with a priced capacity group and a job bursting into it
// WHEN headless Chromium opens the status page during the burst
// THEN it shows the job, its frames (running ones among them), the group's nodes and the
// spend; the page goes on updating by itself as frames finish; a frame's log page shows its
// log as it is written; and a screenshot of the page is a real image.
describeIfChromium('status page in a real browser', () => {
  let svc: HttpTestService;
  let browser: Awaited<ReturnType<typeof launchChromium>>;

  beforeAll(async () => {
    svc = await startHttpTestService({ 'compute.local.nodes': 0, 'budget.maxSpendPerHour': 12 });
    await svc.client.capacity.ensure({
      name: 'burst',
      mode: 'frame-offload',
      vmSize: 'Standard_D16as_v5',
      maxDedicatedNodes: 2,
      maxSpotNodes: 2,
      cost: { dedicated: 3.6, spot: 1.2 },
    });
    await svc.client.capacity.resize('burst', { dedicated: 1, spot: 1 });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await svc?.close();
  });

  it('shows the job, its frames and the spend during a burst, live', async () => {
    const { jobId } = await svc.client.submitFrames(
      {
        source: 'test:status',
        sourceJobId: 'shot010',
        name: 'shot010_lighting',
        capacityGroup: 'burst',
        commandTemplate: slowLinesCommand(3, 1),
      },
      Array.from({ length: 6 }, (_, i) => ({
        sourceTaskId: String(i + 1),
        frameStart: i + 1,
        frameEnd: i + 1,
      })),
    );
    await waitForEvent(svc.client, jobId, (e) => e.type === 'started');

    const page = await browser.context.newPage();
    await page.goto(svc.httpUrl);
    const job = page.locator(`details.job[data-job="${jobId}"]`);
    await job.waitFor();
    expect(await job.locator('summary').textContent()).toContain('shot010_lighting');
    expect(await job.locator('tr.frame').count()).toBe(6);
    expect(
      await job.locator('tr.frame[data-state="running"], tr.frame[data-state="preparing"]').count(),
    ).toBeGreaterThan(0);
    // The group at 1 dedicated (3.6/h) + 1 spot (1.2/h).
    expect(await page.locator('#cost-per-hour').textContent()).toBe('4.80 USD');
    expect(await page.locator('#projected-per-hour').textContent()).toBe('4.80 USD');
    expect(await page.locator('tr[data-group="burst"]').textContent()).toContain('1 / 1');
    expect(await page.locator('#budget-per-hour').textContent()).toBe('12.00 USD');
    expect(await page.locator('.bar').getAttribute('aria-valuenow')).toBe('4.8');
    const spent = await page.locator('#spent-total').textContent();
    expect(spent).toMatch(/^\d+\.\d+ USD$/);

    // A running frame's log page follows its log.
    const running = job.locator('tr.frame[data-state="running"]').first();
    const frameId = await running.getAttribute('data-frame');
    const logPage = await browser.context.newPage();
    await logPage.goto(`${svc.httpUrl}jobs/${jobId}/frames/${frameId}/log`);
    await logPage.locator('#log', { hasText: 'line 1' }).waitFor({ timeout: 60_000 });

    // The page updates itself (Server-Sent Events) as frames finish: no reload.
    await page.locator(`details.job[data-job="${jobId}"] tr.frame[data-state="succeeded"]`).first().waitFor({
      timeout: 90_000,
    });
    expect(await page.locator('#spent-total').textContent()).toMatch(/^\d+\.\d+ USD$/);

    const shot = await page.screenshot({ fullPage: true });
    expect(shot.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(shot.length).toBeGreaterThan(20_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-shot-'));
    fs.writeFileSync(path.join(dir, 'status-page.png'), shot);
    // `SPILLWAY_UPDATE_SCREENSHOT=1` refreshes the README's picture.
    if (process.env.SPILLWAY_UPDATE_SCREENSHOT === '1') {
      fs.writeFileSync(path.join(repoRoot, 'docs/status-page.png'), shot);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    await logPage.close();
    await page.close();
  }, 180_000);

  it('asks for the token off a token-protected service, and lets the right one in', async () => {
    const token = 'status-page-token-0123456789';
    const tokenFile = path.join(svc.dataDir, 'page-token');
    fs.writeFileSync(tokenFile, token, { mode: 0o600 });
    const guarded = await startHttpTestService({ tokenFile });
    try {
      expect((await fetch(guarded.httpUrl)).status).toBe(401);
      expect((await fetch(`${guarded.httpUrl}metrics`)).status).toBe(401);
      const wrong = await fetch(`${guarded.httpUrl}api/status`, {
        headers: { authorization: 'Bearer nope' },
      });
      expect(wrong.status).toBe(401);
      expect(await wrong.text()).not.toContain(token);
      const ok = await fetch(`${guarded.httpUrl}metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      // A browser answers the Basic challenge with the token as password.
      const page = await browser.context.newPage();
      await page.setExtraHTTPHeaders({
        authorization: `Basic ${Buffer.from(`wrangler:${token}`).toString('base64')}`,
      });
      await page.goto(guarded.httpUrl);
      expect(await page.locator('#capacity').count()).toBe(1);
      await page.close();
    } finally {
      await guarded.close();
    }
  }, 120_000);
});
