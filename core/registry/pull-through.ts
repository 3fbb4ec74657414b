import { Readable, type Writable } from 'node:stream';
import { inject, injectable } from 'tsyringe';
import type { Logger } from 'pino';
import type { Registry as PromRegistry } from 'prom-client';
import type { ContentSource, StoredManifest } from '../extensions/api';
import type { EventBus } from '../extensions/events';
import { TOKENS } from '../di/tokens';
import { BlobFill, skipBytes } from './blob-fill';
import { BlobStore } from './blob-store';
import { BoundedCache } from './bounded-cache';
import { ContentSources } from './content-sources';
import { digestOf, isDigest, parseDigest, type ParsedDigest } from './digest';
import { BlobUnknown, ManifestUnknown, RegistryError, upstreamUnreachable } from './errors';
import { layout } from './layout';
import { ManifestStore } from './manifest-store';
import { createPullThroughMetrics, type PullKind, type PullResult, type PullThroughMetrics } from './pull-through-metrics';
import { RepoStore } from './repo-store';
import { newSpool } from './spool';
import type { Stores } from './stores';

export interface BlobHandle {
  size?: number;
  /** Opens the bytes (a range of them when given). */
  open(range?: { start: number; end: number }): Promise<Readable>;
  /** For local blobs on a driver that has it: writes straight into `dest` with reused buffers. */
  sendTo?(dest: Writable, range?: { start: number; end: number }): Promise<number>;
}

/**
 * Concurrent callers of the same key share one piece of work and its outcome. The key is released when
 * `until(value)` settles (default: when the work does), so a blob fill is joinable for its whole life.
 */
export class SingleFlight<K, V> {
  readonly #flights = new Map<K, Promise<V>>();

  /** The flight under way for `key`, if any (joined without starting one). */
  current(key: K): Promise<V> | undefined {
    return this.#flights.get(key);
  }

  run(key: K, work: () => Promise<V>, until?: (value: V) => Promise<unknown>): Promise<V> {
    const running = this.#flights.get(key);
    if (running) return running;
    const release = () => {
      if (this.#flights.get(key) === p) this.#flights.delete(key);
    };
    const p = work();
    this.#flights.set(key, p);
    p.then((v) => (until ? until(v) : undefined)).then(release, release);
    return p;
  }
}

// While a source is known down, cached tags are served without asking it; it is retried after this long.
const DOWN_RETRY_MS = 15_000;

/** An upstream outage: told once when it starts, once if cached content is served, once when it ends. */
interface Outage {
  until: number;
  cause: string;
  servedCached: boolean;
}

/** What asking the sources found: the first answer, or why there was none. */
type Asked<T> = { source: ContentSource; value: T } | { unreachable?: ContentSource };

/**
 * Pull-through on a local miss (design.md, "The data path"): one upstream flight per (repository, digest)
 * or tag, blobs streamed to every client while a verified copy is kept, tags revalidated with one HEAD at
 * most once per the source's interval, and the cache served while an upstream is down.
 */
@injectable()
export class PullThrough {
  readonly #blobs = new SingleFlight<string, BlobHandle & { settled: Promise<void> }>();
  readonly #manifests = new SingleFlight<string, StoredManifest>();
  readonly #tagChecks = new SingleFlight<string, string | undefined>();
  readonly #checkedAt = new BoundedCache<string, number>(100_000, () => 1);
  readonly #outages = new Map<string, Outage>();
  readonly #metrics: PullThroughMetrics;

  constructor(
    @inject(TOKENS.Stores) private readonly stores: Stores,
    @inject(TOKENS.RepoStore) private readonly repos: RepoStore,
    @inject(TOKENS.BlobStore) private readonly blobs: BlobStore,
    @inject(TOKENS.ManifestStore) private readonly manifests: ManifestStore,
    @inject(TOKENS.ContentSources) private readonly sources: ContentSources,
    @inject(TOKENS.Events) private readonly events: EventBus,
    @inject(TOKENS.Logger) private readonly logger: Logger,
    @inject(TOKENS.Metrics) metrics: PromRegistry,
  ) {
    this.#metrics = createPullThroughMetrics(metrics);
  }

