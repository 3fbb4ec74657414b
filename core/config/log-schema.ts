/**
 * `log`. Zot parses `level` with zerolog and refuses to start on anything else; `output` is a file (JSON lines)
 * and defaults to stdout; `audit` is a second file that receives mutating requests only.
 */
import { z } from 'zod';
import { zStr } from './zot-scalars';

// zerolog's level names, lower-cased the way zerolog.ParseLevel compares them; "disabled" silences logging.
export const LOG_LEVELS = ['panic', 'fatal', 'error', 'warn', 'info', 'debug', 'trace', 'disabled'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const logSchema = z.strictObject({
  level: z.preprocess((v) => (typeof v === 'string' ? v.trim().toLowerCase() : v), z.enum(LOG_LEVELS)).default('debug'),
  output: zStr.optional(),
  audit: zStr.optional(),
});

export type LogConfig = z.output<typeof logSchema>;
