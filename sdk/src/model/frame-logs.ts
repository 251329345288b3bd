import type { FrameState } from './frames';

/** Where a piece of a frame's log was read. */
export type FrameLogSource = 'node' | 'storage';

/**
 * A piece of a frame's log (its task's stdout and stderr, interleaved as written), or, with
 * empty `data`, a report of the frame's state while there is nothing new to read.
 */
export interface FrameLogChunk {
  /** The service's id of the frame. */
  readonly frameId: string;
  /**
   * The attempt the bytes belong to, from 1: the latest that started, or, while the frame
   * waits in the queue, the one it waits for. A chunk of a later attempt than the previous
   * chunk's starts that attempt's log (offset 0).
   */
  readonly attempt: number;
  /** Offset of `data` in that attempt's log. */
  readonly offset: number;
  /** The bytes; empty in a state report. */
  readonly data: Buffer;
  /** Where `data` was read: the node as the log grows, or storage once the attempt has ended. */
  readonly source?: FrameLogSource;
  /** The frame's state when the bytes were read. */
  readonly state: FrameState;
  /** The last chunk: the frame has finished and its whole log was sent (follow), or all there was (no follow). */
  readonly end: boolean;
}
