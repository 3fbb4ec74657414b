import type { Readable } from 'node:stream';
import { inject, injectable } from 'tsyringe';
import type { Descriptor, ManifestWriter, RegistryFacade, RequestOrigin, StoredManifest } from '../extensions/api';
import type { EventBus } from '../extensions/events';
import { TOKENS } from '../di/tokens';
import { BlobStore } from './blob-store';
import type { CatalogPage } from './catalog';
import { UploadStore } from './blob-upload';
import { PullThrough, type BlobHandle } from './pull-through';
import { isDigest, parseDigest, type ParsedDigest } from './digest';
import { BlobUnknown, ManifestBlobUnknown, NameUnknown, RegistryError, Unsupported } from './errors';
import { ManifestStore, type PutManifestOptions, type PutManifestResult } from './manifest-store';
import { MediaTypes } from './media-types';
import { assertRepositoryName } from './names';
import { RepoStore } from './repo-store';
import type { AccessTimes } from './access-times';
import { removeManifests } from './retention';
import { tagsOf } from './oci-index';

export type { BlobHandle } from './pull-through';

/**
 * The registry's use cases, shared by the HTTP routes and the extension API: every write goes through
 * the same validation, locks and events whoever asks.
 */
@injectable()
export class Registry implements RegistryFacade {
  constructor(
    @inject(TOKENS.RepoStore) readonly repos: RepoStore,
    @inject(TOKENS.BlobStore) readonly blobs: BlobStore,
    @inject(TOKENS.UploadStore) readonly uploads: UploadStore,
    @inject(TOKENS.ManifestStore) readonly manifests: ManifestStore,
    @inject(TOKENS.Events) private readonly events: EventBus,
    @inject(TOKENS.PullThrough) private readonly pull: PullThrough,
    @inject(TOKENS.AccessTimes) private readonly times: AccessTimes,
  ) {}

  listRepositories(): Promise<string[]> {
    return this.repos.list();
  }

  /** A page of `GET /v2/_catalog`: `keep` filters by access, and the page is filled from readable names. */
  catalogPage(n: number | undefined, last: string | undefined, keep: (repos: string[]) => Promise<string[]>): Promise<CatalogPage> {
    return this.repos.catalog.page(n, last, keep);
  }

  async listTags(repo: string): Promise<string[]> {
    return tagsOf(await this.repos.readIndex(assertRepositoryName(repo)));
  }

  async getManifest(repo: string, reference: string): Promise<StoredManifest | undefined> {
    return this.manifests.get(assertRepositoryName(repo), reference);
  }

  /**
   * A manifest for a client: local first (a tag revalidated upstream as the source allows), else pulled
   * through a content source (pull-through.ts); MANIFEST_UNKNOWN otherwise.
   */
  async fetchManifest(repo: string, reference: string, accept: string[], ns: string | undefined): Promise<StoredManifest> {
    return this.pull.manifest(assertRepositoryName(repo), reference, accept, ns);
  }

  async putManifest(repo: string, reference: string, mediaType: string, bytes: Buffer, opts: { sparse?: boolean } = {}): Promise<string> {
    return (await this.pushManifest(repo, reference, mediaType, bytes, { writer: 'push', trusted: opts.sparse })).digest;
  }

  /**
   * Stores a manifest. A referenced blob missing here but held by a content source matching the repository is
   * fetched first: a blob HEAD answers from the upstream without storing (pull-through.ts), and a client told
   * so skips the upload, so the push must find the blob where the HEAD said it is.
   */
  async pushManifest(repo: string, reference: string, contentType: string | undefined, bytes: Buffer, opts: PutManifestOptions): Promise<PutManifestResult> {
    assertRepositoryName(repo);
    const filled = new Set<string>();
    for (;;) {
      try {
        return await this.manifests.put(repo, reference, contentType, bytes, opts);
      } catch (err) {
        const missing = err instanceof RegistryError && err.code === ManifestBlobUnknown.code ? (err.detail as { digest?: string } | undefined)?.digest : undefined;
        if (!missing || filled.has(missing) || !isDigest(missing) || !(await this.pull.fillForPush(repo, parseDigest(missing)))) throw err;
        filled.add(missing);
      }
    }
  }

