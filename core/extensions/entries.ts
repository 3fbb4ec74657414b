import { BUILTIN_MODULES } from '../builtins';
import { BUILTIN_EXTENSIONS } from '../config/extensions-schema';
import type { BerthConfig } from '../config/schema';
import type { Extension } from './api';
import type { ExtensionEntry } from './host';
import { loadExtensionModule } from './load-module';

// Zot's built-in extension keys; any other key under `extensions` is a third-party module (berth's `module`).
const ZOT_EXTENSIONS: ReadonlySet<string> = new Set(BUILTIN_EXTENSIONS);

/**
 * What serve loads: the built-ins (those with a Zot section only when it is present and enabled), each
 * `extensions.<name>.module`, and the extension objects an embedder passed; `berth verify` checks the same list.
 */
export async function extensionEntries(
  config: BerthConfig,
  opts: { configFile?: string; extensions?: Array<{ extension: Extension<unknown>; config?: unknown }> },
): Promise<ExtensionEntry[]> {
  const sections = (config.extensions ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const entries: ExtensionEntry[] = [];
  for (const { extension, configKey } of BUILTIN_MODULES) {
    if (!configKey) {
      entries.push({ extension, config: undefined, configPath: extension.name });
      continue;
    }
    const section = sections[configKey];
    // Zot: a present section without "enable" is on.
    if (section && section.enable !== false) entries.push({ extension, config: section, configPath: `extensions.${configKey}`, validated: true });
  }
  for (const [name, slice] of Object.entries(sections)) {
    if (ZOT_EXTENSIONS.has(name) || !slice || typeof slice.module !== 'string') continue;
    if (slice.enable === false) continue;
    const { module: specifier, enable: _enable, ...rest } = slice;
    const extension = await loadExtensionModule(specifier as string, opts.configFile, name);
    if (extension && extension.name !== name) {
      throw new Error(`extensions.${name}.module: the module's extension is named "${String(extension?.name)}", expected "${name}"`);
    }
    entries.push({ extension, config: rest, configPath: `extensions.${name}` });
  }
  for (const { extension, config: slice } of opts.extensions ?? []) {
    entries.push({ extension, config: slice, configPath: `extensions.${String(extension?.name)}` });
  }
  return entries;
}
