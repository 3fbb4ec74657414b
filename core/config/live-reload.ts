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

export type ConfigApplier = (config: BerthConfig) => Promise<void>;

export interface ConfigReloader {
  /** Re-reads the file now; resolves true when the new config was applied. */
  reload(): Promise<boolean>;
  stop(): void;
}

export function watchConfigFile(file: string, initial: BerthConfig, appliers: ConfigApplier[], logger: Logger): ConfigReloader {
  let running = initial;
  let queue: Promise<boolean> = Promise.resolve(true);
  const reloadOnce = async (): Promise<boolean> => {
    let next: BerthConfig;
    try {
      next = await loadConfigFile(file);
    } catch (err) {
      const issues = err instanceof ConfigError ? err.issues : [(err as Error).message];
      logger.error({ file, issues }, 'failed to reload config: keeping the running config');
      return false;
    }
    const restart = changesNeedingRestart(running, next);
    try {
      for (const apply of appliers) await apply(next);
    } catch (err) {
      logger.error({ file, reason: (err as Error).message }, 'failed to apply reloaded config: keeping the running config');
      return false;
    }
    running = next;
    if (restart.length > 0) logger.warn({ file, keys: restart }, 'config reloaded; these keys take effect after a restart');
    else logger.info({ file }, 'config reloaded');
    return true;
  };
  const reload = () => {
    queue = queue.then(reloadOnce, reloadOnce);
    return queue;
  };
  const stopWatching = watchFile(file, () => void reload());
  return { reload, stop: stopWatching };
}
