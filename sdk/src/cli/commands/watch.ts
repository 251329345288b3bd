import type { Command } from '@commander-js/extra-typings';
import type { BurstClient } from '../../client';
import { TERMINAL_FRAME_STATES, type FrameState, type Job } from '../../model/frames';
import { exits, printJson, withConnection } from '../command';
import { connect } from '../connect';
import { progressBar } from '../progress';

/** `spillway watch [JOB_ID]`. */
export function register(program: Command): void {
  withConnection(
    program
      .command('watch')
      .summary('follow frame events; a progress bar for a job')
      .description(
        "follow frame events live. With a job id: a progress bar until every frame of the job has finished (exit 0 when all succeeded), with --json each event then the job's final state; without: every event of the service, until interrupted",
      )
      .argument('[JOB_ID]', 'the job to follow (its service id)')
      .option('--after <CURSOR>', 'resume after this event cursor (default: from the first retained event)'),
  ).action(
    exits(async (jobId, opts) => {
      const client = connect(opts);
      try {
        if (jobId) return await watchJob(client, jobId, { json: opts.json ?? false, after: opts.after });
        const abort = new AbortController();
        const onSigint = (): void => abort.abort();
        process.once('SIGINT', onSigint);
        try {
          for await (const e of client.watchFrames({
            afterCursor: opts.after,
            abortSignal: abort.signal,
          })) {
            if (opts.json) printJson(e);
            else
              console.log(
                `${e.time.toISOString()} ${e.cursor.padStart(6)} ${e.type.padEnd(9)} ${e.key.sourceJobId}/${e.key.sourceTaskId}${e.message ? ` ${e.message}` : ''}`,
              );
          }
        } finally {
          process.off('SIGINT', onSigint);
        }
        return 0;
      } finally {
        client.close();
      }
    }),
  );
}

/** A job's final state as `watch --json` prints it last: `{"job": {...}}`. */
export function jobSummary(job: Job): { job: Record<string, unknown> } {
  return {
    job: {
      jobId: job.jobId,
      name: job.spec.name,
      state: job.state,
      counts: job.counts,
      cost: job.cost,
      updatedAt: job.updatedAt,
    },
  };
}

function tally(states: ReadonlyMap<string, FrameState>) {
  const c = { queued: 0, running: 0, succeeded: 0, failed: 0, other: 0 };
  for (const s of states.values()) {
    if (s === 'queued') c.queued++;
    else if (s === 'running' || s === 'preparing') c.running++;
    else if (s === 'succeeded') c.succeeded++;
    else if (s === 'failed') c.failed++;
    else c.other++;
  }
  return c;
}

/**
 * Watches one job until every frame has finished: a progress bar on stdout (one line a
 * second when stdout is not a terminal), or with `json` each event as a JSON line and then
 * the job's final state (`{"job": {...}}`), also when the job had finished already.
 * Resolves to 0 when every frame succeeded, 1 otherwise.
 */
export async function watchJob(
  client: BurstClient,
  jobId: string,
  options: { readonly json: boolean; readonly after?: string },
): Promise<number> {
  const states = new Map<string, FrameState>();
  for await (const f of client.listFrames(jobId)) states.set(f.frameId, f.state);
  const finished = (): boolean => [...states.values()].every((s) => TERMINAL_FRAME_STATES.has(s));
  const started = Date.now();
  const doneAtStart = tally(states).succeeded;
  const payload = () => {
    const c = tally(states);
    const minutes = (Date.now() - started) / 60_000;
    const perMinute = minutes > 0 ? (c.succeeded - doneAtStart) / minutes : 0;
    const left = states.size - c.succeeded - c.failed - c.other;
    const eta = perMinute > 0 ? left / perMinute : undefined;
    return {
      ...c,
      rate: perMinute.toFixed(1),
      etaText: eta === undefined ? '-' : eta < 1 ? `${Math.ceil(eta * 60)} s` : `${Math.ceil(eta)} min`,
    };
  };
  const bar = progressBar({
    disabled: options.json,
    stream: process.stdout,
    notTty: 'lines',
    format:
      '[{bar}] {value}/{total} done  {running} running  {queued} queued  {failed} failed  {rate}/min  ETA {etaText}',
    total: states.size,
    startValue: doneAtStart,
    payload: payload(),
  });
  try {
    if (!(states.size > 0 && finished())) {
      const abort = new AbortController();
      const onSigint = (): void => abort.abort();
      process.once('SIGINT', onSigint);
      try {
        for await (const e of client.watchFrames({
          jobId,
          afterCursor: options.after,
          abortSignal: abort.signal,
        })) {
          states.set(e.frameId, e.state);
          if (options.json) printJson(e);
          const p = payload();
          bar.update(p.succeeded, p);
          if (finished()) break;
        }
      } finally {
        process.off('SIGINT', onSigint);
        abort.abort();
      }
    }
  } finally {
    bar.stop();
  }
  if (options.json) printJson(jobSummary(await client.getJob(jobId)));
  const c = tally(states);
  return states.size > 0 && c.succeeded === states.size ? 0 : 1;
}
