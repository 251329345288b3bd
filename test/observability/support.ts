import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { BurstClient, FrameEvent } from '@spillway/sdk';

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
