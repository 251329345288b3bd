import type { OutputFileSpec } from '../backend';

/**
 * The output files of a render task, as Spillway uploads them: the frames (everything under
 * `framesPattern`) when the task succeeds, and its stdout/stderr whenever it completes, to a
 * container with a write SAS, under `prefix`.
 */
export function frameOutputFiles(
  containerUrl: string,
  prefix: string,
  options: {
    /** Glob of the frames, relative to the task's working directory. @default 'out/**' */
    readonly framesPattern?: string;
  } = {},
): OutputFileSpec[] {
  const base = prefix.replace(/\/+$/, '');
  return [
    {
      filePattern: options.framesPattern ?? 'out/**',
      containerUrl,
      path: `${base}/frames`,
      uploadCondition: 'taskSuccess',
    },
    { filePattern: '../std*.txt', containerUrl, path: `${base}/logs`, uploadCondition: 'taskCompletion' },
  ];
}
