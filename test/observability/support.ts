import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BurstClient, silentLogger, type Frame, type FrameEvent, type Logger } from '@spillway/sdk';
import { loadConfig } from '@spillway/sdk/config';
import { embeddedProviders, startService } from '@spillway/sdk/service';

export const repoRoot = path.resolve(__dirname, '../..');
export const spillwayBin = path.join(repoRoot, 'sdk/bin/spillway.js');

/** A frame command that writes a numbered line every `everyS` seconds, then an output. */
export function slowLinesCommand(lines: number, everyS: number): string {
  return `for i in $(seq 1 ${lines}); do echo "frame #IFRAME# line $i"; sleep ${everyS}; done; echo done > out/f_#ZFRAME#.txt`;
}

/** The expected log of `slowLinesCommand`. */
export function slowLinesLog(frame: number, lines: number): string {
  return Array.from({ length: lines }, (_, i) => `frame ${frame} line ${i + 1}\n`).join('');
}

/** The one frame of a job. */
export async function onlyFrame(client: BurstClient, jobId: string): Promise<Frame> {
  const frames: Frame[] = [];
  for await (const f of client.listFrames(jobId)) frames.push(f);
  if (frames.length !== 1) throw new Error(`job ${jobId} has ${frames.length} frames, not 1`);
  return frames[0]!;
}

/** Resolves with the first event of `jobId` for which `match` holds (or rejects after `timeoutMs`). */
export async function waitForEvent(
  client: BurstClient,
  jobId: string,
  match: (e: FrameEvent) => boolean,
  timeoutMs = 60_000,
): Promise<FrameEvent> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    for await (const e of client.watchFrames({ jobId, abortSignal: abort.signal })) if (match(e)) return e;
    throw new Error(`no matching event of ${jobId} within ${timeoutMs} ms`);
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

/** A running `spillway` child process whose stdout is read as it comes. */
export interface CliProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout contains `text` (rejects after `timeoutMs`). */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code. */
  exited(): Promise<number | null>;
}

/** Starts the built `spillway` CLI with `args`. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = process.env): CliProcess {
  const child = spawn(process.execPath, [spillwayBin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor: (text, timeoutMs = 60_000) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!out.includes(text)) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`"${text}" not printed within ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    exited: () => exit,
  };
}

/** A real service in this process with its HTTP server on an ephemeral loopback port. */
export interface HttpTestService {
  readonly address: string;
  readonly httpUrl: string;
  readonly client: BurstClient;
  readonly dataDir: string;
  close(): Promise<void>;
}

/** Starts the service (embedded engine, or the given overrides) with `http.listen` on port 0. */
export async function startHttpTestService(
  overrides: Record<string, unknown> = {},
  logger: Logger = silentLogger,
): Promise<HttpTestService> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-obs-'));
  const config = loadConfig({
    env: {},
    overrides: {
      listen: '127.0.0.1:0',
      'http.listen': '127.0.0.1:0',
      dataDir,
      'compute.local.nodes': 1,
      ...overrides,
    },
  });
  const service = await startService(config, embeddedProviders(config), logger);
  const client = new BurstClient(service.address);
  return {
    address: service.address,
    httpUrl: service.httpUrl!,
    client,
    dataDir,
    async close() {
      client.close();
      await service.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