  /** Whether a content source serves `repo` as clients name it (its content is fetched when first pulled). */
  hasSources(repo: string): boolean {
    return this.sources.for(repo, undefined).length > 0;
  }

  /** The local repository a request's content is stored under (a mirror may prefix `?ns=` requests). */
  localRepository(repo: string, ns: string | undefined): string {
    return this.sources.route(repo, ns).localRepo;
  }

  async manifest(repo: string, reference: string, accept: string[], ns: string | undefined): Promise<StoredManifest> {
    const { localRepo, sources } = this.sources.route(repo, ns);
    const local = await this.manifests.get(localRepo, reference);
    if (local && sources.length === 0) return local;
    // A digest names immutable content: when it is here, the upstream is never asked.
    if (local && isDigest(reference)) return this.#counted(sources[0], 'manifest', 'hit', local);
    const fetch = (from: ContentSource[]) => {
      const key = `${localRepo}@${reference}`;
      if (this.#manifests.current(key)) this.#count(from[0], 'manifest', 'join');
      return this.#manifests.run(key, async () => {
        const again = local ? undefined : await this.manifests.get(localRepo, reference); // a flight just ended
        if (again) return this.#counted(from[0], 'manifest', 'hit', again);
        this.#count(from[0], 'manifest', 'miss');
        return this.fetchManifest(localRepo, repo, reference, accept, ns, from);
      });
    };
    if (!local) return fetch(sources);
    const source = sources.find((s) => s.manifestDigest);
    if (!source) return this.#counted(sources[0], 'manifest', 'hit', local);
    const upstreamDigest = await this.checkTag(source, localRepo, repo, reference, accept, ns);
    if (upstreamDigest === undefined || upstreamDigest === local.digest) {
      if (this.#outages.has(source.name)) this.servedCached(source);
      return this.#counted(source, 'manifest', 'hit', local);
    }
    return fetch([source]).catch((err: unknown) => {
      this.logger.warn({ upstream: upstreamOf(source), repo: localRepo, reference, cause: causeOf(err) }, 'failed to refresh tag, serving cached manifest');
      return local;
    });
  }

