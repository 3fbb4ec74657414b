/**
 * `extensions.events` as Zot reads it: off unless `enable`; `sinks[]` (http or nats), `source`, `typePrefix`.
 */
import { z } from 'zod';
import { zot } from '../../core/extensions/api';

const sinkSchema = z.strictObject({
  type: z.enum(['http', 'nats']),
  address: zot.reqStr,
  channel: zot.str.optional(), // nats subject
  timeout: zot.duration.optional(),
  proxy: zot.str.optional(),
  headers: z.record(z.string(), zot.str).optional(),
  // Zot's SinkConfig embeds credentials and TLS; both the nested and the flattened spellings are accepted.
  credentials: z.strictObject({ username: zot.str.optional(), password: zot.str.optional(), file: zot.str.optional(), token: zot.str.optional() }).optional(),
  tlsConfig: z.strictObject({ cacertFile: zot.str.optional(), certFile: zot.str.optional(), keyFile: zot.str.optional() }).optional(),
  username: zot.str.optional(),
  password: zot.str.optional(),
  file: zot.str.optional(),
  token: zot.str.optional(),
  cacertFile: zot.str.optional(),
  certFile: zot.str.optional(),
  keyFile: zot.str.optional(),
});

export const eventsSchema = z.strictObject({
  enable: zot.bool.optional(),
  sinks: z.array(sinkSchema).default([]),
  source: zot.str.optional(), // CloudEvents source override
  typePrefix: zot.str.optional(), // event type namespace override
});

export type EventsConfig = z.output<typeof eventsSchema>;
