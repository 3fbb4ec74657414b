import type { Logger, RegistryFacade } from '../../core/extensions/api';
import { RepositoryScrub, ScrubAborted, type ScrubImageResult } from './check';
import type { ScrubMetrics } from './scrub-metrics';

/** A progress line this often during a long pass, as GC logs. */
const PROGRESS_MS = 10_000;
/** Repositories scrubbed at once: scrub yields to the data path, so few; each streams one blob at a time. */
export const SCRUB_CONCURRENCY = 2;

export interface ScrubPassSummary {
  repositories: number;
  ok: number;
  /** Every image found affected, in the order found. */
  affected: ScrubImageResult[];
  /** Repositories that could not be scrubbed at all (their index unreadable), with why. */
  failed: Array<{ repo: string; error: string }>;
  hashedBytes: number;
  ms: number;
  /** True when the signal stopped the pass before every repository was done. */
  stopped: boolean;
}

export interface ScrubPassOptions {
  registry: RegistryFacade;
  logger: Logger;
  signal?: AbortSignal;
  metrics?: ScrubMetrics;
  concurrency?: number;
  /** Each repository's rows once it is done (the CLI prints them all). */
  onRepository?: (results: ScrubImageResult[]) => void;
}

/**
 * One scrub of every repository, logged as Zot logs it (`blobs/manifest ok` per image, `blobs/manifest
 * affected` with the affected blob and error), with a progress line every 10 s and the metrics kept current.
 */
export async function runScrubPass(o: ScrubPassOptions): Promise<ScrubPassSummary> {
  const { registry, logger, signal, metrics } = o;
  const started = Date.now();
  const repos = await registry.listRepositories();
  const summary: ScrubPassSummary = { repositories: repos.length, ok: 0, affected: [], failed: [], hashedBytes: 0, ms: 0, stopped: false };
  metrics?.started(repos.length);
  logger.info({ component: 'scrub', repositories: repos.length }, 'scrub: pass started');
  let done = 0;
  let progressAt = started + PROGRESS_MS;
  const scrubOne = async (repo: string) => {
    const scrub = new RepositoryScrub(registry, repo, signal);
    let results: ScrubImageResult[];
    try {
      results = await scrub.run();
    } catch (err) {
      if (err instanceof ScrubAborted || signal?.aborted) return;
      summary.failed.push({ repo, error: (err as Error).message });
      logger.error({ component: 'scrub', repo, err }, `failed to run scrub for ${repo}`);
      return;
    } finally {
      summary.hashedBytes += scrub.hashed;
    }
    for (const r of results) {
      if (r.status === 'ok') {
        summary.ok++;
        logger.info({ image: r.imageName, tag: r.tag, status: r.status, component: 'scrub' }, 'blobs/manifest ok');
      } else {
        summary.affected.push(r);
        logger.warn({ image: r.imageName, tag: r.tag, status: r.status, 'affected blob': r.affectedBlob, error: r.error, component: 'scrub' }, 'blobs/manifest affected');
      }
    }
    done++;
    metrics?.repositoryDone(results, scrub.hashed);
    o.onRepository?.(results);
    if (Date.now() >= progressAt) {
      progressAt = Date.now() + PROGRESS_MS;
      logger.info({ component: 'scrub', done, repositories: repos.length, ok: summary.ok, affected: summary.affected.length, at: repo }, 'scrub: in progress');
    }
  };
  const queue = [...repos];
  const worker = async () => {
    for (let repo = queue.shift(); repo !== undefined && !signal?.aborted; repo = queue.shift()) await scrubOne(repo);
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? SCRUB_CONCURRENCY) }, worker));
  summary.ms = Date.now() - started;
  summary.stopped = Boolean(signal?.aborted) && done + summary.failed.length < repos.length;
  return summary;
}
