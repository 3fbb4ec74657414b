import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { StorageDriver } from '../storage/driver';

/**
 * Pull-through spools, one directory per fill under the default root: `_berth/spool/<uuid>/data`, on the
 * local driver (Stores.spool). Not Zot's `<repo>/.sync/`: that sits in the repository's own store, which may be
 * an object store that cannot serve a growing file, or another disk that a move cannot reach. A directory per
 * fill lets the fill (or the sweep) remove the bytes and whatever the driver keeps beside them in one delete.
 */
export const SPOOL_ROOT = '_berth/spool';

/** A spool untouched this long belongs to a fill that died with its process (a live fill writes all along). */
export const SPOOL_STALE_MS = 60 * 60_000;
const SWEEP_EVERY_MS = 10 * 60_000;

export function newSpool(): { dir: string; path: string } {
  const dir = `${SPOOL_ROOT}/${randomUUID()}`;
  return { dir, path: `${dir}/data` };
}

/**
 * Removes spools nothing has written for `staleMs`: what a process killed mid-fill left. Judged by age, never
 * by owner, since another berth on the root may be filling; removing a spool a copy still reads is harmless on
 * a local disk (an open file stays readable), and followers then wait for the committed copy.
 */
export async function sweepSpools(driver: StorageDriver, now: number, staleMs = SPOOL_STALE_MS): Promise<{ removed: number; bytes: number }> {
  let removed = 0;
  let bytes = 0;
  for (const name of await driver.list(SPOOL_ROOT)) {
    const dir = `${SPOOL_ROOT}/${name}`;
    const top = await driver.stat(dir);
    if (!top) continue;
    let newest = top.modified.getTime();
    let size = top.isDir ? 0 : top.size;
    if (top.isDir) {
      await driver.walk(dir, (info) => {
        newest = Math.max(newest, info.modified.getTime());
        if (!info.isDir) size += info.size;
      });
    }
    if (now - newest < staleMs) continue;
    await driver.delete(dir);
    removed++;
    bytes += size;
  }
  return { removed, bytes };
}

/** Sweeps at start-up, in the background, and every ten minutes after. */
export function startSpoolSweep(driver: StorageDriver, logger: Logger): { close(): Promise<void> } {
  let running: Promise<void> | undefined;
  const sweep = () => {
    running ??= sweepSpools(driver, Date.now())
      .then(({ removed, bytes }) => {
        if (removed > 0) logger.info({ removed, bytes }, 'removed pull-through spools left by a stopped fill');
      })
      .catch((err: unknown) => logger.warn({ err }, 'failed to sweep pull-through spools'))
      .finally(() => (running = undefined));
  };
  sweep();
  const timer = setInterval(sweep, SWEEP_EVERY_MS).unref();
  return {
    async close() {
      clearInterval(timer);
      await running;
    },
  };
}
