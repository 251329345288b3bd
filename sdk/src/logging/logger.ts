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

const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

/** Options of `createLogger`. */
export interface LoggerOptions {
  /** Lines below this level are dropped. @default 'info' */
  readonly level?: LogLevel;
  /** `text` for people, `json` for log shippers. @default 'text' */
  readonly format?: 'text' | 'json';
  /** Where lines go. @default process.stderr */
  readonly write?: (line: string) => void;
  /** A name put on every line, e.g. `service`. */
  readonly name?: string;
}

/** A logger that writes one redacted line per call. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = order[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (level: Exclude<LogLevel, 'silent'>, message: string, fields?: LogFields): void => {
    if (order[level] < min) return;
    const time = new Date().toISOString();
    let line: string;
    if (options.format === 'json') {
      line = JSON.stringify({ time, level, name: options.name, message, ...fields });
    } else {
      const extra = fields
        ? Object.entries(fields)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(' ')
        : '';
      line = `${time} ${level.toUpperCase().padEnd(5)} ${options.name ? `[${options.name}] ` : ''}${message}${extra ? ' ' + extra : ''}`;
    }
    write(redactKnown(line));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = createLogger({ level: 'silent' });
