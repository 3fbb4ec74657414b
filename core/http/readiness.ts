/**
 * What `/readyz` reports beyond "started and not shutting down": whether every configured store's driver and
 * the MetaStore answer their `ping`. A load balancer polls this, often from many places at once, so one
 * answer is shared for CACHE_MS (concurrent probes wait on the same round of pings) and each ping is bounded
 * by PING_TIMEOUT_MS: a black-holed S3 endpoint makes the probe answer 503, not hang.
 */
import type { MetaStore } from '../metastore/meta-store';
import type { Stores } from '../registry/stores';

const CACHE_MS = 1500;
const PING_TIMEOUT_MS = 2000;

export interface ReadinessReport {
  ok: boolean;
  /** `ok`, or why a part is down (the error's message: drivers and stores never put credentials there). */
  checks: { storage: string; metastore: string };
}

export class Readiness {
  private last: { at: number; report: Promise<ReadinessReport> } | undefined;

  constructor(private readonly stores: Stores, private readonly metaStore: MetaStore) {}

  check(): Promise<ReadinessReport> {
    const now = Date.now();
    if (this.last && now - this.last.at < CACHE_MS) return this.last.report;
    const report = this.probe();
    this.last = { at: now, report };
    return report;
  }

  private async probe(): Promise<ReadinessReport> {
    const drivers = [...new Set(this.stores.all.map((s) => s.driver))];
    const [storage, metastore] = await Promise.all([
      Promise.all(drivers.map((d) => ping(d.name, d.ping?.bind(d)))).then((results) => results.find((r) => r !== 'ok') ?? 'ok'),
      ping(this.metaStore.kind, this.metaStore.ping?.bind(this.metaStore)),
    ]);
    return { ok: storage === 'ok' && metastore === 'ok', checks: { storage, metastore } };
  }
}

/** `ok`, or `<kind>: <reason>`; a part without a ping counts as up. */
async function ping(kind: string, run: (() => Promise<void>) | undefined): Promise<string> {
  if (!run) return 'ok';
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
  });
  try {
    await Promise.race([run(), timeout]);
    return 'ok';
  } catch (err) {
    return `${kind}: ${(err as Error).message ?? String(err)}`;
  } finally {
    clearTimeout(timer);
  }
}
