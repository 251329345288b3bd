import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { UsageError } from '../command';
import { connect, connectHelp, connectOptions } from './connect';

export const recallCommand: Command = {
  name: 'recall',
  summary: 'take back frames that have not started in the cloud',
  help: `Usage: spillway recall JOB_ID --count N [options]

Recalls up to N frames of the job that are still queued in the cloud (latest first), so
the local farm renders them. Frames already running are left alone.

  --count N             how many (required)
  --reason TEXT         recorded with the frames
${connectHelp}`,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { ...connectOptions, count: { type: 'string' }, reason: { type: 'string' } },
    });
    const jobId = positionals[0];
    const count = Number(values.count);
    if (!jobId) throw new UsageError('JOB_ID is required');
    if (!Number.isInteger(count) || count < 1)
      throw new UsageError(`--count ${JSON.stringify(values.count ?? '')}: expected a whole number >= 1`);
    const client = connect(values);
    try {
      const r = await client.recallFrames({
        jobId,
        maxFrames: count,
        ...(values.reason ? { reason: values.reason } : {}),
      });
      if (values.json) console.log(JSON.stringify({ recalled: r.recalled.length, keys: r.recalled }));
      else
        console.log(
          `recalled ${r.recalled.length} frame(s): ${r.recalled.map((k) => k.sourceTaskId).join(', ') || '-'}`,
        );
      return 0;
    } finally {
      client.close();
    }
  },
};

export const cancelCommand: Command = {
  name: 'cancel',
  summary: 'cancel a job: unfinished frames stop, running tasks are killed',
  help: `Usage: spillway cancel JOB_ID [--reason TEXT] [options]

${connectHelp}`,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { ...connectOptions, reason: { type: 'string' } },
    });
    const jobId = positionals[0];
    if (!jobId) throw new UsageError('JOB_ID is required');
    const client = connect(values);
    try {
      const job = await client.cancelJob(jobId, values.reason ? { reason: values.reason } : {});
      if (values.json)
        console.log(JSON.stringify({ jobId: job.jobId, state: job.state, counts: job.counts }));
      else
        console.log(
          `job ${job.jobId}: ${job.state} (${job.counts.succeeded} succeeded, ${job.counts.cancelled} cancelled)`,
        );
      return 0;
    } finally {
      client.close();
    }
  },
};
