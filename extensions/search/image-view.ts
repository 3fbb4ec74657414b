/**
 * From a repository's record to the objects the GraphQL schema returns (ImageSummary, ManifestSummary,
 * Referrer), with Zot's field meanings: sizes as decimal strings, `LastUpdated` from the image's creation time,
 * annotations before config labels, signatures found by cosign tag, cosign or notation referrer.
 */
import type { ManifestMeta, PlatformMeta, RepoRecord } from './meta-model';

const COSIGN_SIG_ARTIFACT = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const SIGSTORE_BUNDLE_PREFIX = 'application/vnd.dev.sigstore.bundle';
const NOTATION_ARTIFACT = 'application/vnd.cncf.notary.signature';
const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

export interface PlatformView { Os: string; Arch: string }
export interface LayerView { Size: string; Digest: string }
export interface SignatureView { Tool: string; IsTrusted: boolean; Author: string }
export interface ReferrerView { MediaType: string; ArtifactType: string; Size: number; Digest: string; Annotations: Array<{ Key: string; Value: string }> }

export interface ManifestView {
  Digest: string;
  ConfigDigest: string | null;
  LastUpdated: string | null;
  Size: string;
  IsSigned: boolean;
  SignatureInfo: SignatureView[];
  Platform: PlatformView;
  DownloadCount: number;
  Layers: LayerView[];
  History: Array<{ Layer: LayerView | null; HistoryDescription: { Created: string | null; CreatedBy: string; Author: string; Comment: string; EmptyLayer: boolean } }>;
  Referrers: ReferrerView[];
  ArtifactType: string;
  /** Not in the schema: the layer digests, for derived/base image matching. */
  layerDigests: string[];
}

export interface ImageView {
  RepoName: string;
  Tag: string;
  Digest: string;
  MediaType: string;
  Manifests: ManifestView[];
  Size: string;
  DownloadCount: number;
  LastPullTimestamp: string | null;
  PushTimestamp: string | null;
  PushedBy: string;
  TaggedTimestamp: string | null;
  LastUpdated: string | null;
  Description: string;
  IsSigned: boolean;
  SignatureInfo: SignatureView[];
  Licenses: string;
  Labels: string;
  Title: string;
  Source: string;
  Documentation: string;
  Vendor: string;
  Authors: string;
  Referrers: ReferrerView[];
  IsDeletable: boolean;
  ArtifactType: string;
}

export const isIndex = (m: ManifestMeta) => INDEX_TYPES.has(m.mediaType) || m.children !== undefined;

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
const timeOf = (s: string | undefined) => {
  const t = s ? Date.parse(s) : NaN;
  return Number.isNaN(t) ? undefined : t;
};

/** An image's creation time (ms): the config's `created`, else the `created` annotation, else when it was indexed. */
export function createdAt(record: RepoRecord, m: ManifestMeta): number {
  if (isIndex(m)) {
    const times = (m.children ?? []).map((c) => record.manifests[c.digest]).filter(Boolean).map((c) => createdAt(record, c!));
    return times.length > 0 ? Math.max(...times) : annotatedCreated(m) ?? m.pushedAt;
  }
  return timeOf(m.created) ?? annotatedCreated(m) ?? m.pushedAt;
}
const annotatedCreated = (m: ManifestMeta) => timeOf(m.annotations['org.opencontainers.image.created'] ?? m.labels?.['org.label-schema.build-date']);

/** Zot's reading: the annotation, else the label-schema annotation; then the same two among the config labels. */
function annotation(m: ManifestMeta, key: string, labelKey?: string): string {
  const from = (map: Record<string, string> | undefined) => (map?.[key] || (labelKey ? map?.[labelKey] : undefined)) ?? '';
  return from(m.annotations) || from(m.labels);
}

/** The image's own manifest bytes plus what it references (config and layers, or its children's images). */
export function imageSize(record: RepoRecord, m: ManifestMeta): number {
  if (isIndex(m)) return m.size + (m.children ?? []).reduce((n, c) => n + (record.manifests[c.digest] ? imageSize(record, record.manifests[c.digest]!) : 0), 0);
  return m.size + (m.config?.size ?? 0) + (m.layers ?? []).reduce((n, l) => n + l.size, 0);
}

export function referrersOf(record: RepoRecord, digest: string, types?: string[]): ReferrerView[] {
  const wanted = types?.filter((t) => t !== '');
  return Object.values(record.manifests)
    .filter((r) => r.subject === digest)
    .map((r) => ({ r, artifactType: r.artifactType ?? r.config?.mediaType ?? '' }))
    .filter(({ artifactType }) => !wanted?.length || wanted.includes(artifactType))
    .sort((a, b) => (a.r.digest < b.r.digest ? -1 : 1))
    .map(({ r, artifactType }) => ({
      MediaType: r.mediaType,
      ArtifactType: artifactType,
      Size: r.size,
      Digest: r.digest,
      Annotations: Object.entries(r.annotations).map(([Key, Value]) => ({ Key, Value })),
    }));
}