  /** The digest the tag has upstream, or undefined to keep the cached one (fresh, down, or unknown there). */
  private async checkTag(source: ContentSource, localRepo: string, repo: string, tag: string, accept: string[], ns: string | undefined): Promise<string | undefined> {
    const key = tagCheckKey(source, localRepo, tag);
    const last = this.#checkedAt.get(key);
    if (last !== undefined && Date.now() - last < (source.tagCheckInterval ?? 0)) return undefined;
    if ((this.#outages.get(source.name)?.until ?? 0) > Date.now()) return undefined;
    return this.#tagChecks.run(key, () => source.manifestDigest!(repo, tag, accept, ns)).then(
      (digest) => {
        this.#checkedAt.set(key, Date.now());
        this.markUp(source);
        return digest;
      },
      (err: unknown) => {
        this.markDown(source, err);
        return undefined;
      },
    );
  }

  private async fetchManifest(localRepo: string, repo: string, reference: string, accept: string[], ns: string | undefined, sources: ContentSource[]): Promise<StoredManifest> {
    const found = await this.ask(sources, async (source) => {
      const upstream = await source.manifest(repo, reference, accept, ns);
      if (!upstream) return undefined;
      this.#metrics.upstreamBytes.inc({ upstream: upstreamOf(source) }, upstream.bytes.length);
      const digest = digestOf(upstream.bytes, isDigest(reference) ? parseDigest(reference).algorithm : 'sha256');
      if (digest !== upstream.digest || (isDigest(reference) && digest !== reference)) {
        this.#metrics.errors.inc({ upstream: upstreamOf(source), kind: 'invalid' });
        this.logger.warn({ source: source.name, repo, reference, digest }, 'failed to verify manifest from content source');
        return undefined;
      }
      return { ...upstream, digest };
    });
    if (!('value' in found)) throw this.missing(found, ManifestUnknown({ name: repo, reference }), { name: repo, reference });
    const { source, value: upstream } = found;
    // A validator reading the config gets it through the same fill a client's pull would start (and keeps it).
    const openMissing = (digest: ParsedDigest) => this.#blob(repo, digest, ns).then((h) => h.open(), () => undefined);
    await this.manifests.put(localRepo, reference, upstream.mediaType, upstream.bytes, { writer: 'pull-through', trusted: true, openMissing }).catch((err: unknown) => {
      // An extension's validator (lint) refused it: the client gets that error, the operator this line.
      if (err instanceof RegistryError) this.logger.warn({ upstream: upstreamOf(source), repo: localRepo, reference, code: err.code, detail: err.detail }, 'refused to cache manifest from content source');
      throw err;
    });
    if (!isDigest(reference)) this.#checkedAt.set(tagCheckKey(source, localRepo, reference), Date.now());
    return { digest: upstream.digest, mediaType: upstream.mediaType, bytes: upstream.bytes };
  }

  /**
   * A blob's size for a HEAD: local, else from a fill under way, else from one upstream HEAD per source. Never
   * downloads or stores the blob (a client's HEAD is a question, not a pull).
   */
  async blobSize(repo: string, digest: ParsedDigest, ns: string | undefined): Promise<number | undefined> {
    const { localRepo, sources } = this.sources.route(repo, ns);
    const local = await this.blobs.size(localRepo, digest);
    if (local !== undefined) return local;
    const filling = this.#blobs.current(`${localRepo}@${digest.digest}`);
    if (filling) return (await filling).size;
    const found = await this.ask(sources, async (source) => {
      if (source.blobSize) return source.blobSize(repo, digest.digest, ns);
      // A source without a HEAD: its response headers say the size; the body is never read.
      const upstream = await source.blob(repo, digest.digest, ns);
      upstream?.stream.destroy();
      return upstream && { size: upstream.size };
    });
    if (!('value' in found)) throw this.missing(found, BlobUnknown({ digest: digest.digest }), { digest: digest.digest });
    return typeof found.value === 'number' ? found.value : found.value.size;
  }

  async blob(repo: string, digest: ParsedDigest, ns: string | undefined): Promise<BlobHandle> {
    return this.#blob(repo, digest, ns);
  }

  /**
   * Stores a blob a content source has into `repo`, for a push whose manifest references it: a client that
   * was told by a HEAD (answered from upstream) that berth has the blob does not upload it. True when the
   * blob is now held in `repo`.
   */
  async fillForPush(repo: string, digest: ParsedDigest): Promise<boolean> {
    const { localRepo, sources } = this.sources.route(repo, undefined);
    if (localRepo !== repo || sources.length === 0) return false;
    try {
      await (await this.#blob(repo, digest, undefined)).settled;
    } catch {
      return false; // not upstream either: the push fails with MANIFEST_BLOB_UNKNOWN as it would have
    }
    return (await this.blobs.size(repo, digest)) !== undefined;
  }

  async #blob(repo: string, digest: ParsedDigest, ns: string | undefined): Promise<BlobHandle & { settled: Promise<void> }> {
    const { localRepo, sources } = this.sources.route(repo, ns);
    const local = await this.localBlob(localRepo, digest);
    if (local && sources.length > 0) return this.#refillIfGone(this.#counted(sources[0], 'blob', 'hit', local), () => this.#blob(repo, digest, ns));
    if (local || sources.length === 0) return local ?? Promise.reject(BlobUnknown({ digest: digest.digest }));
    const key = `${localRepo}@${digest.digest}`;
    const joining = this.#blobs.current(key);
    if (joining) return joining.then((handle) => this.#counted(sources[0], 'blob', 'join', handle));
    return this.#blobs.run(
      key,
      async () => {
        const again = await this.localBlob(localRepo, digest);
        if (again) return this.#counted(sources[0], 'blob', 'hit', again);
        this.#count(sources[0], 'blob', 'miss');
        return this.startFill(localRepo, repo, digest, ns, sources);
      },
      (handle) => handle.settled,
    );
  }

  /**
   * A cached blob can go between the stat and the read (GC collects one no manifest references): then it is
   * fetched again, as a miss would be. Missing paths reject before anything is written (StorageDriver).
   */
  #refillIfGone<H extends BlobHandle & { settled: Promise<void> }>(local: H, again: () => Promise<BlobHandle>): H {
    const gone = (err: unknown) => (err as { code?: unknown }).code === 'ENOENT';
    const retry = <T>(first: () => Promise<T>, then: (h: BlobHandle) => Promise<T>) => first().catch(async (err: unknown) => {
      if (!gone(err)) throw err;
      return then(await again());
    });
    return {
      ...local,
      open: (range?: { start: number; end: number }) => retry(() => local.open(range), (h) => h.open(range)),
      sendTo: local.sendTo && ((dest: Writable, range?: { start: number; end: number }) => retry(() => local.sendTo!(dest, range), (h) => (h.sendTo ? h.sendTo(dest, range) : pipeInto(h.open(range), dest)))),
    };
  }

