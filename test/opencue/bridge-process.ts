/**
 * `spillway-opencue` as a real child process for the end-to-end tests (built by `tsc -b`):
 * started with the given flags, its output kept, ready once it logs `virtual host ready`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const repoRoot = path.resolve(__dirname, '../..');
const bin = path.join(repoRoot, 'bridges/opencue/bin/spillway-opencue.js');

/** Polls `predicate` every 50 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The flags every end-to-end test's virtual host runs with: its Cuebot and service, a 2-core
 * host on loopback reporting every 500 ms, its state directory, show `pipe`; then `extra`.
 */
export function virtualHostFlags(o: {
  cuebot: string;
  service: string;
  hostName: string;
  rqdPort: number;
  stateDir: string;
  extra?: readonly string[];
}): string[] {
  return [
    '--cuebot', o.cuebot,
    '--service', o.service,
    '--host-name', o.hostName,
    '--rqd-port', String(o.rqdPort),
    '--rqd-listen-host', '127.0.0.1',
    '--cores', '2',
    '--report-interval-ms', '500',
    '--state-dir', o.stateDir,
    '--subscribe-shows', 'pipe',
    ...(o.extra ?? []),
  ]; // prettier-ignore
}

/** Throws unless the bridge is built. */
export function requireBuiltBridge(): void {
  if (!fs.existsSync(bin) || !fs.existsSync(path.join(repoRoot, 'bridges/opencue/dist/cli/main.js')))
    throw new Error('bridges/opencue is not built: run `npx tsc -b` first (npm test does)');
}

/** The bridge process of a test, started again as often as the test restarts it. */
export class BridgeProcess {
  /** Everything it printed, over every start. */
  log = '';
  private child: ChildProcess | undefined;

  constructor(private readonly flags: () => string[]) {}

  /** Starts it and waits until it is ready (fails if it exits first). */
  async start(): Promise<void> {
    const before = this.log.length;
    const child = spawn(process.execPath, [bin, ...this.flags()], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.child = child;
    await waitFor(
      'the virtual host to be ready',
      () => {
        if (child.exitCode !== null) throw new Error(`spillway-opencue exited early:\n${this.log}`);
        return this.log.slice(before).includes('virtual host ready');
      },
      30_000,
    );
  }

  /** Sends `signal` and waits for the exit (nothing when it is not running). */
  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }
}
