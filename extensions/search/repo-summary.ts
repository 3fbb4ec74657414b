/**
 * The per-repository summary (`sum/<name>`): what repository listings and repository search need, computed
 * when the repository's record changes so a page over thousands of repositories reads small records only.
 */
import type { RepoRecord } from './meta-model';
import { createdAt, imageVendor, imageView, isIndex, taggedImages, type ImageView, type PlatformView } from './image-view';

export interface RepoSummaryRecord {
  name: string;
  /** The newest image's creation time (ms), null for a repository without tagged images. */
  lastUpdated: number | null;
  /** Bytes of every distinct blob its images use (manifests, configs, layers). */
  size: number;
  platforms: PlatformView[];
  vendors: string[];
  newest: ImageView | null;
}

export function summarize(record: RepoRecord): RepoSummaryRecord {
  const images = taggedImages(record);
  const blobs = new Map<string, number>();
  const platforms = new Map<string, PlatformView>();
  const vendors = new Set<string>();
  let newest: { tag: string; digest: string; at: number; taggedAt: number } | undefined;
  const visit = (digest: string) => {
    const m = record.manifests[digest];
    if (!m || blobs.has(digest)) return;
    blobs.set(digest, m.size);
    if (m.config) blobs.set(m.config.digest, m.config.size);
    for (const l of m.layers ?? []) blobs.set(l.digest, l.size);
    if (m.platform) platforms.set(`${m.platform.os}/${m.platform.arch}`, { Os: m.platform.os, Arch: m.platform.arch });
    for (const c of isIndex(m) ? m.children ?? [] : []) visit(c.digest);
  };
  for (const { tag, digest } of images) {
    visit(digest);
    const at = createdAt(record, record.manifests[digest]!);
    const taggedAt = record.tags[tag]!.taggedAt;
    if (!newest || at > newest.at || (at === newest.at && taggedAt > newest.taggedAt)) newest = { tag, digest, at, taggedAt };
  }
  for (const { digest } of images) {
    const vendor = imageVendor(record, digest);
    if (vendor) vendors.add(vendor);
  }
  return {
    name: record.name,
    lastUpdated: newest?.at ?? null,
    size: [...blobs.values()].reduce((a, b) => a + b, 0),
    platforms: [...platforms.values()],
    vendors: [...vendors].sort(),
    newest: newest ? imageView(record, newest.digest, newest.tag) ?? null : null,
  };
}
