import type { Extension } from './extensions/api';
import filesystemDriver from '../storage-drivers/filesystem';

/** Built-in modules, loaded through the same extension API third parties use. */
export const BUILTIN_EXTENSIONS: Extension<unknown>[] = [filesystemDriver as Extension<unknown>];

/** Config features that are built (see core/config/unbuilt-features.ts for the ids). */
export const BUILT_FEATURES: ReadonlySet<string> = new Set<string>([]);
