/**
 * The OpenCue bridge as `spillway-opencue` runs it: the virtual host (frame offload, and the
 * farm report with the worker-burst groups' RQD hosts apart) and, when it serves worker-burst
 * groups, the cloud-worker agent that drains, keeps and removes those hosts.
 */
import type { Logger } from '@spillway/sdk';
import type { VirtualHostConfig } from './host/config';
import { VirtualHost } from './host/virtual-host';
import { CloudWorkers } from './workers';

/** A running OpenCue bridge. */
export interface OpenCueBridge {
  readonly host: VirtualHost;
  /** The cloud-worker agent; undefined when the bridge serves no worker-burst group. */
  readonly workers: CloudWorkers | undefined;
  /** Settles when the virtual host stops; rejects when its frame watch failed for good. */
  readonly stopped: Promise<void>;
  /** Stops both; frames go on in the cloud (a restarted host picks them up). */
  close(): Promise<void>;
}

/** Starts the virtual host, then the cloud-worker agent of `config.workerGroups`. */
export async function startOpenCueBridge(config: VirtualHostConfig, logger: Logger): Promise<OpenCueBridge> {
  const host = await VirtualHost.start(config, { logger });
  const workers =
    config.workerGroups.length > 0
      ? new CloudWorkers({
          cuebot: config.cuebot,
          service: config.service,
          ...(config.tokenFile ? { tokenFile: config.tokenFile } : {}),
          groups: config.workerGroups,
          intervalMs: config.reportIntervalMs,
          source: host.source,
          logger,
        }).start()
      : undefined;
  return {
    host,
    workers,
    stopped: host.stopped,
    async close() {
      await workers?.close();
      await host.close();
    },
  };
}
