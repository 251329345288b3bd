/**
 * A cloud frame's log, written where RQD writes a frame's log so CueGUI's log viewer shows
 * it as it grows: `<log_dir>/<job_name>.<frame_name>.rqlog`, from the service's live log
 * (FollowFrameLog), until the frame has finished and its whole log is in the file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BurstClient, Logger } from '@spillway/sdk';
import type { RunFrame } from '../proto';

/** The file RQD writes a frame's log to; undefined when Cuebot gave no log directory. */
export function rqdLogPath(run: Pick<RunFrame, 'log_dir' | 'job_name' | 'frame_name'>): string | undefined {
  if (!run.log_dir) return undefined;
  return path.join(run.log_dir, `${run.job_name}.${run.frame_name}.rqlog`);
}

/** Options of `followLogIntoFile`. */
export interface FollowLogOptions {
  readonly abortSignal?: AbortSignal;
  readonly logger?: Logger;
}

/**
 * Follows the cloud frame's log into `file` (created with its directory; started afresh, as
 * RQD starts a frame's log), appending as the node writes; a new attempt (after an eviction
 * or a retry) is marked and its log follows. Resolves once the frame has finished and its
 * whole log is in the file, or when aborted.
 */
export async function followLogIntoFile(
  client: Pick<BurstClient, 'followFrameLog'>,
  cloudJobId: string,
  frame: string | number,
  file: string,
  options: FollowLogOptions = {},
): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const out = await fs.promises.open(file, 'w');
  try {
    let attempt: number | undefined;
    for await (const chunk of client.followFrameLog(cloudJobId, frame, {
      follow: true,
      ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
    })) {
      if (attempt !== undefined && chunk.attempt !== attempt && chunk.data.length > 0) {
        await out.write(
          `\n=== spillway: attempt ${chunk.attempt} (the previous one was lost); its log follows ===\n`,
        );
      }
      if (chunk.data.length > 0) {
        attempt = chunk.attempt;
        await out.write(chunk.data);
      }
    }
  } finally {
    await out.close();
  }
}
