import { parseArgs } from 'node:util';
import type { BurstClient } from '../../client';
import { TERMINAL_FRAME_STATES, type FrameState } from '../../model/frames';
import type { Command } from '../command';
import { connect, connectHelp, connectOptions } from './connect';

const help = `Usage: spillway watch [JOB_ID] [options]

Follows frame events live. With a job id: a progress bar (queued, running, done, failed,
rate, ETA) until every frame of the job has finished; exit code 0 when all succeeded.
Without: every event of the service, until interrupted.

  --after CURSOR        resume after this event cursor
${connectHelp}`;

export const watchCommand: Command = {
  name: 'watch',
  summary: 'follow frame events live, with a progress bar for a job',
  help,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { ...connectOptions, after: { type: 'string' } },
    });
    const client = connect(values);
    try {
      const jobId = positionals[0];
      if (jobId) return await watchJob(client, jobId, { json: values.json ?? false, after: values.after });
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      for await (const e of client.watchFrames({ afterCursor: values.after, abortSignal: abort.signal })) {
        console.log(
          values.json
            ? JSON.stringify(e)
            : `${e.time.toISOString()} ${e.cursor.padStart(6)} ${e.type.padEnd(9)} ${e.key.sourceJobId}/${e.key.sourceTaskId}${e.message ? ` ${e.message}` : ''}`,
        );
      }
      return 0;
    } finally {
      client.close();
    }
  },
};

/** Watches one job to the end, drawing progress; resolves to 0 when every frame succeeded. */
export async function watchJob(
  client: BurstClient,
  jobId: string,
  options: { json: boolean; after?: string; write?: (s: string) => void },
): Promise<number> {
  const write = options.write ?? ((s: string) => process.stdout.write(s));
  const tty = !options.json && process.stdout.isTTY === true;
  const states = new Map<string, FrameState>();
  for await (const f of client.listFrames(jobId)) states.set(f.frameId, f.state);
  const total = states.size;
  const started = Date.now();
  const doneAtStart = [...states.values()].filter((s) => s === 'succeeded').length;
  let lastDraw = 0;
  const counts = () => {
    const c = { queued: 0, running: 0, succeeded: 0, failed: 0, other: 0 };
    for (const s of states.values()) {
      if (s === 'queued') c.queued++;
      else if (s === 'running' || s === 'preparing') c.running++;
      else if (s === 'succeeded') c.succeeded++;
      else if (s === 'failed') c.failed++;
      else c.other++;
    }
    return c;
  };
  const finished = () => [...states.values()].every((s) => TERMINAL_FRAME_STATES.has(s));
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - lastDraw < (tty ? 100 : 1000)) return;
    lastDraw = now;
    const c = counts();
    const minutes = (now - started) / 60_000;
    const rate = minutes > 0 ? (c.succeeded - doneAtStart) / minutes : 0;
    const left = total - c.succeeded - c.failed - c.other;
    const eta = rate > 0 ? `${Math.ceil(left / rate)} min` : '-';
    const width = 30;
    const filled = total > 0 ? Math.round((c.succeeded / total) * width) : 0;
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    const line = `[${bar}] ${c.succeeded}/${total} done  ${c.running} running  ${c.queued} queued  ${c.failed} failed  ${rate.toFixed(1)}/min  ETA ${eta}`;
    write(tty ? `\r${line}` : `${line}\n`);
  };
  if (!options.json) draw(true);
  if (total > 0 && finished()) {
    if (tty) write('\n');
    return counts().succeeded === total ? 0 : 1;
  }
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    for await (const e of client.watchFrames({
      jobId,
      afterCursor: options.after,
      abortSignal: abort.signal,
    })) {
      states.set(e.frameId, e.state);
      if (options.json) write(JSON.stringify(e) + '\n');
      else draw();
      if (finished()) break;
    }
  } finally {
    process.off('SIGINT', onSigint);
    abort.abort();
  }
  if (!options.json) {
    draw(true);
    if (tty) write('\n');
  }
  const c = counts();
  return c.succeeded === states.size ? 0 : 1;
}
