import pino from 'pino';
import { redactKnown } from './redact';

/** Fields attached to a log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/** A structured logger. Every implementation redacts secrets. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** Log levels, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** Options of `createLogger`. */
export interface LoggerOptions {
  /** Lines below this level are dropped. @default 'info' */
  readonly level?: LogLevel;
  /** `text` for people, `json` (one JSON object per line) for log shippers. @default 'text' */
  readonly format?: 'text' | 'json';
  /** Where lines go, one call per line, without the newline. @default process.stderr */
  readonly write?: (line: string) => void;
  /** A name put on every line, e.g. `service`. */
  readonly name?: string;
}

/**
 * Field names whose values are secrets whatever they hold, at the top level of a line's
 * fields and one level down (`{ storage: { connectionString } }`): pino replaces them with
 * `REDACTED` before the line is written. Values of other fields are searched for secrets
 * by pattern (`redactKnown`) as well.
 */
export const REDACTED_FIELDS: readonly string[] = [
  'token',
  'password',
  'secret',
  'accountKey',
  'connectionString',
  'authorization',
  'cookie',
  'sas',
  'sasToken',
  'sasUrl',
  'credential',
  'credentials',
];

/** pino's redaction paths for `REDACTED_FIELDS`. */
const REDACT_PATHS = [
  ...REDACTED_FIELDS,
  ...REDACTED_FIELDS.map((f) => `*.${f}`),
  'headers.authorization',
  '*.headers.authorization',
  '*.headers.cookie',
];

/** Deepest nesting of fields searched for secrets by pattern; deeper values are dropped. */
const MAX_DEPTH = 6;

/** Every string in `value` (nested objects, arrays, errors) with its secrets removed. */
function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactKnown(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (value instanceof Date) return value;
  if (value instanceof Error) {
    const cause = (value as { cause?: unknown }).cause;
    return {
      type: value.name,
      message: redactKnown(value.message),
      ...((value as { code?: unknown }).code !== undefined
        ? { code: (value as { code?: unknown }).code }
        : {}),
      ...(cause !== undefined ? { cause: scrub(cause, depth + 1) } : {}),
    };
  }
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  if (value instanceof Map) return scrub(Object.fromEntries(value), depth);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrub(v, depth + 1);
  return out;
}

/** pino's own keys of a line, written first in text format. */
const OWN_KEYS = new Set(['level', 'time', 'name', 'message']);

/** `2026-01-01T00:00:00.000Z INFO  [service] listening address=127.0.0.1:7443 tls=false` */
function textLine(json: string): string {
  const o = JSON.parse(json) as Record<string, unknown>;
  const extra = Object.entries(o)
    .filter(([k, v]) => !OWN_KEYS.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const level = String(o.level).toUpperCase().padEnd(5);
  const name = typeof o.name === 'string' ? `[${o.name}] ` : '';
  return `${String(o.time)} ${level} ${name}${String(o.message)}${extra ? ' ' + extra : ''}`;
}

/**
 * A logger over pino that writes one line per call: JSON (`{"level","time","name",
 * "message", ...fields}`) or text. Secrets never reach a line: fields named like one
 * (`REDACTED_FIELDS`) are censored by path, and every string (message and field values)
 * has recognised and registered secrets removed (`redactKnown`).
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const json = options.format === 'json';
  const destination = {
    write(chunk: string): void {
      const line = chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk;
      write(json ? line : textLine(line));
    },
  };
  const log = pino(
    {
      level: options.level ?? 'info',
      ...(options.name ? { name: options.name } : {}),
      base: undefined,
      messageKey: 'message',
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: 'REDACTED' },
      formatters: {
        level: (label) => ({ level: label }),
        log: (fields) => scrub(fields) as Record<string, unknown>,
      },
    },
    destination,
  );
  const emit =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, fields?: LogFields): void => {
      if (fields) log[level](fields as Record<string, unknown>, redactKnown(message));
      else log[level](redactKnown(message));
    };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

/** A logger that drops everything. */
export const silentLogger: Logger = createLogger({ level: 'silent' });
