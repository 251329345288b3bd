/**
 * Frame logs, live and after: a frame's log is its task's `stdout.txt` (the task factory
 * merges stderr into it), read from the node while the frame renders (the local engine's
 * task directory; Batch's Get File From Task with a byte range) and from the blob the node
 * uploaded once the attempt has ended. Both hold the same bytes, so an offset means the same
 * in either.
 */
import type { ContainerClient } from '@azure/storage-blob';
import type { ComputeBackend, TaskFilePart } from '../../compute/backend';
import { NotFoundError, ValidationError } from '../../errors';
import type { FrameLogChunk, FrameLogSource } from '../../model/frame-logs';
import { TERMINAL_FRAME_STATES, type Frame } from '../../model/frames';
import { sleep } from '../../retry';
import { taskIdOf } from '../frames/dispatcher';
import type { FrameStore } from '../frames/store';
import { frameLogBlob } from '../frames/task-factory';

/** The task file that holds a frame's log, relative to the task directory (as on a Batch node). */
export const FRAME_LOG_FILE = 'stdout.txt';

/** Which frame: by the service's id, or by a frame number of the job. */
export type FrameRef = { readonly frameId: string } | { readonly frameNumber: number };

/** Options of `FrameLogService.follow`. */
export interface FollowFrameLogOptions {
  /** First byte to send. @default 0 */
  readonly offset?: number;
  /** The attempt `offset` is in; when the frame is past it, the log starts at the current attempt's byte 0. @default the current attempt */
  readonly attempt?: number;
  /** Keep going while the frame is queued or running, until it has finished. @default false */
  readonly follow?: boolean;
  /** Ends the iteration. */
  readonly abortSignal?: AbortSignal;
}

/**
 * The attempt a frame's log is about now: the latest the service saw start, or, while the
 * frame waits in the queue, the one it waits for (its node may already be running it: the
 * service polls Batch, the node's file is read directly).
 */
function attemptOf(frame: Frame): number {
  return frame.state === 'queued' ? frame.attempts + 1 : Math.max(1, frame.attempts);
}

/** Reads the log a finished attempt uploaded: bytes from an offset, and the log's size. */
export type StoredLogReader = (
  jobId: string,
  frameId: string,
  offset: number,
  maxBytes: number,
) => Promise<TaskFilePart | undefined>;

/** Options of the frame log service. */
export interface FrameLogServiceOptions {
  /** How often a followed log is read while its frame runs. @default 500 */
  readonly pollMs?: number;
  /** Most bytes per chunk. @default 262144 */
  readonly chunkBytes?: number;
  /** Told of every log byte read from storage (for the storage metrics). @default none */
  readonly onStorageRead?: (bytes: number) => void;
}

/** The frame log domain: resolves a frame and streams its log from wherever it is now. */
export class FrameLogService {
  private readonly pollMs: number;
  private readonly chunkBytes: number;
  private readonly onStorageRead: ((bytes: number) => void) | undefined;

  constructor(
    private readonly store: FrameStore,
    private readonly backend: Pick<ComputeBackend, 'readTaskFileRange'>,
    private readonly stored: StoredLogReader | undefined,
    options: FrameLogServiceOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 500;
    this.chunkBytes = options.chunkBytes ?? 256 * 1024;
    this.onStorageRead = options.onStorageRead;
  }

  /** The frame a reference names; NotFoundError naming what is missing. */
  resolve(jobId: string, ref: FrameRef): Frame {
    if ('frameId' in ref && !jobId) {
      // A frame id alone names the frame.
      const frame = this.store.getFrame(ref.frameId);
      if (!frame) throw new NotFoundError(`frame "${ref.frameId}" does not exist`);
      return frame;
    }
    if (!jobId) throw new ValidationError('job_id', jobId, 'is required with frame_number');
    if (!this.store.getJob(jobId)) throw new NotFoundError(`job "${jobId}" does not exist`);
    if ('frameId' in ref) {
      const frame = this.store.getFrame(ref.frameId);
      if (!frame || frame.jobId !== jobId) {
        throw new NotFoundError(`frame "${ref.frameId}" is not a frame of job "${jobId}"`);
      }
      return frame;
    }
    const n = ref.frameNumber;
    for (const f of this.store.framesOf(jobId)) {
      if (n < f.frameStart || n > f.frameEnd) continue;
      const step = this.store.specsOf(f.frameId)?.frame.frameStep ?? 1;
      if ((n - f.frameStart) % Math.max(1, step) === 0) return f;
    }
    throw new NotFoundError(`job "${jobId}" has no frame ${n}`);
  }

