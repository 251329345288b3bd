import { BinaryWriter } from '@bufbuild/protobuf/wire';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { ResourceExhaustedError, ValidationError } from '../../errors';
import * as w from '../../gen/spillway/v1/frames';
import {
  eventToWire,
  frameSpecFromWire,
  frameStates,
  frameToWire,
  jobSpecFromWire,
  jobStates,
  jobToWire,
  keyFromWire,
  keyToWire,
  submissionToWire,
} from '../../model/wire-mapping';
import type { FrameEvent } from '../../model/frames';
import type { FrameManager } from '../frames/manager';
import type { FrameStore } from '../frames/store';
import { serverStream, unary, type HandlerContext } from './handlers';
import { parseCursor, pump } from './watch';

/** Limits of the FrameService. */
export interface FrameServiceLimits {
  /** Concurrent WatchFrames streams per client address. @default 100 */
  readonly maxStreamsPerClient?: number;
  /** Events per WatchFrames message. @default 500 */
  readonly eventsPerMessage?: number;
  /** A heartbeat (empty message) after this long without events. @default 15000 */
  readonly heartbeatMs?: number;
}

/** The FrameService handlers: validate, call the domain, map errors. Nothing else. */
export function frameServiceHandlers(
  ctx: HandlerContext,
  manager: FrameManager,
  store: FrameStore,
  limits: FrameServiceLimits = {},
): Pick<
  w.FrameServiceServer,
  'submitFrames' | 'watchFrames' | 'recallFrames' | 'cancelJob' | 'getJob' | 'listJobs' | 'listFrames'
> {
  const maxStreams = limits.maxStreamsPerClient ?? 100;
  const perMessage = limits.eventsPerMessage ?? 500;
  const heartbeatMs = limits.heartbeatMs ?? 15_000;
  const streams = new Map<string, number>();

  return {
    submitFrames: unary(ctx, async (req: w.SubmitFramesRequest) => {
      const result = await manager.submit(jobSpecFromWire(req.job), req.frames.map(frameSpecFromWire));
      return { jobId: result.jobId, frames: result.frames.map(submissionToWire) };
    }),

    watchFrames: serverStream(
      ctx,
      async (call: ServerWritableStream<w.WatchFramesRequest, w.WatchFramesResponse>) => {
        const req = call.request;
        const cursor = parseCursor(req.afterCursor);
        if (cursor === undefined) {
          throw new ValidationError('after_cursor', req.afterCursor, 'is not a cursor this service issued');
        }
        const client = peerHost(call.getPeer());
        const open = streams.get(client) ?? 0;
        if (open >= maxStreams) {
          throw new ResourceExhaustedError(
            `too many WatchFrames streams from ${client} (limit ${maxStreams}); close some`,
          );
        }
        streams.set(client, open + 1);
        const filter = { jobId: req.jobId || undefined, source: req.source || undefined };
        try {
          await pump(
            call,
            {
              read: (from, limit) => {
                const { events, scannedTo } = store.eventsAfter(from, filter, limit);
                return { items: events, next: scannedTo };
              },
              subscribe: (l) => store.onEvents(l),
            },
            cursor,
            watchResponse,
            { perMessage, heartbeatMs },
          );
        } finally {
          const n = (streams.get(client) ?? 1) - 1;
          if (n > 0) streams.set(client, n);
          else streams.delete(client);
        }
      },
    ),

    recallFrames: unary(ctx, async (req: w.RecallFramesRequest) => {
      const result = await manager.recall({
        keys: req.keys.map((k) => keyFromWire(k)),
        jobId: req.jobId || undefined,
        maxFrames: req.maxFrames || undefined,
        reason: req.reason || undefined,
      });
      return { recalled: result.recalled.map(keyToWire), notRecalled: result.notRecalled.map(keyToWire) };
    }),

    cancelJob: unary(ctx, async (req: w.CancelJobRequest) => {
      if (!req.jobId) throw new ValidationError('job_id', req.jobId, 'is required');
      return { job: jobToWire(await manager.cancel(req.jobId, req.reason)) };
    }),

    getJob: unary(ctx, async (req: w.GetJobRequest) => ({
      job: jobToWire(manager.getJob({ jobId: req.jobId, source: req.source, sourceJobId: req.sourceJobId })),
    })),

    listJobs: unary(ctx, async (req: w.ListJobsRequest) => {
      const page = manager.listJobs({
        source: req.source || undefined,
        states: req.states.map((s) => jobStates.fromWire(s)).filter((s) => s !== undefined),
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { jobs: page.items.map(jobToWire), nextPageToken: page.nextPageToken };
    }),

    listFrames: unary(ctx, async (req: w.ListFramesRequest) => {
      if (!req.jobId) throw new ValidationError('job_id', req.jobId, 'is required');
      const page = manager.listFrames(req.jobId, {
        states: req.states.map((s) => frameStates.fromWire(s)).filter((s) => s !== undefined),
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { frames: page.items.map(frameToWire), nextPageToken: page.nextPageToken };
    }),
  };
}

function peerHost(peer: string): string {
  const m = /^(?:ipv4:|ipv6:)?\[?([^\]]*?)\]?:\d+$/.exec(peer);
  return m?.[1] ?? peer;
}

/**
 * Every watcher of a busy job receives the same events: each is encoded once, on first
 * send, and its bytes kept (as long as the event) and reused for every stream.
 */
const encodedEvents = new WeakMap<FrameEvent, Uint8Array>();
const ENCODED = Symbol('encoded events');

/** A watch response carrying its events pre-encoded (see `encodeWatchFramesResponse`). */
type PreEncodedResponse = w.WatchFramesResponse & { [ENCODED]?: Uint8Array[] };

/** The message a watch stream sends for these events. */
export function watchResponse(events: readonly FrameEvent[]): w.WatchFramesResponse {
  const encoded = events.map((e) => {
    let bytes = encodedEvents.get(e);
    if (!bytes) {
      bytes = w.FrameEvent.encode(eventToWire(e)).finish();
      encodedEvents.set(e, bytes);
    }
    return bytes;
  });
  const response: PreEncodedResponse = { events: [], [ENCODED]: encoded };
  return response;
}

/**
 * `WatchFramesResponse` has one field, `repeated FrameEvent events = 1`: its encoding is
 * each event's bytes behind the field's tag and length, so encoded events concatenate.
 */
export function encodeWatchFramesResponse(message: w.WatchFramesResponse): Buffer {
  const encoded = (message as PreEncodedResponse)[ENCODED];
  if (!encoded) return Buffer.from(w.WatchFramesResponse.encode(message).finish());
  const parts: Uint8Array[] = [];
  for (const bytes of encoded) parts.push(new BinaryWriter().uint32(10).uint32(bytes.length).finish(), bytes);
  return Buffer.concat(parts);
}

/** The frame service's definition, with the watch stream's shared encoding. */
export const watchFramesService: typeof w.FrameServiceService = {
  ...w.FrameServiceService,
  watchFrames: { ...w.FrameServiceService.watchFrames, responseSerialize: encodeWatchFramesResponse },
};
