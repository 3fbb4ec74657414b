import type { Logger } from 'pino';
import picomatch from 'picomatch';
import type { RetentionConfig, RetentionPolicy } from '../config/retention-schema';
import type { Descriptor, RegistryFacade } from '../extensions/api';
import type { AccessTimes } from './access-times';
import { tagOf } from './oci-index';
import type { Registry } from './registry';

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

/**
 * Deletes manifests of a repository, indexes first (a child an index lists cannot go before it), then the
 * blobs they used that nothing left references and `keepBlob` spares. Shared by retention and the sync TTL.
 * A manifest an index that stays still lists, or a blob a remaining manifest uses, is skipped, not an error.
 */
export async function removeManifests(registry: RegistryFacade, repo: string, manifests: Descriptor[], keepBlob: (digest: string) => boolean): Promise<{ manifests: number; blobs: number }> {
  const sorted = [...manifests].sort((a, b) => Number(INDEX_TYPES.has(b.mediaType)) - Number(INDEX_TYPES.has(a.mediaType)));
  const removed = { manifests: 0, blobs: 0 };
  for (const m of sorted) {
    try {
      await registry.deleteManifest(repo, m.digest);
      removed.manifests++;
    } catch {
      // Still listed by an index that stays.
    }
  }
  if (removed.manifests === 0) return removed;
  for (const digest of await registry.listBlobs(repo)) {
    if (keepBlob(digest)) continue;
    try {
      await registry.deleteBlob(repo, digest);
      removed.blobs++;
    } catch {
      // Referenced by a manifest that stays.
    }
  }
  return removed;
}

/**
 * Zot's `storage.retention`, run by each GC pass on every repository of its store (pushed and pulled-through alike):
 * the first policy whose `repositories` glob matches decides; tags no `keepTags` rule keeps are removed, then
 * untagged manifests nothing references (when `deleteUntagged`) once older than `delay`. Content pulled within
 * `delay` is never deleted, so a pull in progress keeps its manifest and blobs.
 */
export class Retention {
  readonly #policies: Array<{ match: (repo: string) => boolean; policy: RetentionPolicy }>;

  /**
   * Runs as part of GC (gc.ts), per repository, where Zot gives repositories no policy matches its default
   * policy (every tag kept, untagged manifests deleted once older than `delay`: retention.HasDeleteUntagged).
   */
  constructor(
    private readonly config: RetentionConfig,
    private readonly registry: Registry,
    private readonly times: AccessTimes,
    private readonly logger: Logger,
  ) {
    this.#policies = config.policies.map((policy) => ({ match: picomatch(policy.repositories, { dot: true }), policy }));
  }

  /** Applies the first policy matching the repository, or Zot's default one. */
  async runRepo(repo: string, now = Date.now()): Promise<void> {
    await this.#apply(repo, this.#policies.find((p) => p.match(repo))?.policy ?? GC_DEFAULT_POLICY, now);
  }

