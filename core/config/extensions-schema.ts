/**
 * `extensions`. A Zot built-in block that is present defaults to `enable: true` (search, sync, metrics, scrub,
 * ui, trust; even written as `null`, as viper reports the key); `lint` and `events` stay off unless enabled.
 *
 * berth addition: any other name is a third-party extension, accepted only with a `module` (an npm package
 * name or a path) that berth loads; its other keys pass through untouched and are validated later by the
 * extension's own schema. The block stays at `extensions.<name>`, where the extension host looks for it.
 */
import { z } from 'zod';
import { syncSchema } from './sync-schema';
import { zBool, zDuration, zReqStr, zStr, zStrList } from './zot-scalars';

const HOUR_MS = 3_600_000;

function block<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (v === null ? {} : v), schema);
}

const searchSchema = z
  .strictObject({
    enable: zBool.default(true),
    cve: z
      .strictObject({
        updateInterval: zDuration.optional(),
        trivy: z.strictObject({ dbRepository: zStr.optional(), javaDBRepository: zStr.optional() }).optional(),
      })
      .optional(),
  })
  .transform((search) => {
    if (!search.cve) return { enable: search.enable };
    // Zot raises an interval under 2h (or unset) to 2h with a warning rather than failing.
    const updateInterval = Math.max(2 * HOUR_MS, search.cve.updateInterval ?? 0);
    const trivy = {
      dbRepository: search.cve.trivy?.dbRepository || 'ghcr.io/aquasecurity/trivy-db',
      javaDBRepository: search.cve.trivy?.javaDBRepository || 'ghcr.io/aquasecurity/trivy-java-db',
    };
    return { enable: search.enable, cve: { updateInterval, trivy } };
  });

const metricsSchema = z.strictObject({
  enable: zBool.default(true),
  prometheus: z.strictObject({ path: zStr.default('/metrics') }).default({ path: '/metrics' }),
});

const scrubSchema = z.strictObject({
  enable: zBool.default(true),
  // Zot raises an interval under 2h to 2h with a warning; unset is 24h.
  interval: zDuration.default(24 * HOUR_MS).transform((ms) => (ms < 2 * HOUR_MS ? 2 * HOUR_MS : ms)),
});

const lintSchema = z.strictObject({ enable: zBool.optional(), mandatoryAnnotations: zStrList.default([]) });
const uiSchema = z.strictObject({ enable: zBool.default(true) });
const trustSchema = z.strictObject({ enable: zBool.default(true), cosign: zBool.default(false), notation: zBool.default(false) });
const legacySchema = z.strictObject({ enable: zBool.optional() }); // mgmt, apikey: accepted and ignored, as in Zot

const sinkSchema = z.strictObject({
  type: z.enum(['http', 'nats']),
  address: zReqStr,
  channel: zStr.optional(), // nats subject
  timeout: zDuration.optional(),
  proxy: zStr.optional(),
  headers: z.record(z.string(), zStr).optional(),
  // Zot's SinkConfig embeds credentials and TLS; both the nested and the flattened spellings are accepted.
  credentials: z.strictObject({ username: zStr.optional(), password: zStr.optional(), file: zStr.optional(), token: zStr.optional() }).optional(),
  tlsConfig: z.strictObject({ cacertFile: zStr.optional(), certFile: zStr.optional(), keyFile: zStr.optional() }).optional(),
  username: zStr.optional(),
  password: zStr.optional(),
  file: zStr.optional(),
  token: zStr.optional(),
  cacertFile: zStr.optional(),
  certFile: zStr.optional(),
  keyFile: zStr.optional(),
});

const eventsSchema = z.strictObject({
  enable: zBool.optional(),
  sinks: z.array(sinkSchema).default([]),
  source: zStr.optional(), // CloudEvents source override
  typePrefix: zStr.optional(), // event type namespace override
});

/** berth: a third-party extension block; everything but `module` belongs to the extension. */
const thirdPartySchema = z.looseObject({ module: zReqStr.optional() }).superRefine((ext, ctx) => {
  if (ext.module === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: 'unknown extension: not a Zot built-in; a third-party extension needs "module" (npm package name or path)',
    });
  }
});

export const BUILTIN_EXTENSIONS = ['search', 'sync', 'metrics', 'scrub', 'lint', 'ui', 'trust', 'events', 'mgmt', 'apikey'] as const;

const builtinShape = {
  search: block(searchSchema).optional(),
  sync: block(syncSchema).optional(),
  metrics: block(metricsSchema).optional(),
  scrub: block(scrubSchema).optional(),
  lint: block(lintSchema).optional(),
  ui: block(uiSchema).optional(),
  trust: block(trustSchema).optional(),
  events: block(eventsSchema).optional(),
  mgmt: block(legacySchema).optional(),
  apikey: block(legacySchema).optional(),
};

type Builtins = z.output<z.ZodObject<typeof builtinShape>>;

export interface ThirdPartyExtensionConfig {
  module: string;
  [key: string]: unknown;
}

/** Built-in blocks by name; any other key is a {@link ThirdPartyExtensionConfig} (typed `unknown` here). */
export type ExtensionsConfig = Builtins & { [name: string]: unknown };

export const extensionsSchema = z
  .object(builtinShape)
  .catchall(thirdPartySchema)
  .transform((ext) => ext as ExtensionsConfig);

export type SearchConfig = NonNullable<Builtins['search']>;
export type MetricsConfig = NonNullable<Builtins['metrics']>;
export type ScrubConfig = NonNullable<Builtins['scrub']>;
export type LintConfig = NonNullable<Builtins['lint']>;
export type EventsConfig = NonNullable<Builtins['events']>;

/** The third-party extension blocks, in config order. */
export function thirdPartyExtensions(ext: ExtensionsConfig | undefined): Array<{ name: string; config: ThirdPartyExtensionConfig }> {
  if (!ext) return [];
  return Object.entries(ext)
    .filter(([name, value]) => !(BUILTIN_EXTENSIONS as readonly string[]).includes(name) && value !== undefined)
    .map(([name, value]) => ({ name, config: value as ThirdPartyExtensionConfig }));
}
