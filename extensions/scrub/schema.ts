/**
 * `extensions.scrub` as Zot reads it: `enable` (on when the block is present) and `interval` (24h, at least 2h).
 */
import { z } from 'zod';
import { zot } from '../../core/extensions/api';

const HOUR_MS = 3_600_000;

export const scrubSchema = z.strictObject({
  enable: zot.bool.default(true),
  // Zot raises an interval under 2h to 2h with a warning; unset is 24h.
  interval: zot.duration.default(24 * HOUR_MS).transform((ms) => (ms < 2 * HOUR_MS ? 2 * HOUR_MS : ms)),
});

export type ScrubConfig = z.output<typeof scrubSchema>;