  async #apply(repo: string, policy: RetentionPolicy, now: number): Promise<void> {
    const dryRun = this.config.dryRun;
    const recent = (at: number) => now - at < this.config.delay;
    // Every index entry: an image under several tags has one entry per tag (listManifests gives each digest once).
    const entries = (await this.registry.repos.tryReadIndex(repo))?.manifests ?? [];
    // One read of the times of every manifest the pass looks at (a getMany each for pushes and pulls).
    const digests = [...new Set(entries.map((d) => d.digest))];
    const [pushedTimes, pulledTimes] = await Promise.all([this.times.pushedAt(repo, digests, now), this.times.pulledAt(digests)]);
    const pushedAt = (x: string) => pushedTimes.get(x)!;
    const pulledAt = (x: string) => pulledTimes.get(x)!;
    const doomedTags = this.#tagsToDelete(policy, entries, pushedAt, pulledAt, now);
    for (const tag of doomedTags) {
      this.logger.info({ repo, tag, dryRun }, 'retention: removing tag');
      if (!dryRun) await this.registry.deleteManifest(repo, tag).catch(() => undefined);
    }
    if (!policy.deleteUntagged) return;
    // Untagged = no tag left after the removals above. Repeated until stable: an index that goes frees its children.
    const tagged = new Set(entries.filter((d) => tagOf(d) !== undefined && !doomedTags.has(tagOf(d)!)).map((d) => d.digest));
    const infos = new Map<string, { desc: Descriptor; children: string[]; referrer: boolean }>();
    for (const d of entries) {
      if (infos.has(d.digest)) continue;
      const info = await this.registry.manifests.info(repo, d.digest);
      infos.set(d.digest, { desc: d, children: (info?.children ?? []).map((c) => c.digest), referrer: info?.subject !== undefined });
    }
    const keep = policy.keepUntagged ?? [];
    const untagged = [...infos.keys()].filter((digest) => !tagged.has(digest));
    const doomedSet = new Set<string>();
    for (let changed = true; changed; ) {
      changed = false;
      const referenced = new Set([...infos].filter(([digest]) => !doomedSet.has(digest)).flatMap(([, i]) => i.children));
      for (const [digest, i] of infos) {
        if (doomedSet.has(digest) || tagged.has(digest) || referenced.has(digest) || i.referrer) continue; // deleteReferrers is not built
        if (recent(pushedAt(digest)) || recent(pulledAt(digest))) continue;
        if (keep.some((rule) => keeps(rule, untagged, digest, pushedAt, pulledAt, now))) continue;
        doomedSet.add(digest);
        changed = true;
      }
    }
    const doomed = [...doomedSet].map((digest) => infos.get(digest)!.desc);
    if (doomed.length === 0) return;
    this.logger.info({ repo, manifests: doomed.map((d) => d.digest), dryRun }, 'retention: removing untagged manifests');
    if (dryRun) return;
    // The blobs' times too, in one read each, before the sweep asks about them one by one.
    const blobs = await this.registry.listBlobs(repo);
    const [blobsPushed, blobsPulled] = await Promise.all([this.times.pushedAt(repo, blobs, now), this.times.pulledAt(blobs)]);
    // A blob that arrived after that listing is new: kept.
    const keepBlob = (digest: string) => !blobsPushed.has(digest) || recent(blobsPulled.get(digest)!) || recent(blobsPushed.get(digest)!);
    const removed = await removeManifests(this.registry, repo, doomed, keepBlob);
    await this.times.forget(repo, doomed.map((d) => d.digest));
    this.logger.info({ repo, ...removed }, 'retention removed content');
  }

  #tagsToDelete(policy: RetentionPolicy, entries: Descriptor[], pushedAt: (digest: string) => number, pulledAt: (digest: string) => number, now: number): Set<string> {
    const doomed = new Set<string>();
    if (policy.keepTags.length === 0) return doomed; // Zot: no keepTags = keep every tag
    const digestOf = new Map(entries.flatMap((d) => (tagOf(d) ? [[tagOf(d)!, d.digest] as const] : [])));
    const rules = policy.keepTags.map((rule) => ({ rule, patterns: rule.patterns.map((p) => new RegExp(p)), tags: [] as string[] }));
    for (const tag of digestOf.keys()) {
      const group = rules.find((r) => r.patterns.length === 0 || r.patterns.some((re) => re.test(tag)));
      if (group) group.tags.push(tag);
      else doomed.add(tag);
    }
    const pushed = (tag: string) => pushedAt(digestOf.get(tag)!);
    const pulled = (tag: string) => pulledAt(digestOf.get(tag)!);
    for (const { rule, tags } of rules) for (const tag of tags) if (!keeps(rule, tags, tag, pushed, pulled, now)) doomed.add(tag);
    return doomed;
  }
}

const GC_DEFAULT_POLICY: RetentionPolicy = { repositories: ['**'], deleteReferrers: false, deleteUntagged: true, keepTags: [] };

type KeepRule = Pick<RetentionPolicy['keepTags'][number], 'mostRecentlyPushedCount' | 'mostRecentlyPulledCount' | 'pushedWithin' | 'pulledWithin'>;

/** Zot: an item is kept when any rule that is set holds; a rule with nothing set keeps everything. */
function keeps(rule: KeepRule, group: string[], item: string, pushed: (x: string) => number, pulled: (x: string) => number, now: number): boolean {
  const set = rule.mostRecentlyPushedCount > 0 || rule.mostRecentlyPulledCount > 0 || rule.pushedWithin !== undefined || rule.pulledWithin !== undefined;
  if (!set) return true;
  const topBy = (at: (x: string) => number, n: number) => n > 0 && [...group].sort((a, b) => at(b) - at(a)).slice(0, n).includes(item);
  return topBy(pushed, rule.mostRecentlyPushedCount)
    || topBy(pulled, rule.mostRecentlyPulledCount)
    || (rule.pushedWithin !== undefined && now - pushed(item) < rule.pushedWithin)
    || (rule.pulledWithin !== undefined && now - pulled(item) < rule.pulledWithin);
}

/** The storage keys retention reads; a reload passes the new ones. */
