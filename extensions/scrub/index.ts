import { defineExtension } from '../../core/extensions/api';
import { scrubSchema, type ScrubConfig } from './schema';
import { runScrubPass, type ScrubPassSummary } from './scrub-pass';
import type { ScrubImageResult } from './check';
import { ScrubMetrics } from './scrub-metrics';

// The first pass starts soon after start-up, as Zot's scheduler runs the scrub generator once it is submitted;
// a moment later than at once, so start-up's own walks go first.
const FIRST_PASS_DELAY_MS = 5_000;

/**
 * Zot's `extensions.scrub`: every `interval`, every manifest, config and layer reachable from each
 * repository's index is re-hashed (streamed, two repositories at a time) and each image reported `ok` or
 * `affected` with the first wrong blob, in logs and metrics. Nothing is repaired, as in Zot. One berth on a
 * MetaStore runs a pass at a time (global schedule). `berth scrub <config>` runs the same check offline.
 */
export default defineExtension<ScrubConfig>({
  name: 'scrub',
  apiVersion: 1,
  reloadable: true, // Zot reloads extensions.scrub
  configSchema: scrubSchema,
  register(ctx) {
    const metrics = new ScrubMetrics(ctx.metrics);
    const logger = ctx.logger;
    /** Reports a finished pass: its summary line and metrics (and, with extension events, `scrub.result`). */
    const report = (summary: ScrubPassSummary) => {
      const line = { component: 'scrub', repositories: summary.repositories, ok: summary.ok, affected: summary.affected.length, failed: summary.failed.length, hashedBytes: summary.hashedBytes, ms: summary.ms };
      if (summary.stopped) {
        metrics.ended('stopped');
        logger.info(line, 'scrub: pass stopped before its end');
        return;
      }
      metrics.completed(summary.affected);
      if (summary.affected.length > 0 || summary.failed.length > 0) logger.warn(line, 'scrub: pass completed, content affected');
      else logger.info(line, 'scrub: pass completed');
    };
    const task = async (signal: AbortSignal) => {
      try {
        // Each image's result as a scrub.result event (the events extension sends them as image.scrubbed).
        const onRepository = (rows: ScrubImageResult[]) => {
          for (const r of rows) ctx.events.emit('scrub.result', { repo: r.imageName, digest: r.digest, reference: r.tag || undefined, status: r.status, blob: r.affectedDigest });
        };
        report(await runScrubPass({ registry: ctx.registry, logger, signal, metrics, onRepository }));
      } catch (err) {
        metrics.ended('failed');
        throw err;
      }
    };
    // Global: one berth on the MetaStore scrubs (the shared storage) once per interval, not every replica.
    ctx.schedule(ctx.config.interval, task, { id: 'scrub', scope: 'global', initialDelay: FIRST_PASS_DELAY_MS });
  },
});