/** cosign (by its `sha256-<hex>.sig` tag or a referrer) and notation signatures of `digest`; trust is not verified. */
export function signaturesOf(record: RepoRecord, digest: string): SignatureView[] {
  const tools = new Set<string>();
  if (record.tags[`${digest.replace(':', '-')}.sig`]) tools.add('cosign');
  for (const r of Object.values(record.manifests)) {
    if (r.subject !== digest) continue;
    const type = r.artifactType ?? r.config?.mediaType ?? '';
    if (type === COSIGN_SIG_ARTIFACT || type.startsWith(SIGSTORE_BUNDLE_PREFIX)) tools.add('cosign');
    if (type === NOTATION_ARTIFACT) tools.add('notation');
  }
  return [...tools].sort().map((Tool) => ({ Tool, IsTrusted: false, Author: '' }));
}

const platformView = (p: PlatformMeta | undefined): PlatformView => ({ Os: p?.os ?? '', Arch: p?.arch ?? '' });

function manifestView(record: RepoRecord, m: ManifestMeta): ManifestView {
  const layers = (m.layers ?? []).map((l) => ({ Size: String(l.size), Digest: l.digest }));
  // History entries map to layers in order, skipping empty ones (as the image-spec lays them out).
  let next = 0;
  const history = (m.history ?? []).map((h) => ({
    Layer: h.emptyLayer ? null : layers[next++] ?? null,
    HistoryDescription: { Created: h.created ?? null, CreatedBy: h.createdBy ?? '', Author: h.author ?? '', Comment: h.comment ?? '', EmptyLayer: h.emptyLayer },
  }));
  const signatures = signaturesOf(record, m.digest);
  return {
    Digest: m.digest,
    ConfigDigest: m.config?.digest ?? null,
    LastUpdated: iso(createdAt(record, m)),
    Size: String(imageSize(record, m)),
    IsSigned: signatures.length > 0,
    SignatureInfo: signatures,
    Platform: platformView(m.platform),
    DownloadCount: 0,
    Layers: layers,
    History: history,
    Referrers: referrersOf(record, m.digest),
    ArtifactType: m.artifactType ?? m.config?.mediaType ?? '',
    layerDigests: (m.layers ?? []).map((l) => l.digest),
  };
}

const imagesOf = (record: RepoRecord, m: ManifestMeta): ManifestMeta[] =>
  isIndex(m) ? (m.children ?? []).map((c) => record.manifests[c.digest]).filter((c): c is ManifestMeta => c !== undefined) : [m];

/** An index's descriptive annotations are its own, else those of its first image (as Zot reads them). */
const describedBy = (m: ManifestMeta, children: ManifestMeta[]): ManifestMeta => (isIndex(m) && children[0] && !Object.keys(m.annotations).length ? children[0] : m);

/** The image's `Vendor` alone: what a repository summary needs of every image, without building each view. */
export function imageVendor(record: RepoRecord, digest: string): string {
  const m = record.manifests[digest];
  return m ? annotation(describedBy(m, imagesOf(record, m)), 'org.opencontainers.image.vendor', 'org.label-schema.vendor') : '';
}

/** The ImageSummary of `digest` in `record`, as `tag` (empty for an untagged image). */
export function imageView(record: RepoRecord, digest: string, tag: string): ImageView | undefined {
  const m = record.manifests[digest];
  if (!m) return undefined;
  const children = imagesOf(record, m);
  const described = describedBy(m, children);
  const signatures = signaturesOf(record, digest);
  return {
    RepoName: record.name,
    Tag: tag,
    Digest: digest,
    MediaType: m.mediaType,
    Manifests: children.map((c) => manifestView(record, c)),
    Size: String(imageSize(record, m)),
    DownloadCount: 0,
    LastPullTimestamp: null,
    PushTimestamp: iso(m.pushedAt),
    PushedBy: '',
    TaggedTimestamp: iso(record.tags[tag]?.taggedAt),
    LastUpdated: iso(createdAt(record, m)),
    Description: annotation(described, 'org.opencontainers.image.description', 'org.label-schema.description'),
    IsSigned: signatures.length > 0,
    SignatureInfo: signatures,
    Licenses: annotation(described, 'org.opencontainers.image.licenses', 'org.label-schema.license'),
    Labels: annotation(described, 'org.label-schema.labels'),
    Title: annotation(described, 'org.opencontainers.image.title', 'org.label-schema.name'),
    Source: annotation(described, 'org.opencontainers.image.source', 'org.label-schema.vcs-url'),
    Documentation: annotation(described, 'org.opencontainers.image.documentation', 'org.label-schema.usage'),
    Vendor: imageVendor(record, digest),
    Authors: described.annotations['org.opencontainers.image.authors'] ?? '',
    Referrers: referrersOf(record, digest),
    IsDeletable: false,
    ArtifactType: m.artifactType ?? m.config?.mediaType ?? '',
  };
}

/** Tagged images, excluding cosign's signature and attestation tags (Zot does not list them as images). */
export function taggedImages(record: RepoRecord): Array<{ tag: string; digest: string }> {
  return Object.entries(record.tags)
    .filter(([tag]) => !/^sha256-[0-9a-f]{64}\.(sig|att|sbom)$/.test(tag))
    .filter(([, t]) => record.manifests[t.digest] !== undefined)
    .map(([tag, t]) => ({ tag, digest: t.digest }));
}
