/**
 * The virtual host's own small durable state: which Cuebot frame runs as which cloud frame,
 * each frame's launch generation, and the watch cursor. Written atomically (temporary file,
 * fsync, rename) after every change, so a restarted host reconciles instead of duplicating.
 */
import { JsonStateFile } from '@spillway/bridge-kit';
import type { RunFrame } from '../proto';

/** One launched frame the host answers for until Cuebot has its completion. */
export interface LaunchRecord {
  /** Cuebot's frame id. */
  readonly frameId: string;
  /** The proc Cuebot booked: echoed in every report about the frame. */
  readonly resourceId: string;
  /** What Cuebot launched (command already substituted, environment). */
  readonly run: RunFrame;
  /** 1 for the first launch of the frame, then 2, ... */
  readonly generation: number;
  /** The service-side job's source job id. */
  readonly cloudSourceJobId: string;
  /** The service's job id, once submitted. */
  cloudJobId?: string;
  /** When Cuebot launched it (epoch ms). */
  readonly launchedAt: number;
  /** Cuebot asked to kill it. */
  killRequested?: boolean;
}

/** The whole state. */
export interface HostState {
  version: 1;
  /** Resume the service's frame watch after this. */
  cursor: string;
  /** Last launch generation of each frame id ever launched here. */
  generations: Record<string, number>;
  /** Launches not yet reported complete, by frame id. */
  launches: Record<string, LaunchRecord>;
  /**
   * Launches dropped on restart because Cuebot never had their answer (it relaunches those
   * frames itself): their cloud jobs, which the service may have taken before the crash, to
   * cancel. @default none
   */
  abandoned?: AbandonedLaunch[];
}

/** A launch dropped on restart whose cloud job is to be cancelled if the service has one. */
export interface AbandonedLaunch {
  /** The cloud job's source job id. */
  readonly cloudSourceJobId: string;
  /** Cuebot's frame name, for logs. */
  readonly frameName: string;
  /** When Cuebot launched it (epoch ms). */
  readonly launchedAt: number;
}

/** Loads and saves the state file (the bridge kit's versioned JSON state file). */
export class HostStateStore {
  private readonly store: JsonStateFile<HostState>;

  constructor(
    /** The state file. */
    readonly file: string,
  ) {
    this.store = new JsonStateFile<HostState>({
      file,
      version: 1,
      initial: () => ({ version: 1, cursor: '', generations: {}, launches: {} }),
      check: (s) =>
        typeof s.launches !== 'object' || typeof s.generations !== 'object' || typeof s.cursor !== 'string'
          ? 'no cursor, generations or launches'
          : undefined,
    });
  }

  /** The current state (do not mutate; use `update`). */
  get current(): Readonly<HostState> {
    return this.store.current;
  }

  /** Applies `change` and writes the state durably. */
  update(change: (s: HostState) => void): void {
    this.store.update(change);
  }
}