  async deleteManifest(repo: string, reference: string, origin?: RequestOrigin): Promise<void> {
    await this.manifests.delete(assertRepositoryName(repo), reference, origin);
  }

  /** The facade an extension receives: the same registry, with its manifest writes named after it. */
  facadeFor(writer: ManifestWriter): RegistryFacade {
    const facade: RegistryFacade = {
      listRepositories: () => this.listRepositories(),
      listTags: (repo) => this.listTags(repo),
      getManifest: (repo, reference) => this.getManifest(repo, reference),
      putManifest: async (repo, reference, mediaType, bytes, opts) => (await this.pushManifest(repo, reference, mediaType, bytes, { writer, trusted: opts?.sparse })).digest,
      deleteManifest: (repo, reference) => this.deleteManifest(repo, reference),
      hasBlob: (repo, digest) => this.hasBlob(repo, digest),
      pullsThrough: (repo) => this.pullsThrough(repo),
      putBlob: (repo, digest, body, size) => this.putBlob(repo, digest, body, size),
      openBlob: (repo, digest) => this.openBlob(repo, digest),
      listManifests: (repo) => this.listManifests(repo),
      listBlobs: (repo) => this.listBlobs(repo),
      deleteBlob: (repo, digest) => this.deleteBlob(repo, digest),
      lastPulled: (digest) => this.lastPulled(digest),
      lastPulledMany: (digests) => this.lastPulledMany(digests),
      removeManifests: (repo, manifests, keepBlob) => this.removeManifests(repo, manifests, keepBlob),
    };
    return facade;
  }

  pullsThrough(repo: string): boolean {
    return this.pull.hasSources(repo);
  }

  async hasBlob(repo: string, digest: string): Promise<number | undefined> {
    return this.blobs.size(assertRepositoryName(repo), parseDigest(digest));
  }

  async putBlob(repo: string, digest: string, body: Readable, size?: number): Promise<void> {
    assertRepositoryName(repo);
    await this.repos.ensure(repo);
    const d = parseDigest(digest);
    const stored = await this.blobs.ingest(repo, d, body, size);
    this.events.emit('blob.committed', { repo, digest, size: stored });
  }

  async finishUpload(repo: string, id: string, digest: ParsedDigest, body?: Readable, range?: { start: number; end: number }): Promise<void> {
    const size = await this.uploads.finish(assertRepositoryName(repo), id, digest, body, range);
    this.events.emit('blob.committed', { repo, digest: digest.digest, size });
  }

  async openBlob(repo: string, digest: string): Promise<{ size: number; stream: Readable } | undefined> {
    const d = parseDigest(digest);
    const size = await this.blobs.size(assertRepositoryName(repo), d);
    return size === undefined ? undefined : { size, stream: await this.blobs.open(repo, d) };
  }

  /** A blob's size for a HEAD: local, else one upstream HEAD through the content sources (nothing is fetched). */
  async blobSize(repo: string, digest: ParsedDigest, ns: string | undefined): Promise<number | undefined> {
    return this.pull.blobSize(assertRepositoryName(repo), digest, ns);
  }

  /** A blob for a client: local, else streamed from a content source while one verified copy is kept. */
  async fetchBlob(repo: string, digest: ParsedDigest, ns: string | undefined): Promise<BlobHandle> {
    return this.pull.blob(assertRepositoryName(repo), digest, ns);
  }

