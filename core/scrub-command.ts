import { connect } from 'node:net';
import pino from 'pino';
import { createApp } from './app';
import type { BerthConfig } from './config/schema';
import { thirdPartyExtensions } from './config/extensions-schema';
import { REDACT_PATHS } from './log/logger';
import { runScrubPass } from '../extensions/scrub/scrub-pass';
import { formatScrubTable } from '../extensions/scrub/table';
import type { ScrubImageResult } from '../extensions/scrub/check';

// As Zot's `scrub` command: try the configured address first, and refuse while a server answers there.
const PROBE_TIMEOUT_MS = 3_000;

/**
 * `berth scrub <config>`: Zot's offline integrity check. Refuses (exit 1) while a server answers on the
 * configured address, then opens the storage with nothing in the background (no GC, no periodic sync, no
 * extensions but sync's on-demand sources and third-party modules, which may provide the storage driver),
 * re-hashes every image and prints Zot's table.
 * As Zot, the exit code is 0 once the table is printed, affected images or not; 1 when a repository could
 * not be scrubbed at all.
 */
export async function scrubCommand(config: BerthConfig): Promise<number> {
  const address = `${config.http.address}:${config.http.port}`;
  if (await serverAnswers(config)) {
    console.error(`berth scrub: a server is running on ${address}; stop it first: scrub reads the storage while nothing else writes it`);
    return 1;
  }
  // Warnings and affected images go to stderr; the table alone to stdout.
  const logger = pino({ level: 'warn', base: { app: 'berth' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, pino.destination({ fd: 2, sync: true }));
  let app;
  try {
    app = await createApp(offline(config), { logger });
  } catch (err) {
    console.error(`berth scrub: cannot open the storage: ${(err as Error).message}`);
    return 1;
  }
  try {
    const results: ScrubImageResult[] = [];
    const summary = await runScrubPass({ registry: app.registry, logger, concurrency: 1, onRepository: (rows) => results.push(...rows) });
    process.stdout.write(formatScrubTable(results));
    for (const { repo, error } of summary.failed) console.error(`berth scrub: failed to run scrub for ${repo}: ${error}`);
    return summary.failed.length > 0 ? 1 : 0;
  } finally {
    await app.close(0);
  }
}

/**
 * The config with nothing that would write in the background: GC off everywhere, Zot's extensions off but
 * sync's on-demand upstreams (scrub asks which repositories pull through, whose blobs may not be fetched
 * yet), without periodic sync or eviction.
 */
function offline(config: BerthConfig): BerthConfig {
  const storage = { ...config.storage, gc: false };
  if (storage.subPaths) storage.subPaths = Object.fromEntries(Object.entries(storage.subPaths).map(([route, s]) => [route, { ...s, gc: false }]));
  const extensions: Record<string, unknown> = Object.fromEntries(thirdPartyExtensions(config.extensions).map(({ name, config: slice }) => [name, slice]));
  const sync = config.extensions?.sync;
  if (sync?.enable) extensions.sync = { ...sync, registries: sync.registries.filter((r) => r.onDemand).map((r) => ({ ...r, pollInterval: 0, ttl: 0 })) };
  return { ...config, storage, extensions: extensions as BerthConfig['extensions'] };
}

/**
 * True when something accepts connections on the configured address. Zot sends a GET /v2 and counts any
 * response; a listener that takes the connection is enough here, whatever it speaks (TLS or not).
 */
function serverAnswers(config: BerthConfig): Promise<boolean> {
  const port = Number(config.http.port);
  if (!port) return Promise.resolve(false); // port 0: a server of this config could be anywhere
  const wildcard = ['', '0.0.0.0', '::', '[::]'].includes(config.http.address);
  const host = wildcard ? 'localhost' : config.http.address.replace(/^\[(.*)\]$/, '$1');
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: PROBE_TIMEOUT_MS });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}
