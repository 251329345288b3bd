/**
 * The virtual host's own small durable state: which Cuebot frame runs as which cloud frame,
 * each frame's launch generation, and the watch cursor. Written atomically (temporary file,
 * fsync, rename) after every change, so a restarted host reconciles instead of duplicating.
 */
import * as fs from 'node:fs';
import { ValidationError } from '@spillway/sdk';
import { writeFileAtomic } from '@spillway/sdk/state';
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
}

/** Loads and saves the state file. */
export class HostStateStore {
  private state: HostState;

  constructor(
    /** The state file. */
    readonly file: string,
  ) {
    this.state = HostStateStore.read(file);
  }

  private static read(file: string): HostState {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        return { version: 1, cursor: '', generations: {}, launches: {} };
      throw err;
    }
    let parsed: HostState;
    try {
      parsed = JSON.parse(text) as HostState;
    } catch (err) {
      throw new ValidationError(
        'stateDir',
        file,
        `holds a state file that is not JSON (${(err as Error).message}); move it aside to start afresh`,
      );
    }
    if (
      parsed?.version !== 1 ||
      typeof parsed.launches !== 'object' ||
      typeof parsed.generations !== 'object'
    ) {
      throw new ValidationError(
        'stateDir',
        file,
        'holds a state file of an unknown version; move it aside to start afresh',
      );
    }
    return parsed;
  }

  /** The current state (do not mutate; use the methods). */
  get current(): Readonly<HostState> {
    return this.state;
  }

  /** Applies `change` and writes the state durably. */
  update(change: (s: HostState) => void): void {
    change(this.state);
    writeFileAtomic(this.file, JSON.stringify(this.state));
  }
}
