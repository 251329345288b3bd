import type { Command } from '@commander-js/extra-typings';
import { exits, printJson, typedOption, wholeNumber, withConnection } from '../command';
import { connect } from '../connect';

/** `spillway recall JOB_ID --count N`: frames not started in the cloud go back to the local farm. */
export function register(program: Command): void {
  withConnection(
    program
      .command('recall')
      .summary('take back frames not started in the cloud')
      .description(
        'take back up to N frames of a job that are still queued in the cloud (latest first), so the local farm renders them; frames already running are left alone',
      )
      .argument('<JOB_ID>', 'the job (its service id)')
      .addOption(
        typedOption('--count <N>', 'how many frames at most', wholeNumber({ min: 1 })).makeOptionMandatory(),
      )
      .option('--reason <TEXT>', 'recorded with the frames'),
  ).action(
    exits(async (jobId, opts) => {
      const client = connect(opts);
      try {
        const r = await client.recallFrames({
          jobId,
          maxFrames: opts.count,
          ...(opts.reason ? { reason: opts.reason } : {}),
        });
        if (opts.json) printJson({ jobId, recalled: r.recalled.length, keys: r.recalled });
        else if (r.recalled.length === 0)
          console.log(`job ${jobId}: no frame is queued in the cloud; nothing recalled`);
        else
          console.log(
            `job ${jobId}: recalled ${r.recalled.length} frame(s): ${r.recalled.map((k) => k.sourceTaskId).join(', ')}`,
          );
        return 0;
      } finally {
        client.close();
      }
    }),
  );
}
