import { inject, injectable } from 'tsyringe';
import type { Readable } from 'node:stream';
import type { Descriptor, ManifestWriter, ParsedManifest, RegistryEventMap, RequestOrigin, StoredManifest } from '../extensions/api';
import type { EventBus } from '../extensions/events';
import type { ManifestValidators } from '../extensions/manifest-validators';
import { TOKENS } from '../di/tokens';
import { BlobStore } from './blob-store';
import { digestOf, parseDigest, isDigest, type ParsedDigest } from './digest';
import { DigestInvalid, ManifestBlobUnknown, ManifestUnknown, Unsupported } from './errors';
import { MAX_MANIFEST_BYTES, parseManifest, type ManifestInfo } from './manifest-parse';
import { isIndexMediaType } from './media-types';
import { emptyIndex, findByDigest, findByTag, removeDigest, removeTag, setManifest, tagOf, type OciIndex } from './oci-index';
import { assertTag } from './names';
import { RepoStore } from './repo-store';
import { BoundedCache } from './bounded-cache';

/** Opens a blob the manifest names when it is not stored here yet (pull-through: from the content source). */
export type BlobOpener = (digest: ParsedDigest) => Promise<Readable | undefined>;

// A config read for validators is at most this big (Zot's image configs are JSON of a few KiB).
const MAX_CONFIG_BYTES = MAX_MANIFEST_BYTES;

export interface PutManifestOptions {
  writer: ManifestWriter;
  extraTags?: string[];
  trusted?: boolean;
  /** Opens a blob the manifest names that is not stored here yet, for validators (pull-through). */
  openMissing?: BlobOpener;
  /** The request that pushed it, for the events (`writer: 'push'`). */
  origin?: RequestOrigin;
}

export interface PutManifestResult {
  digest: string;
  info: ManifestInfo;
  tags: string[];
}

/**
 * Manifests and tags over index.json. Manifest bytes are immutable per digest, so parsed infos and small
 * manifests are cached in memory (bounded) after the index lookup that authorises them.
 */
@injectable()
export class ManifestStore {
  readonly #infos = new BoundedCache<string, ManifestInfo>(20_000, () => 1);
  readonly #bytes = new BoundedCache<string, Buffer>(64 * 1024 * 1024, (b) => b.length);

  constructor(
    @inject(TOKENS.RepoStore) private readonly repos: RepoStore,
    @inject(TOKENS.BlobStore) private readonly blobs: BlobStore,
    @inject(TOKENS.Events) private readonly events: EventBus,
    @inject(TOKENS.ManifestValidators) private readonly validators: ManifestValidators,
  ) {}

  /** The descriptor a tag or digest resolves to in the repository's index, or undefined. */
  async resolve(repo: string, reference: string): Promise<Descriptor | undefined> {
    const index = await this.repos.tryReadIndex(repo);
    if (!index) return undefined;
    if (isDigest(reference)) {
      parseDigest(reference);
      return findByDigest(index, reference);
    }
    return findByTag(index, assertTag(reference));
  }

  async get(repo: string, reference: string): Promise<StoredManifest | undefined> {
    const desc = await this.resolve(repo, reference);
    if (!desc) return undefined;
    const bytes = await this.bytes(repo, desc.digest);
    if (!bytes) return undefined;
    return { digest: desc.digest, mediaType: desc.mediaType, bytes };
  }

