import type { Command } from '@commander-js/extra-typings';
import { exits, printJson, withConnection } from '../command';
import { connect } from '../connect';

/** `spillway plan [--source S]`: the last plan of each reporting bridge, job by job, and why. */
export function register(program: Command): void {
  withConnection(
    program
      .command('plan')
      .summary('the burst plan of each bridge: per job its due moment, local finish, frames to move and why')
      .description(
        "each reporting bridge's last plan: per job its due moment, when the local farm would finish it, the frames the plan moves to the cloud (or back) and why; per capacity group its node targets and projected cost per hour. --json adds the figures each group is planned with",
      )
      .option('--source <SOURCE>', 'only this bridge, e.g. deadline:studio-a'),
  ).action(
    exits(async (opts) => {
      const { statusPlanJson, statusPlanText } =
        require('../../policy/explain') as typeof import('../../policy/explain');
      const client = connect(opts);
      try {
        const status = await client.burstStatus();
        if (opts.json) printJson(statusPlanJson(status, opts.source));
        else console.log(statusPlanText(status, new Date(), opts.source));
        return 0;
      } finally {
        client.close();
      }
    }),
  );
}