  private async localBlob(repo: string, digest: ParsedDigest): Promise<(BlobHandle & { settled: Promise<void> }) | undefined> {
    const size = await this.blobs.size(repo, digest);
    if (size === undefined) return undefined;
    const sendTo = this.blobs.canSend(repo) ? (dest: Writable, range?: { start: number; end: number }) => this.blobs.sendTo(repo, digest, dest, range) : undefined;
    return { size, open: (range) => this.blobs.open(repo, digest, range), sendTo, settled: Promise.resolve() };
  }

  private async startFill(localRepo: string, repo: string, digest: ParsedDigest, ns: string | undefined, sources: ContentSource[]) {
    const found = await this.ask(sources, async (source) => {
      const upstream = await source.blob(repo, digest.digest, ns);
      if (upstream?.offset) {
        upstream.stream.destroy();
        return undefined; // a whole blob was asked for; a source answering with a range is broken
      }
      return upstream;
    });
    if (!('value' in found)) throw this.missing(found, BlobUnknown({ digest: digest.digest }), { digest: digest.digest });
    const { source, value: upstream } = found;
    const label = { upstream: upstreamOf(source) };
    this.#metrics.fillsInFlight.inc(label);
    try {
      await this.repos.ensure(localRepo);
    } catch (err) {
      this.#metrics.fillsInFlight.dec(label);
      upstream.stream.destroy();
      throw err;
    }
    const logger = this.logger.child({ source: source.name, repo: localRepo });
    const spool = newSpool();
    const fill = new BlobFill(digest, upstream.size, {
      spool: this.stores.spool,
      spoolPath: spool.path,
      discard: () => this.stores.spool.delete(spool.dir),
      storage: this.stores.driver(localRepo),
      finalPath: layout.blob(localRepo, digest),
      adopt: (path) => this.blobs.adopt(localRepo, digest, path, this.stores.spool),
      reopen: (start) => reopenAt(source, repo, digest.digest, ns, start),
      received: (n) => this.#metrics.upstreamBytes.inc(label, n),
      logger,
    }, upstream.stream);
    const settled = fill.settled.then(() => {
      this.#metrics.fillsInFlight.dec(label);
      if (fill.state === 'failed') this.#metrics.errors.inc({ ...label, kind: 'fill' });
      if (fill.state === 'committed') this.events.emit('blob.committed', { repo: localRepo, digest: digest.digest, size: upstream.size ?? 0 });
    });
    return { size: upstream.size, open: async (range?: { start: number; end: number }) => fill.open(range), settled };
  }