  /**
   * Where to redirect a whole-blob request (`redirectBlobURL`): the presigned URL of the copy in the local
   * repository the request is served from (a mirror's `?ns=` or a sync destination names another one), or
   * undefined to serve the bytes, as for a blob still being filled from upstream and not yet in the store.
   */
  async blobRedirectURL(repo: string, digest: ParsedDigest, ns: string | undefined, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    return this.blobs.redirectURL(this.pull.localRepository(assertRepositoryName(repo), ns), digest, method);
  }

  async listManifests(repo: string): Promise<Descriptor[]> {
    assertRepositoryName(repo);
    return (await this.repos.tryReadIndex(repo)) ? this.manifests.digests(repo) : [];
  }

  async listBlobs(repo: string): Promise<string[]> {
    return this.blobs.list(assertRepositoryName(repo));
  }

  /** Deletes a blob unless a manifest in the repository still needs it (as Zot: 405). */
  async deleteBlob(repo: string, digestOrString: ParsedDigest | string): Promise<void> {
    assertRepositoryName(repo);
    const digest = typeof digestOrString === 'string' ? parseDigest(digestOrString) : digestOrString;
    if ((await this.blobs.size(repo, digest)) === undefined) throw BlobUnknown({ digest: digest.digest });
    await this.repos.withLock(repo, async () => {
      for (const m of (await this.repos.tryReadIndex(repo))?.manifests ?? []) {
        if (m.digest === digest.digest) throw Unsupported({ reason: 'the blob is a manifest of this repository; delete the manifest' });
        const info = await this.manifests.info(repo, m.digest);
        if (info?.blobs.includes(digest.digest)) throw Unsupported({ reason: `the blob is referenced by manifest ${m.digest}` });
      }
      await this.blobs.delete(repo, digest);
    });
  }

  /** Cross-repository mount: true when `repo` now holds the blob `from` has. */
  async mountBlob(repo: string, from: string, digest: ParsedDigest): Promise<boolean> {
    assertRepositoryName(repo);
    assertRepositoryName(from);
    await this.repos.ensure(repo);
    return this.blobs.mount(from, repo, digest);
  }

  /** Manifests in the repository whose `subject` is `digest`, as an OCI index (distribution-spec "Listing Referrers"). */
  async referrers(repo: string, digest: ParsedDigest, artifactType?: string): Promise<{ index: object; filtered: boolean }> {
    assertRepositoryName(repo);
    const manifests: Descriptor[] = [];
    const entries = (await this.repos.tryReadIndex(repo)) ? await this.manifests.digests(repo) : [];
    for (const entry of entries) {
      const info = await this.manifests.info(repo, entry.digest);
      if (info?.subject?.digest !== digest.digest) continue;
      if (artifactType !== undefined && info.artifactType !== artifactType) continue;
      const desc: Descriptor = { mediaType: info.mediaType, digest: entry.digest, size: info.size };
      if (info.artifactType) desc.artifactType = info.artifactType;
      if (info.annotations) desc.annotations = info.annotations;
      manifests.push(desc);
    }
    return { index: { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests }, filtered: artifactType !== undefined };
  }

  async requireRepository(repo: string): Promise<void> {
    if (!(await this.repos.exists(assertRepositoryName(repo)))) throw NameUnknown({ name: repo });
  }

  emitPulled(repo: string, reference: string, digest: string): void {
    this.events.emit('image.pulled', { repo, reference, digest });
  }

  emitBlobPulled(repo: string, digest: string, size: number): void {
    this.events.emit('blob.pulled', { repo, digest, size });
  }

  async lastPulled(digest: string): Promise<number> {
    return (await this.times.pulledAt([digest])).get(digest)!;
  }

  lastPulledMany(digests: readonly string[]): Promise<Map<string, number>> {
    return this.times.pulledAt(digests);
  }

  removeManifests(repo: string, manifests: Descriptor[], keepBlob: (digest: string) => boolean): Promise<{ manifests: number; blobs: number }> {
    return removeManifests(this, assertRepositoryName(repo), manifests, keepBlob);
  }

}
