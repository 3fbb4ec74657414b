/**
 * Live reload of the config file (zot-reference §9): on a change to the file (also a rename over it) or on
 * demand (SIGHUP), the file is read and fully validated again; a config that fails is logged and the running
 * one stays. Each applier receives the new config and swaps in its reloadable sections itself; keys that only
 * a restart applies are named in a warning.
 */
import type { Logger } from 'pino';
import { ConfigError } from './config-error';
import { watchFile } from './file-watch';
import { loadConfigFile } from './load';
import { changesNeedingRestart } from './reload-scope';
import type { BerthConfig } from './schema';

/**
 * A staged change: `commit` puts it into effect (it must not fail for reasons `prepare` could have found),
 * `abort` drops what `prepare` built. Nothing of a staged change is visible before `commit`.
 */
export interface PreparedChange {
  commit(): Promise<void> | void;
  abort(): Promise<void> | void;
}

/** Builds everything a new config needs for one part of the app; rejects when it cannot (the old one stays). */
export type ConfigApplier = (config: BerthConfig) => Promise<PreparedChange>;

export interface ConfigReloader {
  /** Re-reads the file now; resolves true when the new config was applied (false once stopped). */
  reload(): Promise<boolean>;
  /** Stops watching; resolves once a reload under way has ended (one staged but not committed is aborted). */
  stop(): Promise<void>;
}

export interface WatchOptions {
  /** Further key paths applied in place (e.g. the sections of extensions that declare `reloadable`). */
  reloadable?: () => ReadonlyArray<readonly string[]>;
}

/**
 * Watches `file`. A reload is all or nothing: every applier prepares its part of the new config first, and
 * only when all succeeded are the changes committed, together; one failure aborts them all.
 */
export function watchConfigFile(file: string, initial: BerthConfig, appliers: ConfigApplier[], logger: Logger, opts: WatchOptions = {}): ConfigReloader {
  let running = initial;
  let queue: Promise<boolean> = Promise.resolve(true);
  let closed = false;
  const reloadOnce = async (): Promise<boolean> => {
    let next: BerthConfig;
    try {
      next = await loadConfigFile(file);
    } catch (err) {
      const issues = err instanceof ConfigError ? err.issues : [(err as Error).message];
      logger.error({ file, issues }, 'failed to reload config: keeping the running config');
      return false;
    }
    const restart = changesNeedingRestart(running, next, opts.reloadable?.() ?? []);
    const prepared: PreparedChange[] = [];
    try {
      for (const prepare of appliers) prepared.push(await prepare(next));
    } catch (err) {
      await abortAll(prepared);
      logger.error({ file, reason: (err as Error).message }, 'failed to apply reloaded config: keeping the running config');
      return false;
    }
    if (closed) {
      await abortAll(prepared); // the app is shutting down: nothing staged may come to life after it
      return false;
    }
    for (const change of prepared) {
      // A commit does not fail for reasons prepare could find; should one throw, the others still go ahead.
      await Promise.resolve(change.commit()).catch((err: unknown) => logger.error({ file, err }, 'failed to commit part of a reloaded config'));
    }
    running = next;
    if (restart.length > 0) logger.warn({ file, keys: restart }, 'config reloaded; these keys take effect after a restart');
    else logger.info({ file }, 'config reloaded');
    return true;
  };
  const reload = () => {
    if (closed) return Promise.resolve(false);
    queue = queue.then(reloadOnce, reloadOnce);
    return queue;
  };
  const stopWatching = watchFile(file, () => void reload());
  return {
    reload,
    async stop() {
      closed = true;
      stopWatching();
      await queue.catch(() => undefined);
    },
  };
}

async function abortAll(prepared: PreparedChange[]): Promise<void> {
  for (const change of [...prepared].reverse()) await Promise.resolve(change.abort()).catch(() => undefined);
}