  /**
   * Stores a manifest under a tag or its digest: the one manifest write path, so every writer (`writer`) emits
   * the same events. With `trusted` (content from an upstream source), the references need not be present
   * yet: a pull-through cache fetches children and blobs lazily. Extensions' validators run before anything
   * is written (the repository is not even created), with `openMissing` for a config not stored here yet.
   */
  async put(repo: string, reference: string, contentType: string | undefined, bytes: Buffer, opts: PutManifestOptions): Promise<PutManifestResult> {
    const info = parseManifest(bytes, contentType);
    let digest: string;
    const tags: string[] = [];
    if (isDigest(reference)) {
      const ref = parseDigest(reference);
      digest = digestOf(bytes, ref.algorithm);
      if (digest !== reference) throw DigestInvalid({ expected: reference, actual: digest });
    } else {
      tags.push(assertTag(reference));
      digest = digestOf(bytes);
    }
    for (const t of opts.extraTags ?? []) tags.push(assertTag(t));
    // Checked first outside the lock too, so a push naming a missing blob creates no repository.
    if (!opts.trusted) await this.checkReferences(repo, info, (await this.repos.tryReadIndex(repo)) ?? emptyIndex());
    // Outside the repository lock: a validator may read the config from an upstream.
    if (!this.validators.empty) await this.validate(repo, reference, tags[0], digest, info, bytes, opts);
    await this.repos.ensure(repo);
    const desc: Descriptor = { mediaType: info.mediaType, digest, size: bytes.length };
    // One critical section with GC's deletions in this repository (gc.ts holds the same lock): the references
    // are checked, the manifest's bytes stored and the index updated with no GC in between, so a push racing
    // GC either lands with every blob it names or fails with MANIFEST_BLOB_UNKNOWN.
    const created = await this.repos.update(repo, async (index) => {
      if (!opts.trusted) await this.checkReferences(repo, info, index);
      await this.blobs.putSmall(repo, parseDigest(digest), bytes);
      this.#infos.set(digest, info);
      let next = index;
      if (tags.length === 0) next = setManifest(next, desc, undefined);
      for (const tag of tags) next = setManifest(next, desc, tag);
      return { index: next, result: index.manifests.length === 0 };
    });
    const origin = opts.origin ? { origin: opts.origin } : {};
    if (created) this.events.emit('repository.created', { repo, writer: opts.writer, ...origin });
    const stored = { repo, digest, mediaType: info.mediaType, bytes, writer: opts.writer, ...origin };
    this.emitPerTag('manifest.stored', stored, tags);
    this.emitPerTag('manifest.pushed', stored, tags);
    return { digest, info, tags };
  }

  private async validate(
    repo: string, reference: string, tag: string | undefined, digest: string, info: ManifestInfo, bytes: Buffer,
    opts: { writer: ManifestWriter; openMissing?: BlobOpener },
  ): Promise<void> {
    const manifest = JSON.parse(bytes.toString('utf8')) as ParsedManifest; // parseManifest accepted it
    const config = isIndexMediaType(info.mediaType) ? undefined : info.blobs[0];
    let configJson: Promise<unknown> | undefined;
    await this.validators.check({
      repo, reference, tag, digest, mediaType: info.mediaType, bytes, manifest, artifactType: info.artifactType, writer: opts.writer,
      readConfig: () => (configJson ??= config ? this.readConfig(repo, parseDigest(config), opts.openMissing) : Promise.resolve(undefined)),
    });
  }

