/**
 * `extensions.metrics` as Zot reads it: `enable` (on when the block is present) and `prometheus.path` (an
 * empty path is the default). A path that is not absolute would never match a request: refused, naming the key.
 */
import { z } from 'zod';
import { zot } from '../../core/extensions/api';

export const metricsSchema = z.strictObject({
  enable: zot.bool.default(true),
  prometheus: z
    .strictObject({
      path: zot.str
        .default('/metrics')
        .transform((path) => path || '/metrics')
        .refine((path) => path.startsWith('/'), { message: 'must start with "/" (a path on this server, e.g. /metrics)' }),
    })
    .default({ path: '/metrics' }),
});

export type MetricsConfig = z.output<typeof metricsSchema>;
