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
