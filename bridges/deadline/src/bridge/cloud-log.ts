/**
 * A settled cloud task's log, kept where a wrangler finds it. Deadline's Web Service cannot
 * add a report to a task (its Task Reports and Job Reports endpoints answer GET only, 501 to
 * anything else), so the bridge saves the cloud frame's whole log (stdout and stderr, as
 * written, from the service's FollowFrameLog) as `<stateDir>/logs/<job>/task-<id>.log` and
 * names the file in the line it logs when it completes the task or sends it back to the farm.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BurstClient } from '@spillway/sdk';

/** Where a task's cloud log is kept. */
export function cloudLogPath(stateDir: string, jobId: string, taskId: number | string): string {
  return path.join(stateDir, 'logs', jobId.replace(/[^A-Za-z0-9._-]/g, '_'), `task-${taskId}.log`);
}

/**
 * Saves the cloud frame's log (the latest attempt's) to `file`, atomically; resolves with
 * the file, or undefined when the frame has no log (it never started).
 */
export async function saveCloudLog(
  client: Pick<BurstClient, 'followFrameLog'>,
  frameId: string,
  file: string,
  abortSignal?: AbortSignal,
): Promise<string | undefined> {
  const parts: Buffer[] = [];
  for await (const chunk of client.followFrameLog('', frameId, abortSignal ? { abortSignal } : {})) {
    if (chunk.offset === 0) parts.length = 0; // a later attempt's log replaces an earlier one's
    if (chunk.data.length > 0) parts.push(chunk.data);
  }
  if (parts.length === 0) return undefined;
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.promises.writeFile(tmp, Buffer.concat(parts));
  await fs.promises.rename(tmp, file);
  return file;
}
