import type { Extension } from './extensions/api';
import filesystemDriver from '../storage-drivers/filesystem';

/**
 * A built-in module, loaded through the same extension API third parties use. `configKey` names its Zot
 * section under `extensions` (e.g. 'sync'): it is loaded only when that section is present and enabled,
 * and receives the section (already validated by the Zot schema) as its config.
 */
export interface BuiltinModule {
  extension: Extension<unknown>;
  configKey?: string;
}

export const BUILTIN_MODULES: BuiltinModule[] = [{ extension: filesystemDriver as Extension<unknown> }];

/** Config features that are built (ids from core/config/unbuilt-features.ts); the rest warn at start-up. */
export const BUILT_FEATURES: ReadonlySet<string> = new Set<string>([]);
