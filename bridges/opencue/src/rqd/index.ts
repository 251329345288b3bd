/**
 * The RQD side of a render host: `serveRqd` puts `rqd.RqdInterface` on a gRPC server over a
 * small set of handlers. Used by the virtual host and the simulated hosts alike.
 */
import * as grpc from '@grpc/grpc-js';
import type { OpenCueServices } from '../proto';
import type { HostReport, RunFrame, RunningFrameInfo } from '../proto';

/** What a render host does when Cuebot calls it. */
export interface RqdHandlers {
  /** Starts a frame; rejects (with a gRPC `code` when known) when it cannot. */
  launchFrame(run: RunFrame): Promise<void>;
  /** Kills a running frame; a frame not running here is not an error. */
  killRunningFrame(frameId: string, message: string): Promise<void>;
  /** A running frame, or undefined. */
  runningFrame(frameId: string): RunningFrameInfo | undefined;
  /** The host's report, for `RqdInterface.ReportStatus`. */
  hostReport(): HostReport;
}

/** Adds `rqd.RqdInterface` to `server`. */
export function serveRqd(server: grpc.Server, services: OpenCueServices, handlers: RqdHandlers): void {
  const fail = (cb: grpc.sendUnaryData<unknown>, err: unknown): void => {
    const e = err as { code?: number; message?: string };
    cb({ code: typeof e.code === 'number' ? e.code : grpc.status.INTERNAL, details: e.message ?? 'failed' });
  };
  type Call = grpc.ServerUnaryCall<Record<string, unknown>, unknown>;
  server.addService(services.rqd.RqdInterface.definition, {
    LaunchFrame: (call: Call, cb: grpc.sendUnaryData<unknown>) => {
      const run = call.request.run_frame as RunFrame | undefined;
      if (!run || !run.frame_id || !run.resource_id) {
        return cb({
          code: grpc.status.INVALID_ARGUMENT,
          details: 'run_frame: needs frame_id and resource_id',
        });
      }
      handlers.launchFrame(run).then(
        () => cb(null, {}),
        (err) => fail(cb, err),
      );
    },
    KillRunningFrame: (call: Call, cb: grpc.sendUnaryData<unknown>) => {
      const frameId = String(call.request.frame_id ?? '');
      handlers.killRunningFrame(frameId, String(call.request.message ?? '')).then(
        () => cb(null, {}),
        (err) => fail(cb, err),
      );
    },
    GetRunningFrameStatus: (call: Call, cb: grpc.sendUnaryData<unknown>) => {
      const info = handlers.runningFrame(String(call.request.frame_id ?? ''));
      if (!info)
        return cb({
          code: grpc.status.NOT_FOUND,
          details: `frame ${JSON.stringify(call.request.frame_id)} is not running here`,
        });
      cb(null, { running_frame_info: info });
    },
    ReportStatus: (_call: Call, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, { host_report: handlers.hostReport() }),
  });
}
