import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Extension } from './api';
import { ExtensionError } from './host';

/**
 * Loads the third-party extension named by `extensions.<name>.module`: a path (relative to the config file's
 * directory) or a package name, resolved from the config file's directory, then from the working directory.
 * CommonJS and ES modules both load: `require` first (Node ≥ 20.19 requires an ES module graph without
 * top-level await), `import()` for a graph with top-level await or a package that exports only for `import`.
 * The extension is the module's default export, or the module itself (`module.exports = defineExtension(…)`).
 */
export async function loadExtensionModule(specifier: string, configFile: string | undefined, name: string): Promise<Extension<unknown>> {
  const base = configFile ? dirname(resolve(configFile)) : process.cwd();
  const fail = (why: string) => new ExtensionError(name, `cannot load module "${specifier}" (extensions.${name}.module): ${why}`);
  let file: string;
  let importOnly = false;
  try {
    if (isPath(specifier)) {
      file = require.resolve(resolve(base, specifier));
    } else {
      try {
        file = require.resolve(specifier, { paths: [base, process.cwd()] });
      } catch (err) {
        if (code(err) !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw err;
        file = resolveForImport(specifier, [base, process.cwd()]);
        importOnly = true;
      }
    }
  } catch (err) {
    const where = isPath(specifier) ? resolve(base, specifier) : `${base}${base === process.cwd() ? '' : ` or ${process.cwd()}`}`;
    throw fail(code(err) === 'MODULE_NOT_FOUND' ? `nothing to load at ${where} (install the package there, or give a path)` : firstLine(err));
  }
  let loaded: unknown;
  try {
    loaded = importOnly ? await importFile(file) : await requireOrImport(file);
  } catch (err) {
    throw fail(`${file}: ${firstLine(err)}`);
  }
  const exported = loaded as { default?: unknown } | undefined;
  return (exported?.default ?? exported) as Extension<unknown>;
}

const isPath = (specifier: string) => specifier.startsWith('.') || isAbsolute(specifier);

async function requireOrImport(file: string): Promise<unknown> {
  try {
    return require(file) as unknown;
  } catch (err) {
    // An ES module graph with top-level await cannot be required; import() loads it.
    if (code(err) === 'ERR_REQUIRE_ASYNC_MODULE' || code(err) === 'ERR_REQUIRE_ESM') return importFile(file);
    throw err;
  }
}

const importFile = (file: string): Promise<unknown> => import(pathToFileURL(file).href);

/**
 * The file a package exports for `import` (`exports` with only an `import` condition, which `require.resolve`
 * refuses): the package found as `node_modules/<name>` upwards from each directory, its `exports` entry for the
 * subpath read with the conditions `import`, `node`, `default`. Subpath patterns (`./*`) are not supported.
 */
function resolveForImport(specifier: string, dirs: string[]): string {
  const parts = specifier.split('/');
  const pkgName = parts.slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
  const subpath = ['.', ...parts.slice(specifier.startsWith('@') ? 2 : 1)].join('/');
  for (const start of dirs) {
    for (let dir = start; ; dir = dirname(dir)) {
      const pkgDir = join(dir, 'node_modules', pkgName);
      if (existsSync(join(pkgDir, 'package.json'))) {
        const { exports } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { exports?: unknown };
        const target = conditional(exportEntry(exports, subpath));
        if (!target) throw new Error(`package ${pkgName} exports nothing at "${subpath}" for import or require`);
        return join(pkgDir, target);
      }
      if (dirname(dir) === dir) break;
    }
  }
  throw Object.assign(new Error(`cannot find package ${pkgName}`), { code: 'MODULE_NOT_FOUND' });
}

function exportEntry(exports: unknown, subpath: string): unknown {
  const bySubpath = typeof exports === 'object' && exports !== null && !Array.isArray(exports) && Object.keys(exports).some((k) => k.startsWith('.'));
  if (bySubpath) return (exports as Record<string, unknown>)[subpath];
  return subpath === '.' ? exports : undefined;
}

function conditional(entry: unknown): string | undefined {
  if (typeof entry === 'string') return entry;
  if (Array.isArray(entry)) return entry.map(conditional).find((t) => t !== undefined);
  if (typeof entry !== 'object' || entry === null) return undefined;
  for (const [condition, value] of Object.entries(entry)) {
    if (condition === 'import' || condition === 'node' || condition === 'default') {
      const target = conditional(value);
      if (target !== undefined) return target;
    }
  }
  return undefined;
}

const code = (err: unknown) => (err as { code?: string } | undefined)?.code;
const firstLine = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0];
