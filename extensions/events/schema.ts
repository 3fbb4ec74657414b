/**
 * `extensions.events`, Zot's keys: `enable` (off unless true, as in Zot), `sinks[]` and, as berth additions,
 * `source` and `typePrefix` for the CloudEvents attributes.
 */
import { z } from 'zod';
import { zot } from '../../core/extensions/api';

// Zot's DefaultHTTPTimeout, which it applies to any sink without a timeout.
export const DEFAULT_SINK_TIMEOUT_MS = 30_000;

const credentialsSchema = z.strictObject({ username: zot.str.optional(), password: zot.str.optional(), file: zot.str.optional(), token: zot.str.optional() });
const tlsSchema = z.strictObject({ cacertFile: zot.str.optional(), certFile: zot.str.optional(), keyFile: zot.str.optional() });

const sinkSchema = z
  .strictObject({
    type: z.enum(['http', 'nats'], { message: 'event sink is not supported: type must be "http" or "nats"' }),
    address: zot.reqStr,
    channel: zot.str.optional(), // the NATS subject; on HTTP Zot sends it as the `channel` extension attribute
    timeout: zot.duration.optional(),
    proxy: zot.str.optional(),
    headers: z.record(z.string(), zot.str).optional(),
    // Zot's SinkConfig embeds credentials and TLS; both the nested and the flattened spellings are accepted.
    credentials: credentialsSchema.optional(),
    tlsConfig: tlsSchema.optional(),
    ...credentialsSchema.shape,
    ...tlsSchema.shape,
  })
  .superRefine((sink, ctx) => {
    if (sink.type === 'http' && !/^https?:\/\/[^/]/i.test(sink.address)) {
      ctx.addIssue({ code: 'custom', path: ['address'], message: 'an http sink needs an http:// or https:// URL' });
    }
    if (sink.type === 'nats' && !sink.channel?.trim()) {
      ctx.addIssue({ code: 'custom', path: ['channel'], message: 'a nats sink needs the subject to publish to' });
    }
    if (sink.proxy && sink.type !== 'http') ctx.addIssue({ code: 'custom', path: ['proxy'], message: 'only an http sink can use a proxy' });
    if (sink.proxy && !/^http:\/\/[^/]/i.test(sink.proxy)) ctx.addIssue({ code: 'custom', path: ['proxy'], message: 'must be an http:// URL' });
  })
  .transform((sink) => ({
    type: sink.type,
    address: sink.address.trim(),
    channel: sink.channel?.trim() || undefined,
    timeout: sink.timeout && sink.timeout > 0 ? sink.timeout : DEFAULT_SINK_TIMEOUT_MS,
    proxy: sink.proxy || undefined,
    headers: sink.headers ?? {},
    credentials: {
      username: sink.credentials?.username ?? sink.username,
      password: sink.credentials?.password ?? sink.password,
      file: sink.credentials?.file ?? sink.file,
      token: sink.credentials?.token ?? sink.token,
    },
    tls: {
      cacertFile: sink.tlsConfig?.cacertFile ?? sink.cacertFile,
      certFile: sink.tlsConfig?.certFile ?? sink.certFile,
      keyFile: sink.tlsConfig?.keyFile ?? sink.keyFile,
    },
  }));

export const eventsSchema = z.strictObject({
  enable: zot.bool.default(false),
  sinks: z.array(sinkSchema).default([]),
  source: zot.str.optional(),
  typePrefix: zot.str.optional(),
});

export type EventsConfig = z.output<typeof eventsSchema>;
export type SinkConfig = EventsConfig['sinks'][number];
