import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { recordStart } from '../registry/access-times';
import { renameDurably } from '../storage/atomic-file';
import type { ApiKeyRecord, MetaStore } from './meta-store';

/** The records earlier berth versions kept as files under `<root>/_berth/`, before the MetaStore held them. */
export const LEGACY_API_KEYS = join('_berth', 'apikeys.json');
export const LEGACY_ACCESS_TIMES = join('_berth', 'access-times.json');
export const MIGRATED_SUFFIX = '.migrated';

/**
 * Imports `_berth/apikeys.json` and `_berth/access-times.json` into the MetaStore on the first start after
 * an upgrade, then renames each to `<name>.migrated` (kept, never deleted, never read again). Importing is
 * idempotent (keys are put by uuid, times never move back, the record's start only moves earlier), so a
 * crash between the import and the rename, or two berth starting at once, import again to the same result.
 * Upload sessions of the old layout (`<repo>/.uploads/<id>.json`) are not imported: finding them means
 * walking every repository, and a client whose upload spanned the upgrade starts its push again.
 */
export async function importLegacyFiles(rootDirectory: string, meta: MetaStore, logger: Logger): Promise<void> {
  if (rootDirectory === '') return;
  const log = logger.child({ component: 'migration' });
  await migrate(join(rootDirectory, LEGACY_API_KEYS), log, async (raw) => {
    const keys = parseApiKeys(raw);
    for (const k of keys) await meta.apiKeys.put(k);
    log.info({ file: LEGACY_API_KEYS, keys: keys.length }, 'imported api keys into the metadata store');
  }, 'strict');
  await migrate(join(rootDirectory, LEGACY_ACCESS_TIMES), log, async (raw) => {
    const times = parseAccessTimes(raw);
    // One atomic step per kind: the file's times all arrive or none do.
    await meta.accessTimes.record('pulled', times.pulled);
    await meta.accessTimes.record('pushed', times.pushed);
    if (times.since !== undefined) await recordStart(meta, times.since);
    log.info({ file: LEGACY_ACCESS_TIMES, pulled: times.pulled.length, pushed: times.pushed.length }, 'imported access times into the metadata store');
  }, 'lenient');
}

/**
 * A file that cannot be read as its old writer wrote it: API keys stop start-up naming the file (serving
 * without them would lock their users out unannounced); access times are skipped with a warning and the file
 * is left in place, as the old reader started afresh from a bad file too.
 */
async function migrate(file: string, log: Logger, load: (raw: string) => Promise<void>, onBadFile: 'strict' | 'lenient'): Promise<void> {
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // none, or migrated already
    throw err;
  }
  try {
    await load(raw);
  } catch (err) {
    if (onBadFile === 'strict' || !(err instanceof LegacyFileError)) throw new Error(`${file}: cannot import into the metadata store: ${(err as Error).message}`);
    log.warn({ file, reason: err.message }, 'failed to import a legacy record; left in place');
    return;
  }
  await renameDurably(file, file + MIGRATED_SUFFIX).catch((err: unknown) => {
    // Another berth starting at once imported the same file and renamed it first.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  });
}

class LegacyFileError extends Error {}

/** `{"keys": [ApiKeyRecord…]}`, as auth-providers/apikey wrote it (its records already are MetaStore records). */
function parseApiKeys(raw: string): ApiKeyRecord[] {
  const parsed = parseJson(raw) as { keys?: unknown };
  if (!Array.isArray(parsed?.keys)) throw new LegacyFileError('no "keys" array');
  return parsed.keys.map((k: Partial<ApiKeyRecord>, i) => {
    const text = (v: unknown) => typeof v === 'string';
    if (!k || !text(k.uuid) || !text(k.user) || !text(k.hash) || !text(k.createdAt)) throw new LegacyFileError(`keys[${i}] lacks uuid, user, hash or createdAt`);
    return {
      uuid: k.uuid!, user: k.user!, hash: k.hash!, createdAt: k.createdAt!,
      groups: Array.isArray(k.groups) ? k.groups.map(String) : [],
      label: String(k.label ?? ''),
      scopes: Array.isArray(k.scopes) ? k.scopes.map(String) : [],
      expirationDate: typeof k.expirationDate === 'string' ? k.expirationDate : null,
      creatorUa: String(k.creatorUa ?? ''),
      ...(typeof k.lastUsed === 'string' ? { lastUsed: k.lastUsed } : {}),
    };
  });
}

/** `{"since": ms, "pulled": {digest: ms}, "pushed": {"<repo>@<digest>": ms}}`, as retention.ts wrote it. */
function parseAccessTimes(raw: string): { since?: number; pulled: Array<{ subject: string; at: number }>; pushed: Array<{ subject: string; at: number }> } {
  const parsed = parseJson(raw) as { since?: unknown; pulled?: unknown; pushed?: unknown };
  const entries = (name: 'pulled' | 'pushed') => {
    const map = parsed?.[name] ?? {};
    if (typeof map !== 'object' || Array.isArray(map)) throw new LegacyFileError(`"${name}" is not an object`);
    return Object.entries(map as Record<string, unknown>)
      .filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]))
      .map(([subject, at]) => ({ subject, at }));
  };
  const since = typeof parsed?.since === 'number' && Number.isFinite(parsed.since) ? parsed.since : undefined;
  return { since, pulled: entries('pulled'), pushed: entries('pushed') };
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new LegacyFileError(`not JSON (${(err as Error).message})`);
  }
}
