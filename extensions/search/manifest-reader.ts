/**
 * Reads one stored manifest (and an image's config) through the registry facade into a {@link ManifestMeta}.
 * Only the manifest and the config JSON are read, never a layer; a config larger than {@link MAX_CONFIG} is
 * not read (its platform, labels and history stay unknown) rather than held in memory.
 */
import type { RegistryFacade, StoredManifest } from '../../core/extensions/api';
import type { HistoryMeta, ManifestMeta, PlatformMeta } from './meta-model';

const MAX_CONFIG = 4 * 1024 * 1024;

interface RawDescriptor {
  mediaType?: string;
  digest?: string;
  size?: number;
  platform?: { os?: string; architecture?: string; variant?: string };
}
interface RawManifest {
  mediaType?: string;
  artifactType?: string;
  config?: RawDescriptor;
  layers?: RawDescriptor[];
  manifests?: RawDescriptor[];
  subject?: RawDescriptor;
  annotations?: Record<string, string>;
}
interface RawConfig {
  created?: string;
  os?: string;
  architecture?: string;
  variant?: string;
  config?: { Labels?: Record<string, string> | null };
  history?: Array<{ created?: string; created_by?: string; author?: string; comment?: string; empty_layer?: boolean }>;
}

export const platformOf = (p: { os?: string; architecture?: string; variant?: string } | undefined): PlatformMeta | undefined =>
  p?.os || p?.architecture ? { os: p.os ?? '', arch: p.variant ? `${p.architecture ?? ''}/${p.variant}` : p.architecture ?? '' } : undefined;

/** The manifest `reference` of `repo` as search keeps it, or undefined when it is not stored or not JSON. */
export async function readManifest(registry: RegistryFacade, repo: string, reference: string, now: number): Promise<ManifestMeta | undefined> {
  const stored = await registry.getManifest(repo, reference);
  return stored ? manifestMeta(registry, repo, stored, now) : undefined;
}

/**
 * A manifest whose bytes are at hand (a `manifest.stored` event carries them) as search keeps it: only an
 * image's config is read from storage. Undefined when the bytes are not JSON.
 */
export async function manifestMeta(registry: RegistryFacade, repo: string, stored: StoredManifest, now: number): Promise<ManifestMeta | undefined> {
  let raw: RawManifest;
  try {
    raw = JSON.parse(stored.bytes.toString('utf8')) as RawManifest;
  } catch {
    return undefined;
  }
  const meta: ManifestMeta = {
    digest: stored.digest,
    mediaType: stored.mediaType || raw.mediaType || '',
    size: stored.bytes.length,
    annotations: raw.annotations ?? {},
    pushedAt: now,
    ...(raw.artifactType ? { artifactType: raw.artifactType } : {}),
    ...(raw.subject?.digest ? { subject: raw.subject.digest } : {}),
  };
  if (Array.isArray(raw.manifests)) {
    meta.children = raw.manifests
      .filter((d) => typeof d.digest === 'string')
      .map((d) => ({ digest: d.digest!, ...(platformOf(d.platform) ? { platform: platformOf(d.platform)! } : {}) }));
    return meta;
  }
  if (raw.config?.digest) meta.config = { digest: raw.config.digest, size: raw.config.size ?? 0, mediaType: raw.config.mediaType ?? '' };
  meta.layers = (raw.layers ?? []).filter((l) => typeof l.digest === 'string').map((l) => ({ digest: l.digest!, size: l.size ?? 0 }));
  const config = raw.config?.digest && (raw.config.size ?? 0) <= MAX_CONFIG ? await readConfig(registry, repo, raw.config.digest) : undefined;
  if (config) {
    const platform = platformOf(config);
    if (platform) meta.platform = platform;
    if (config.created) meta.created = config.created;
    meta.labels = config.config?.Labels ?? {};
    meta.history = (config.history ?? []).map((h): HistoryMeta => ({
      ...(h.created ? { created: h.created } : {}),
      ...(h.created_by ? { createdBy: h.created_by } : {}),
      ...(h.author ? { author: h.author } : {}),
      ...(h.comment ? { comment: h.comment } : {}),
      emptyLayer: h.empty_layer === true,
    }));
  }
  return meta;
}

async function readConfig(registry: RegistryFacade, repo: string, digest: string): Promise<RawConfig | undefined> {
  const blob = await registry.openBlob(repo, digest);
  if (!blob) return undefined;
  if (blob.size > MAX_CONFIG) {
    blob.stream.destroy();
    return undefined;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of blob.stream) chunks.push(chunk as Buffer);
  try {
    const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as RawConfig) : undefined;
  } catch {
    return undefined; // an artifact's config need not be JSON
  }
}
