import type { ServerWritableStream } from '@grpc/grpc-js';
import { ValidationError } from '../../errors';
import type * as w from '../../gen/spillway/v1/frames';
import { frameLogChunkToWire } from '../../model/wire-mapping';
import type { FrameLogService, FrameRef } from '../logs/frame-logs';
import { abortOf, drained, serverStream, type HandlerContext } from './handlers';

/** The frame's reference of a FollowFrameLog request; INVALID_ARGUMENT naming `frame` without one. */
export function frameRefFromWire(frame: w.FollowFrameLogRequest['frame']): FrameRef {
  if (frame?.$case === 'frameId' && frame.value) return { frameId: frame.value };
  if (frame?.$case === 'frameNumber') return { frameNumber: frame.value };
  throw new ValidationError('frame', frame?.value ?? '', 'is required: frame_id or frame_number');
}

/** FollowFrameLog: validate, stream the domain's chunks with back-pressure, stop when the client goes. */
export function frameLogHandlers(
  ctx: HandlerContext,
  logs: FrameLogService,
): Pick<w.FrameServiceServer, 'followFrameLog'> {
  return {
    followFrameLog: serverStream(
      ctx,
      async (call: ServerWritableStream<w.FollowFrameLogRequest, w.FollowFrameLogResponse>) => {
        const req = call.request;
        const ref = frameRefFromWire(req.frame);
        const abortSignal = abortOf(call);
        for await (const chunk of logs.follow(req.jobId, ref, {
          offset: req.offset,
          attempt: req.attempt,
          follow: req.follow,
          abortSignal,
        })) {
          if (call.cancelled) return;
          if (!call.write(frameLogChunkToWire(chunk))) await drained(call);
        }
      },
    ),
  };
}
