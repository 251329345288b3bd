/** Frame logs, live from the node and replayed from storage. */
export {
  blobLogReader,
  FRAME_LOG_FILE,
  FrameLogService,
  type FollowFrameLogOptions,
  type FrameLogServiceOptions,
  type FrameRef,
  type StoredLogReader,
} from './frame-logs';