  /** The config blob as JSON (undefined when it is not JSON), from here or else from `openMissing`. */
  private async readConfig(repo: string, digest: ParsedDigest, openMissing: BlobOpener | undefined): Promise<unknown> {
    const size = await this.blobs.size(repo, digest);
    if (size !== undefined && size > MAX_CONFIG_BYTES) return undefined;
    const stream = size !== undefined ? await this.blobs.open(repo, digest) : await openMissing?.(digest);
    if (!stream) throw ManifestBlobUnknown({ digest: digest.digest });
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      length += chunk.length;
      if (length > MAX_CONFIG_BYTES) {
        stream.destroy();
        return undefined;
      }
      chunks.push(chunk);
    }
    const body = Buffer.concat(chunks);
    if (digestOf(body, digest.algorithm) !== digest.digest) throw ManifestBlobUnknown({ digest: digest.digest, reason: 'config does not match its digest' });
    try {
      return JSON.parse(body.toString('utf8')) as unknown;
    } catch {
      return undefined;
    }
  }

  /** Deletes a tag (the manifest stays) or a manifest by digest with all its tags. Returns the digest. */
  async delete(repo: string, reference: string, origin?: RequestOrigin): Promise<{ digest: string; tags: string[] }> {
    const deleted = await this.repos.update(repo, async (index) => {
      if (!isDigest(reference)) {
        const desc = findByTag(index, assertTag(reference));
        if (!desc) throw ManifestUnknown({ reference });
        return { index: removeTag(index, reference), result: { digest: desc.digest, mediaType: desc.mediaType, tags: [reference] } };
      }
      parseDigest(reference);
      const desc = findByDigest(index, reference);
      if (!desc) throw ManifestUnknown({ reference });
      // As Zot: a manifest an index in this repository still lists cannot be deleted on its own.
      for (const d of new Set(index.manifests.map((m) => m.digest))) {
        const info = d === reference ? undefined : await this.info(repo, d);
        if (info?.children.some((c) => c.digest === reference)) {
          throw Unsupported({ reason: `manifest is referenced by image index ${d}` });
        }
      }
      const tags = index.manifests.filter((m) => m.digest === reference).map(tagOf).filter((t): t is string => t !== undefined);
      await this.blobs.delete(repo, parseDigest(reference));
      this.#bytes.delete(reference);
      return { index: removeDigest(index, reference), result: { digest: reference, mediaType: desc.mediaType, tags } };
    });
    this.emitPerTag('manifest.deleted', { repo, digest: deleted.digest, mediaType: deleted.mediaType, ...(origin ? { origin } : {}) }, deleted.tags);
    return { digest: deleted.digest, tags: deleted.tags };
  }

  /** One event per tag a manifest change touched, or one without a tag for a change by digest. */
  private emitPerTag<E extends 'manifest.stored' | 'manifest.pushed' | 'manifest.deleted'>(event: E, base: Omit<RegistryEventMap[E], 'tag'>, tags: string[]): void {
    if (tags.length === 0) this.events.emit(event, base as RegistryEventMap[E]);
    for (const tag of tags) this.events.emit(event, { ...base, tag } as RegistryEventMap[E]);
  }

  /** Parsed facts about a manifest the repository holds (cached by digest). */
  async info(repo: string, digest: string): Promise<ManifestInfo | undefined> {
    const cached = this.#infos.get(digest);
    if (cached) return cached;
    const bytes = await this.bytes(repo, digest);
    if (!bytes) return undefined;
    try {
      const info = parseManifest(bytes, undefined);
      this.#infos.set(digest, info);
      return info;
    } catch {
      return undefined; // a foreign or damaged entry in a Zot-written index: not ours to judge here
    }
  }

  /** Every manifest digest listed in the repository's index (each once). */
  async digests(repo: string): Promise<Descriptor[]> {
    const index = await this.repos.readIndex(repo);
    const seen = new Map<string, Descriptor>();
    for (const d of index.manifests) if (!seen.has(d.digest)) seen.set(d.digest, d);
    return [...seen.values()];
  }

  private async bytes(repo: string, digest: string): Promise<Buffer | undefined> {
    const cached = this.#bytes.get(digest);
    if (cached) return cached;
    const parsed = parseDigest(digest);
    if ((await this.blobs.size(repo, parsed)) === undefined) return undefined;
    const bytes = await this.blobs.read(repo, parsed);
    this.#bytes.set(digest, bytes);
    return bytes;
  }

  /** Every blob and child the manifest names is present; final when run under the repository lock with its index. */
  private async checkReferences(repo: string, info: ManifestInfo, index: OciIndex): Promise<void> {
    for (const blob of info.blobs) {
      if ((await this.blobs.size(repo, parseDigest(blob))) === undefined) throw ManifestBlobUnknown({ digest: blob });
    }
    for (const child of info.children) {
      const present = findByDigest(index, child.digest) || (await this.blobs.size(repo, parseDigest(child.digest))) !== undefined;
      if (!present) throw ManifestBlobUnknown({ digest: child.digest });
    }
  }

}
