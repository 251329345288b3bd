/**
 * How a command-line process (`spillway`, the bridges) meets the outside world's ends: a
 * reader that closes the pipe, and the signals that stop a long-running command.
 */

/**
 * `spillway ... | head`: when the reader of stdout closes the pipe, the command ends quietly
 * with its exit code so far, instead of dying on EPIPE with a stack trace. Installed once per
 * process; other stdout errors still throw.
 */
export function endOnClosedStdout(): void {
  if (process.stdout.listenerCount('error') > 0) return;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw err;
  });
}

/** Resolves on SIGINT or SIGTERM (the first one), and stops listening for both. */
export function untilStopped(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
