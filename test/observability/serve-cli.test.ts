import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { startCli, type CliProcess } from './support';

// GIVEN the built `spillway` CLI
// WHEN `spillway serve --http 127.0.0.1:0 --log-format json --token-file F` runs as a user
// starts it
// THEN stdout names the status page's URL and /metrics; that URL serves the page, the JSON
// status and Prometheus text to the token (401 without it); every stderr line is a JSON
// object with level, time and message, none holding the token; SIGTERM ends it with 0.
// And `--http off` starts no HTTP server and prints no URL.

const TOKEN = 'serve-cli-token-0123456789abcdef';

describe('spillway serve: the status page and JSON logs through the CLI', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-serve-cli-'));
  let cli: CliProcess | undefined;

  afterEach(async () => {
    if (cli && cli.child.exitCode === null && cli.child.signalCode === null) {
      cli.child.kill('SIGKILL');
      await cli.exited();
    }
    cli = undefined;
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** `spillway serve` on loopback ports with one local node, its state in `dir/<state>`. */
  const serve = (state: string, ...args: string[]): CliProcess =>
    startCli(
      ['serve', '--listen', '127.0.0.1:0', '--data-dir', path.join(dir, state), '--nodes', '1', ...args],
      { ...process.env, SPILLWAY_CONFIG: '' },
    );

  it('--http and --log-format json: the URL on stdout, the page behind the token, JSON lines on stderr', async () => {
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
    cli = serve('a', '--http', '127.0.0.1:0', '--log-format', 'json', '--token-file', tokenFile);
    await cli.waitFor('(Prometheus metrics: ', 60_000);
    const m = /^status page: (http:\/\/127\.0\.0\.1:(\d+)\/) \(Prometheus metrics: (\S+)\)$/m.exec(
      cli.stdout(),
    );
    expect(m).not.toBeNull();
    const [, url, port, metricsUrl] = m!;
    expect(Number(port)).toBeGreaterThan(0);
    expect(metricsUrl).toBe(`${url}metrics`);

    const auth = { authorization: `Bearer ${TOKEN}` };
    expect((await fetch(url!)).status).toBe(401);
    expect((await fetch(metricsUrl!)).status).toBe(401);
    const page = await fetch(url!, { headers: auth });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('id="capacity"');
    const status = (await (await fetch(`${url}api/status`, { headers: auth })).json()) as {
      groups: { name: string; vmSize: string }[];
    };
    // The embedded default's group, as the page shows it.
    expect(status.groups).toContainEqual(expect.objectContaining({ name: 'default', vmSize: 'local' }));
    const metrics = await fetch(metricsUrl!, { headers: auth });
    expect(metrics.status).toBe(200);
    const names = parsePrometheusTextFormat(await metrics.text()).map((f) => f.name);
    expect(names).toEqual(
      expect.arrayContaining(['spillway_frames', 'spillway_nodes', 'spillway_spend_total']),
    );

    cli.child.kill('SIGTERM');
    expect(await cli.exited()).toBe(0);
    const lines = cli.stderr().trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const r of records) {
      expect(r).toEqual(
        expect.objectContaining({
          level: expect.any(String),
          time: expect.any(String),
          message: expect.any(String),
        }),
      );
    }
    // The service logs where both servers listen, and its stop.
    expect(records).toContainEqual(expect.objectContaining({ message: 'status page', url }));
    expect(records).toContainEqual(expect.objectContaining({ message: 'listening', auth: 'token' }));
    expect(records).toContainEqual(expect.objectContaining({ message: 'stopping' }));
    expect(cli.stdout() + cli.stderr()).not.toContain(TOKEN);
  }, 120_000);

  it('--http off: no status page, no URL', async () => {
    cli = serve('b', '--http', 'off');
    await cli.waitFor('spillway service listening on ', 60_000);
    // The status line would come right after the listening line.
    await new Promise((r) => setTimeout(r, 500));
    cli.child.kill('SIGTERM');
    expect(await cli.exited()).toBe(0);
    expect(cli.stdout()).not.toContain('status page');
    expect(cli.stderr()).not.toMatch(/status page/);
  }, 120_000);
});
