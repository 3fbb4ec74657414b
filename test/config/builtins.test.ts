import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Registry as PromRegistry } from 'prom-client';
import { BUILT_FEATURES, BUILT_META_STORES, BUILT_STORAGE_DRIVERS, BUILTIN_MODULES } from '../../core/builtins';
import { FEATURE_IDS } from '../../core/config/unbuilt-features';
import { EventBus } from '../../core/extensions/events';
import { ExtensionHost } from '../../core/extensions/host';
import { ContentSources } from '../../core/registry/content-sources';

describe('what this build runs', () => {
  it('BUILT_STORAGE_DRIVERS and BUILT_META_STORES are exactly the kinds the built-in modules register (verify relies on it)', async () => {
    const logger = pino({ level: 'silent' });
    const host = new ExtensionHost(logger, new PromRegistry(), new EventBus(logger), new ContentSources());
    await host.load(BUILTIN_MODULES.filter((m) => !m.configKey).map((m) => ({ extension: m.extension, config: undefined, configPath: m.extension.name })));
    assert.deepEqual(new Set(host.storageDrivers.keys()), BUILT_STORAGE_DRIVERS);
    assert.deepEqual(new Set(host.metaStores.keys()), BUILT_META_STORES);
    await host.close();
  });

  it('every BUILT_FEATURES id is a feature the config layer knows', () => {
    for (const id of BUILT_FEATURES) assert.ok((FEATURE_IDS as string[]).includes(id), id);
  });
});
