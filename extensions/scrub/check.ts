import { createHash } from 'node:crypto';
import type { Descriptor, RegistryFacade } from '../../core/extensions/api';

/** One row of Zot's scrub results: an image (an index.json entry) and whether its content still hashes right. */
export interface ScrubImageResult {
  imageName: string;
  tag: string;
  /** The manifest (or index) digest the row is about (not in Zot's table). */
  digest: string;
  status: 'ok' | 'affected';
  /** The digest's hex (Zot prints the encoded part only) of the first blob found wrong; '' when ok. */
  affectedBlob: string;
  /** The same blob's whole digest (`sha256:…`), when affected. */
  affectedDigest?: string;
  /** Zot's words: `bad blob digest`, `blob not found`, `invalid manifest content`, `invalid server config`. */
  error: string;
}

// Zot's error texts (zot errors.go), which its table and logs print and which operators grep for.
const BAD_DIGEST = 'bad blob digest';
const NOT_FOUND = 'blob not found';
const BAD_MANIFEST = 'invalid manifest content';
const BAD_CONFIG = 'invalid server config';

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const IMAGE_TYPES = new Set(['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json']);
// Manifests and configs are read whole to be parsed; nothing the registry accepts is bigger.
const MAX_JSON_BYTES = 4 * 1024 * 1024;

type Verdict = { affectedBlob: string; error: string } | undefined;

interface ManifestJson {
  config?: Descriptor;
  layers?: Array<Descriptor & { urls?: unknown }>;
  manifests?: Descriptor[];
  subject?: Descriptor;
}

/**
 * Re-hashes one repository's content as Zot's scrub does: every manifest its index lists (tagged or not, one
 * row each), each manifest's config and layers, an index's children and any subject, every blob streamed
 * through the hash once per pass. The first fault an image has is its verdict. Reads only through the
 * registry facade, never the cache in front of it, so a byte flipped on disk is seen.
 */
export class RepositoryScrub {
  readonly #blobs = new Map<string, Promise<string | undefined>>();
  readonly #manifests = new Map<string, Promise<Verdict>>();
  /** Bytes read through the hash so far. */
  hashed = 0;

  /** Content a pull-through has not fetched yet is absent by design: only what is stored is judged. */
  readonly #lazy: boolean;

  constructor(
    private readonly registry: RegistryFacade,
    readonly repo: string,
    private readonly signal?: AbortSignal,
  ) {
    this.#lazy = registry.pullsThrough(repo);
  }

  async run(): Promise<ScrubImageResult[]> {
    const entries = await this.registry.listManifests(this.repo);
    const tagged = new Map<string, string[]>();
    for (const tag of await this.registry.listTags(this.repo)) {
      this.#stopIfAborted();
      const digest = (await this.registry.getManifest(this.repo, tag))?.digest;
      if (digest) tagged.set(digest, [...(tagged.get(digest) ?? []), tag]);
    }
    const results: ScrubImageResult[] = [];
    for (const entry of entries) {
      for (const tag of tagged.get(entry.digest) ?? ['']) {
        this.#stopIfAborted();
        const verdict = await this.#manifest(entry);
        const row = { imageName: this.repo, tag, digest: entry.digest };
        results.push(verdict
          ? { ...row, status: 'affected', affectedBlob: hexOf(verdict.affectedBlob), affectedDigest: verdict.affectedBlob, error: verdict.error }
          : { ...row, status: 'ok', affectedBlob: '', error: '' });
      }
    }
    return results;
  }