  /** Asks the sources in order until one answers; an unreachable one is marked down and the next is asked. */
  private async ask<T>(sources: ContentSource[], question: (source: ContentSource) => Promise<T | undefined>): Promise<Asked<T>> {
    let unreachable: ContentSource | undefined;
    for (const source of sources) {
      let value: T | undefined;
      try {
        value = await question(source);
        this.markUp(source);
      } catch (err) {
        this.markDown(source, err);
        unreachable ??= source;
        continue;
      }
      if (value !== undefined) return { source, value };
    }
    return { unreachable };
  }

  /** Not found anywhere: `notFound`, unless a source that might have it could not be asked (then 503). */
  private missing(asked: { unreachable?: ContentSource }, notFound: Error, detail: Record<string, unknown>): Error {
    if (!asked.unreachable) return notFound;
    return upstreamUnreachable(upstreamOf(asked.unreachable), detail, DOWN_RETRY_MS / 1000);
  }

  /** Counts a pull of content `source` (the first that matches) serves; undefined: no source, not pull-through. */
  #count(source: ContentSource | undefined, kind: PullKind, result: PullResult): void {
    if (source) this.#metrics.requests.inc({ upstream: upstreamOf(source), kind, result });
  }

  /** Counts a pull answered without a new upstream download; a blob's size counts as upstream bytes saved. */
  #counted<T>(source: ContentSource | undefined, kind: PullKind, result: PullResult, value: T): T {
    this.#count(source, kind, result);
    const size = kind === 'blob' ? (value as BlobHandle).size : undefined;
    if (source && size !== undefined) this.#metrics.savedBytes.inc({ upstream: upstreamOf(source) }, size);
    return value;
  }

  // One warning when an upstream goes down (host and cause, no stack), one line when it is back.
  private markDown(source: ContentSource, err: unknown): void {
    this.#metrics.up.set({ upstream: upstreamOf(source) }, 0);
    this.#metrics.errors.inc({ upstream: upstreamOf(source), kind: 'unreachable' });
    const outage = this.#outages.get(source.name);
    if (!outage) this.logger.warn({ upstream: upstreamOf(source), source: source.name, cause: causeOf(err) }, 'upstream unreachable');
    this.#outages.set(source.name, { until: Date.now() + DOWN_RETRY_MS, cause: causeOf(err), servedCached: outage?.servedCached ?? false });
  }

  private markUp(source: ContentSource): void {
    this.#metrics.up.set({ upstream: upstreamOf(source) }, 1);
    if (this.#outages.delete(source.name)) this.logger.info({ upstream: upstreamOf(source), source: source.name }, 'upstream reachable again');
  }

  /** Said once per outage, and only when cached content really was served in its place. */
  private servedCached(source: ContentSource): void {
    const outage = this.#outages.get(source.name);
    if (!outage || outage.servedCached) return;
    outage.servedCached = true;
    this.logger.warn({ upstream: upstreamOf(source), source: source.name, cause: outage.cause }, 'serving cached content while the upstream is unreachable');
  }
}

const upstreamOf = (source: ContentSource) => source.upstream ?? source.name;
const causeOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function reopenAt(source: ContentSource, repo: string, digest: string, ns: string | undefined, start: number): Promise<Readable> {
  const upstream = await source.blob(repo, digest, ns, { start });
  if (!upstream) throw BlobUnknown({ digest });
  const offset = upstream.offset ?? 0;
  if (offset > start) {
    upstream.stream.destroy();
    throw new Error(`upstream answered from byte ${offset}, wanted ${start}`);
  }
  return offset === start ? upstream.stream : Readable.from(skipBytes(upstream.stream, start - offset));
}

/** Which source's check of which local tag: the key of the freshness record and of the in-flight HEAD. */
function tagCheckKey(source: ContentSource, localRepo: string, tag: string): string {
  return `${source.name}|${localRepo}:${tag}`;
}

/** Streams a fill's bytes into a response the way sendTo would (resolving with the bytes written). */
async function pipeInto(source: Promise<Readable>, dest: Writable): Promise<number> {
  let bytes = 0;
  for await (const chunk of await source) {
    bytes += (chunk as Buffer).length;
    if (!dest.write(chunk)) await new Promise((r) => dest.once('drain', r));
  }
  return bytes;
}
