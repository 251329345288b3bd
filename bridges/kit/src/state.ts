/**
 * A bridge's durable state: one versioned JSON file, read once at start and written
 * atomically (temporary file, fsync, rename) after every change. Bridges write their intent
 * BEFORE the action it describes where that matters, so a restarted bridge can tell its own
 * actions from a user's. Every bridge uses this one format: `{"version": N, ...}`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ValidationError } from '@spillway/sdk';
import { writeFileAtomic } from '@spillway/sdk/state';
import * as storage from '@spillway/sdk/storage';

/** Options of a `JsonStateFile`. */
export interface JsonStateFileOptions<T> {
  /** The state file. */
  readonly file: string;
  /** The version this code reads and writes. */
  readonly version: number;
  /** The state of a bridge that never ran (no file yet). */
  readonly initial: () => T;
  /**
   * Checks the shape of a parsed file of the right version; answers what is wrong, or
   * undefined when it is fine. @default only the version is checked
   */
  readonly check?: (parsed: Record<string, unknown>) => string | undefined;
  /** The setting named in errors (the user moves the file aside or points elsewhere). @default 'stateDir' */
  readonly field?: string;
}

/** A versioned JSON state file. */
export class JsonStateFile<T extends { version: number }> {
  private state: T;

  constructor(private readonly options: JsonStateFileOptions<T>) {
    this.state = this.read();
  }

  /** The state file's path. */
  get file(): string {
    return this.options.file;
  }

  /** The current state (read only; change it through `update`). */
  get current(): Readonly<T> {
    return this.state;
  }

  /** Applies `change` and writes the state durably before returning. */
  update(change: (s: T) => void): void {
    change(this.state);
    fs.mkdirSync(path.dirname(this.options.file), { recursive: true });
    writeFileAtomic(this.options.file, JSON.stringify(this.state));
  }

  private read(): T {
    const { file, version } = this.options;
    const field = this.options.field ?? 'stateDir';
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.options.initial();
      throw new ValidationError(
        field,
        file,
        `holds a state file that cannot be read: ${(err as Error).message}`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new ValidationError(
        field,
        file,
        `holds a state file that is not JSON (${(err as Error).message}); move it aside to start afresh`,
      );
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new ValidationError(field, file, 'holds a state file that is not a JSON object; move it aside');
    const v = (parsed as { version?: unknown }).version;
    if (v !== version)
      throw new ValidationError(
        field,
        file,
        `holds a state file of version ${JSON.stringify(v)}, not ${version}; move it aside to start afresh`,
      );
    const wrong = this.options.check?.(parsed as Record<string, unknown>);
    if (wrong) throw new ValidationError(field, file, `holds a damaged state file (${wrong}); move it aside`);
    return parsed as T;
  }
}

/**
 * Where a bridge keeps its state unless told otherwise: `<data dir>/bridges/<bridge>`, the
 * data directory being the service's (`$SPILLWAY_DATA_DIR`, else `~/.spillway`), never the
 * current directory.
 */
export function defaultStateDir(bridge: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(storage.defaultDataDir(env), 'bridges', bridge);
}

/**
 * Warns when a state file of an earlier version of the bridge sits in the current directory
 * (where bridges kept state before it moved under the data directory) and the bridge is not
 * using it: the user points `--state-dir` at it to keep what it recorded.
 */
export function warnOfLegacyState(
  logger: { warn(message: string, fields?: Record<string, unknown>): void },
  legacyDir: string,
  stateDir: string,
  fileName: string,
): void {
  const legacy = path.resolve(legacyDir);
  if (legacy === path.resolve(stateDir) || !fs.existsSync(path.join(legacy, fileName))) return;
  logger.warn('a state file of an earlier version is in the current directory and is not used', {
    file: path.join(legacy, fileName),
    stateDir,
    hint: `pass --state-dir ${legacy} to keep using it`,
  });
}
