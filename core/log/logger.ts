import pino, { type Logger } from 'pino';

// Zot's levels (logrus) mapped onto pino's; `panic` is as loud as it gets.
const LEVELS: Record<string, pino.Level> = {
  panic: 'fatal', fatal: 'fatal', error: 'error', warn: 'warn', info: 'info', debug: 'debug', trace: 'trace',
};

/** Paths pino blanks in every line: credentials must never reach a log. */
export const REDACT_PATHS = [
  'authorization', 'headers.authorization', 'req.headers.authorization', 'req.headers.cookie', 'cookie',
  'password', '*.password', 'bindPassword', '*.bindPassword', 'secretkey', '*.secretkey', 'accesskey', '*.accesskey', 'sessiontoken', '*.sessiontoken', 'token', '*.token',
  'err.config.headers.authorization',
  // storage.cacheDriver (and a MetaStore factory's params): Zot's redis keys, whose url may carry credentials.
  'sentinel_password', '*.sentinel_password', 'cacheDriver.url', '*.cacheDriver.url', 'cacheDriver.password', '*.cacheDriver.password',
  'cacheDriver.sentinel_password', '*.cacheDriver.sentinel_password', 'params.url', 'params.password', 'params.sentinel_password',
];

export interface LogOptions {
  level?: string;
  /** A file to append JSON lines to; stdout when absent. */
  output?: string;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const level = LEVELS[(opts.level ?? 'info').toLowerCase()] ?? 'info';
  const destination = opts.output ? pino.destination({ dest: opts.output, mkdir: true, sync: false }) : pino.destination({ fd: 1, sync: false });
  return pino({ level, base: { app: 'berth' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}

/** The audit log (`log.audit`): mutating requests only, always at info. */
export function createAuditLogger(path: string): Logger {
  return pino({ level: 'info', base: { app: 'berth', audit: true }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, pino.destination({ dest: path, mkdir: true, sync: false }));
}
