import type { Command } from '@commander-js/extra-typings';
import { exits, printJson, withConnection } from '../command';
import { connect } from '../connect';

/** `spillway cancel JOB_ID`. */
export function register(program: Command): void {
  withConnection(
    program
      .command('cancel')
      .summary('cancel a job')
      .description(
        'cancel a job: unfinished frames stop, running tasks are killed (a finished job: nothing to do)',
      )
      .argument('<JOB_ID>', 'the job (its service id)')
      .option('--reason <TEXT>', 'recorded with the frames'),
  ).action(
    exits(async (jobId, opts) => {
      const client = connect(opts);
      try {
        const job = await client.cancelJob(jobId, opts.reason ? { reason: opts.reason } : {});
        if (opts.json) printJson({ jobId: job.jobId, state: job.state, counts: job.counts });
        else
          console.log(
            `job ${job.jobId}: ${job.state} (${job.counts.succeeded} succeeded, ${job.counts.cancelled} cancelled)`,
          );
        return 0;
      } finally {
        client.close();
      }
    }),
  );
}