  /**
   * The frame's log from `offset`, in chunks. The first chunk comes at once (maybe empty,
   * reporting the state); with `follow`, chunks follow as the node's file grows, a new
   * attempt restarts at its byte 0, and the last chunk (`end`) comes once the frame has
   * finished and its uploaded log was read to the end.
   */
  async *follow(
    jobId: string,
    ref: FrameRef,
    options: FollowFrameLogOptions = {},
  ): AsyncGenerator<FrameLogChunk> {
    const first = this.resolve(jobId, ref);
    const offset = options.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new ValidationError('offset', offset, 'must be a whole number of bytes, 0 or more');
    }
    const { frameId } = first;
    const signal = options.abortSignal;
    let attempt = attemptOf(first);
    let pos = options.attempt && options.attempt !== attempt ? 0 : offset;
    let announced = false;
    while (!signal?.aborted) {
      const frame = this.store.getFrame(frameId)!;
      const now = attemptOf(frame);
      if (now > attempt) {
        attempt = now; // a later attempt: its log starts over
        pos = 0;
      }
      const finished = TERMINAL_FRAME_STATES.has(frame.state);
      // Queued again after an attempt (a retry, an eviction): the node may still hold the
      // old attempt's file; read once the service has seen the new attempt start.
      const waiting = frame.state === 'queued' && frame.attempts > 0;
      const part = waiting ? undefined : await this.read(frame, pos, finished);
      if (signal?.aborted) return;
      // The frame moved on while we read: read again, so bytes are never put on the wrong attempt.
      if (attemptOf(this.store.getFrame(frameId)!) > attempt) continue;
      if (part && part.size < pos && !finished) {
        // The file restarted: an attempt the service has not seen start yet (Batch is polled).
        attempt += 1;
        pos = 0;
        continue;
      }
      if (part && part.data.length > 0) {
        announced = true;
        yield {
          frameId,
          attempt,
          offset: pos,
          data: part.data,
          source: part.source,
          state: frame.state,
          end: false,
        };
        pos += part.data.length;
        continue; // there may be more right away
      }
      if (finished || !options.follow) {
        yield { frameId, attempt, offset: pos, data: Buffer.alloc(0), state: frame.state, end: true };
        return;
      }
      if (!announced) {
        announced = true;
        yield { frameId, attempt, offset: pos, data: Buffer.alloc(0), state: frame.state, end: false };
      }
      await this.changeOrPoll(frame, signal);
    }
  }

  /** Bytes from `pos`: a finished attempt's from storage (the node's when storage has none), a running one's from the node. */
  private async read(
    frame: Frame,
    pos: number,
    finished: boolean,
  ): Promise<(TaskFilePart & { source: FrameLogSource }) | undefined> {
    const fromNode = async (): Promise<(TaskFilePart & { source: FrameLogSource }) | undefined> => {
      const generation = this.store.dispatchedGeneration(frame.frameId);
      if (generation === 0 || !this.backend.readTaskFileRange) return undefined;
      const part = await this.backend.readTaskFileRange(
        frame.jobId,
        taskIdOf(frame.frameId, generation),
        FRAME_LOG_FILE,
        { offset: pos, maxBytes: this.chunkBytes },
      );
      return part && { ...part, source: 'node' };
    };
    const fromStorage = async (): Promise<(TaskFilePart & { source: FrameLogSource }) | undefined> => {
      const part = await this.stored?.(frame.jobId, frame.frameId, pos, this.chunkBytes);
      if (part && part.data.length > 0) this.onStorageRead?.(part.data.length);
      return part && { ...part, source: 'storage' };
    };
    if (!finished) return fromNode();
    return (await fromStorage()) ?? (await fromNode());
  }

  /** Waits for the poll interval, or less when the frame's state or attempt changes. */
  private async changeOrPoll(frame: Frame, signal: AbortSignal | undefined): Promise<void> {
    const controller = new AbortController();
    const stop = (): void => controller.abort();
    signal?.addEventListener('abort', stop, { once: true });
    const unsubscribe = this.store.onEvents(() => {
      const now = this.store.getFrame(frame.frameId);
      if (now && (now.state !== frame.state || now.attempts !== frame.attempts)) controller.abort();
    });
    try {
      await sleep(this.pollMs, controller.signal).catch(() => undefined);
    } finally {
      unsubscribe();
      signal?.removeEventListener('abort', stop);
    }
  }
}

/** Reads frames' uploaded logs from the outputs container (`logs/<job>/<frame>/stdout.txt`). */
export function blobLogReader(outputs: ContainerClient): StoredLogReader {
  return async (jobId, frameId, offset, maxBytes) => {
    const blob = outputs.getBlobClient(frameLogBlob(jobId, frameId, 'stdout'));
    try {
      const size = (await blob.getProperties()).contentLength ?? 0;
      const count = Math.min(maxBytes, size - offset);
      if (count <= 0) return { data: Buffer.alloc(0), size };
      return { data: await blob.downloadToBuffer(offset, count), size };
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return undefined;
      throw e;
    }
  };
}