  #manifest(desc: Descriptor, child = false): Promise<Verdict> {
    let verdict = this.#manifests.get(desc.digest);
    if (!verdict) {
      verdict = this.#checkManifest(desc, child);
      this.#manifests.set(desc.digest, verdict);
    }
    return verdict;
  }

  /**
   * `child`: listed by an index. berth keeps an index whole while holding only some of its platforms (sync's
   * `platforms`, pull-through), so a child that is not stored is skipped; one that is stored is checked.
   */
  async #checkManifest(desc: Descriptor, child: boolean): Promise<Verdict> {
    const isIndex = INDEX_TYPES.has(desc.mediaType);
    if (!isIndex && !IMAGE_TYPES.has(desc.mediaType)) return { affectedBlob: desc.digest, error: BAD_MANIFEST };
    const read = await this.#readJson<ManifestJson>(desc.digest);
    if ('missing' in read && (child || this.#lazy)) return undefined;
    if ('error' in read) return { affectedBlob: desc.digest, error: read.error === 'json' ? (isIndex ? BAD_DIGEST : BAD_MANIFEST) : read.error };
    const manifest = read.value;
    if (isIndex) {
      for (const listed of manifest.manifests ?? []) {
        const verdict = await this.#manifest(listed, true);
        if (verdict) return verdict;
      }
    } else {
      if (!manifest.config?.digest) return { affectedBlob: desc.digest, error: BAD_MANIFEST };
      const config = await this.#readJson(manifest.config.digest);
      if ('error' in config && !('missing' in config && this.#lazy)) return { affectedBlob: manifest.config.digest, error: config.error === 'json' ? BAD_CONFIG : config.error };
      for (const layer of manifest.layers ?? []) {
        if (Array.isArray(layer.urls) && layer.urls.length > 0) continue; // non-distributable: never stored
        const error = await this.#blob(layer.digest);
        if (error) return { affectedBlob: layer.digest, error };
      }
    }
    return manifest.subject ? this.#manifest(manifest.subject, this.#lazy) : undefined;
  }

  /** Hashes a blob (once per pass): undefined when its bytes match its digest, else Zot's error text. */
  #blob(digest: string): Promise<string | undefined> {
    let error = this.#blobs.get(digest);
    if (!error) {
      error = this.#hash(digest, undefined).then((r) => (r.missing && this.#lazy ? undefined : r.error));
      this.#blobs.set(digest, error);
    }
    return error;
  }

  /** A manifest or config, hashed while read and parsed: the value, or what is wrong (`json`: not JSON). */
  async #readJson<T = unknown>(digest: string): Promise<{ value: T } | { error: string; missing?: true }> {
    const chunks: Buffer[] = [];
    const hashed = await this.#hash(digest, chunks);
    this.#blobs.set(digest, Promise.resolve(hashed.missing && this.#lazy ? undefined : hashed.error));
    if (hashed.missing) return { error: NOT_FOUND, missing: true };
    if (hashed.error) return { error: hashed.error };
    if (hashed.tooBig) return { error: 'json' };
    try {
      return { value: JSON.parse(Buffer.concat(chunks).toString('utf8')) as T };
    } catch {
      return { error: 'json' };
    }
  }

  /** Streams the blob through its digest's hash, keeping the bytes in `keep` when given and not too big. */
  async #hash(digest: string, keep: Buffer[] | undefined): Promise<{ error?: string; missing?: boolean; tooBig?: boolean }> {
    this.#stopIfAborted();
    const [algorithm, hex] = digest.split(':');
    if (!hex || (algorithm !== 'sha256' && algorithm !== 'sha512')) return { error: BAD_DIGEST };
    let blob;
    try {
      blob = await this.registry.openBlob(this.repo, digest);
    } catch {
      return { error: NOT_FOUND, missing: true };
    }
    if (!blob) return { error: NOT_FOUND, missing: true };
    const tooBig = keep !== undefined && blob.size > MAX_JSON_BYTES;
    if (tooBig) keep = undefined;
    const hash = createHash(algorithm);
    try {
      for await (const chunk of blob.stream as AsyncIterable<Buffer>) {
        if (this.signal?.aborted) {
          blob.stream.destroy();
          this.#stopIfAborted();
        }
        hash.update(chunk);
        keep?.push(chunk);
        this.hashed += chunk.length;
      }
    } catch (err) {
      if (this.signal?.aborted) throw err;
      return { error: BAD_DIGEST };
    }
    return hash.digest('hex') === hex ? { tooBig } : { error: BAD_DIGEST };
  }

  #stopIfAborted(): void {
    if (this.signal?.aborted) throw new ScrubAborted();
  }
}

/** The pass was stopped (shutdown, reload, lost lease) before this repository was done. */
export class ScrubAborted extends Error {
  constructor() {
    super('scrub stopped');
    this.name = 'ScrubAborted';
  }
}

const hexOf = (digest: string) => digest.slice(digest.indexOf(':') + 1);
