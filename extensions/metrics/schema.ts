/**
 * `extensions.metrics` as Zot reads it: `enable` (on when the block is present) and `prometheus.path`.
 */
import { z } from 'zod';
import { zot } from '../../core/extensions/api';

export const metricsSchema = z.strictObject({
  enable: zot.bool.default(true),
  prometheus: z.strictObject({ path: zot.str.default('/metrics') }).default({ path: '/metrics' }),
});

export type MetricsConfig = z.output<typeof metricsSchema>;
