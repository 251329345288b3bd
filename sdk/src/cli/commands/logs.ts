import type { Command } from '@commander-js/extra-typings';
import { exits, printJson, typedOption, UsageError, wholeNumber, withConnection } from '../command';
import { connect } from '../connect';

/** `FRAME` as the service takes it: a frame number of the job, or a frame id (`f-...`). */
export function frameArgument(value: string): string | number {
  if (/^-?\d+$/.test(value)) {
    const n = Number(value);
    if (!Number.isSafeInteger(n)) throw new UsageError(`FRAME "${value}" is not a frame number`, 'FRAME');
    return n;
  }
  if (value === '') throw new UsageError('FRAME is empty: give a frame number or a frame id', 'FRAME');
  return value;
}

/** Writes bytes to stdout, waiting when it is full (a slow pipe reader). */
function writeOut(data: Buffer): Promise<void> | void {
  if (process.stdout.write(data)) return;
  return new Promise((resolve) => process.stdout.once('drain', () => resolve()));
}

/** `spillway logs JOB_ID FRAME [--follow]`. */
export function register(program: Command): void {
  withConnection(
    program
      .command('logs')
      .summary("print a frame's log; --follow while it renders")
      .description(
        "print a cloud frame's log (its stdout and stderr, as written): read from the node while the frame renders, from storage after. With --follow, keep printing what the node appends until the frame has finished. A new attempt (a retry, or a spot eviction) is announced on stderr and its log starts over. With --json, one object per chunk: {frameId, attempt, offset, text, source, state, end}",
      )
      .argument('<JOB_ID>', 'the job (its service id)')
      .argument('<FRAME>', 'a frame number of the job, or a frame id (f-...)')
      .option('-f, --follow', 'keep printing while the frame is queued or rendering, until it finishes')
      .addOption(
        typedOption('--offset <BYTES>', 'start at this byte of the log', wholeNumber({ min: 0 })).default(0),
      )
      .addHelpText('after', '\nExample:\n  spillway logs j-0123abcd 42 --follow'),
  ).action(
    exits(async (jobId, frame, opts) => {
      const ref = frameArgument(frame);
      const client = connect(opts);
      const abort = new AbortController();
      const onSigint = (): void => abort.abort();
      process.once('SIGINT', onSigint);
      try {
        let attempt: number | undefined;
        for await (const chunk of client.followFrameLog(jobId, ref, {
          offset: opts.offset,
          follow: opts.follow ?? false,
          abortSignal: abort.signal,
        })) {
          if (opts.json) {
            const { data, ...rest } = chunk;
            printJson({ ...rest, text: data.toString('utf8') });
            continue;
          }
          if (attempt !== undefined && chunk.attempt !== attempt && chunk.attempt > 0) {
            process.stderr.write(
              `--- attempt ${chunk.attempt} of frame ${chunk.frameId}: its log starts over ---\n`,
            );
          }
          if (chunk.attempt > 0) attempt = chunk.attempt;
          if (chunk.data.length > 0) await writeOut(chunk.data);
        }
        return 0;
      } finally {
        process.off('SIGINT', onSigint);
        client.close();
      }
    }),
  );
}
