import type { ServerWritableStream } from '@grpc/grpc-js';
import { drained } from './handlers';

/** What a cursor-resumable stream reads from. */
export interface CursorSource<T> {
  /** Items after `cursor`, at most `limit`, and the cursor to continue from. */
  read(cursor: number, limit: number): { items: T[]; next: number };
  /** Calls `listener` when new items may exist; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
}

/** Options of `pump`. */
export interface PumpOptions {
  /** Items per message. */
  readonly perMessage: number;
  /** An empty message after this long without items, so idle streams stay alive. */
  readonly heartbeatMs: number;
}

/**
 * Streams a cursor source to a call until the client goes away: batches of items, an empty
 * heartbeat when idle, and back-pressure (a slow reader costs its cursor, not a buffer).
 */
export async function pump<T, Res>(
  call: ServerWritableStream<unknown, Res>,
  source: CursorSource<T>,
  start: number,
  toMessage: (items: T[]) => Res,
  options: PumpOptions,
): Promise<void> {
  let cursor = start;
  let wake: (() => void) | undefined;
  const unsubscribe = source.subscribe(() => wake?.());
  const onCancel = (): void => wake?.();
  call.on('cancelled', onCancel);
  try {
    while (!call.cancelled) {
      const { items, next } = source.read(cursor, options.perMessage);
      cursor = next;
      if (items.length > 0) {
        if (!call.write(toMessage(items))) await drained(call);
        continue;
      }
      const heartbeat = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(true), options.heartbeatMs);
        wake = () => {
          clearTimeout(timer);
          resolve(false);
        };
      });
      wake = undefined;
      if (heartbeat && !call.cancelled && !call.write(toMessage([]))) await drained(call);
    }
  } finally {
    unsubscribe();
    call.off('cancelled', onCancel);
  }
}

/** Parses a cursor the service issued; empty means from the start. */
export function parseCursor(text: string): number | undefined {
  if (text === '') return 0;
  return /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}
