/** Structured logging with secret redaction. */
export {
  createLogger,
  silentLogger,
  type Logger,
  type LoggerOptions,
  type LogFields,
  type LogLevel,
} from './logger';
export { redact, redactKnown, registerSecret } from './redact';
export { endOnClosedStdout, untilStopped } from './pipe';
