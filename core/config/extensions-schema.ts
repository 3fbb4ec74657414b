/**
 * `extensions`. A Zot built-in block that is present defaults to `enable: true` (search, sync, metrics, scrub,
 * ui, trust; even written as `null`, as viper reports the key); `lint` and `events` stay off unless enabled.
 *
 * berth addition: any other name is a third-party extension, accepted only with a `module` (an npm package
 * name or a path) that berth loads; its other keys pass through untouched and are validated later by the
 * extension's own schema. The block stays at `extensions.<name>`, where the extension host looks for it.
 *
 * The built-in extensions' schemas live with each extension (extensions/<name>/schema.ts); this file composes
 * them, so the whole config is validated at once, before anything starts.
 */
import { z } from 'zod';
import { eventsSchema } from '../../extensions/events/schema';
import { lintSchema } from '../../extensions/lint/schema';
import { metricsSchema } from '../../extensions/metrics/schema';
import { scrubSchema } from '../../extensions/scrub/schema';
import { searchSchema } from '../../extensions/search/schema';
import { syncSchema } from '../../extensions/sync/schema';
import { block } from '../extensions/zot-schema';
import { zBool, zReqStr } from './zot-scalars';

const uiSchema = z.strictObject({ enable: zBool.default(true) });
const trustSchema = z.strictObject({ enable: zBool.default(true), cosign: zBool.default(false), notation: zBool.default(false) });
const legacySchema = z.strictObject({ enable: zBool.optional() }); // mgmt, apikey: accepted and ignored, as in Zot

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


/** The third-party extension blocks, in config order. */
export function thirdPartyExtensions(ext: ExtensionsConfig | undefined): Array<{ name: string; config: ThirdPartyExtensionConfig }> {
  if (!ext) return [];
  return Object.entries(ext)
    .filter(([name, value]) => !(BUILTIN_EXTENSIONS as readonly string[]).includes(name) && value !== undefined)
    .map(([name, value]) => ({ name, config: value as ThirdPartyExtensionConfig }));
}
