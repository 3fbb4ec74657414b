import type { Descriptor } from '../extensions/api';
import { isDigest } from './digest';
import { ManifestInvalid, ManifestTooLarge, UnsupportedMediaType } from './errors';
import { MANIFEST_MEDIA_TYPES, MediaTypes, isIndexMediaType } from './media-types';

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** What the registry needs to know of a manifest: kept small and cached by digest (content never changes). */
export interface ManifestInfo {
  mediaType: string;
  size: number;
  /** Blobs (config + layers) an image manifest needs, minus non-distributable layers with `urls`. */
  blobs: string[];
  /** Child manifests an index lists. */
  children: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

interface RawManifest {
  schemaVersion?: unknown;
  mediaType?: unknown;
  artifactType?: unknown;
  config?: Partial<Descriptor>;
  layers?: Array<Partial<Descriptor> & { urls?: unknown }>;
  manifests?: Partial<Descriptor>[];
  subject?: Partial<Descriptor>;
  annotations?: Record<string, string>;
}

/**
 * Parses a pushed manifest and checks it against the image-spec shape. `contentType` is the request's
 * Content-Type; the body's own `mediaType`, when present, must agree with it.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ManifestInfo {
  if (bytes.length > MAX_MANIFEST_BYTES) throw ManifestTooLarge({ size: bytes.length, limit: MAX_MANIFEST_BYTES });
  let raw: RawManifest;
  try {
    raw = JSON.parse(bytes.toString('utf8')) as RawManifest;
  } catch (err) {
    throw ManifestInvalid({ reason: `invalid JSON: ${(err as Error).message}` });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw ManifestInvalid({ reason: 'manifest is not a JSON object' });
  const declared = typeof raw.mediaType === 'string' ? raw.mediaType : undefined;
  const header = contentType?.split(';')[0].trim() || undefined;
  const mediaType = declared ?? (header && MANIFEST_MEDIA_TYPES.has(header) ? header : guessMediaType(raw));
  if (!MANIFEST_MEDIA_TYPES.has(mediaType)) throw UnsupportedMediaType({ mediaType });
  if (declared && header && MANIFEST_MEDIA_TYPES.has(header) && header !== declared) {
    throw ManifestInvalid({ reason: `Content-Type ${header} does not match the manifest's mediaType ${declared}` });
  }
  if (raw.schemaVersion !== 2) throw ManifestInvalid({ reason: 'schemaVersion must be 2' });
  const info: ManifestInfo = { mediaType, size: bytes.length, blobs: [], children: [] };
  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(raw.manifests)) throw ManifestInvalid({ reason: 'an index needs a manifests array' });
    info.children = raw.manifests.map((d, i) => descriptor(d, `manifests[${i}]`));
  } else {
    if (!raw.config) throw ManifestInvalid({ reason: 'an image manifest needs a config descriptor' });
    if (!Array.isArray(raw.layers)) throw ManifestInvalid({ reason: 'an image manifest needs a layers array' });
    const config = descriptor(raw.config, 'config');
    info.blobs.push(config.digest);
    raw.layers.forEach((l, i) => {
      const layer = descriptor(l, `layers[${i}]`);
      // Non-distributable ("foreign") layers are fetched from their urls, never pushed.
      if (!(Array.isArray(l.urls) && l.urls.length > 0)) info.blobs.push(layer.digest);
    });
    info.artifactType = typeof raw.artifactType === 'string' ? raw.artifactType : config.mediaType;
  }
  if (isIndexMediaType(mediaType) && typeof raw.artifactType === 'string') info.artifactType = raw.artifactType;
  if (raw.subject !== undefined) info.subject = descriptor(raw.subject, 'subject');
  if (raw.annotations && typeof raw.annotations === 'object') info.annotations = raw.annotations;
  return info;
}

function guessMediaType(raw: RawManifest): string {
  if (Array.isArray(raw.manifests)) return MediaTypes.ociIndex;
  if (raw.config) return MediaTypes.ociManifest;
  return 'unknown';
}

function descriptor(d: Partial<Descriptor> & { urls?: unknown } | undefined, where: string): Descriptor {
  if (!d || typeof d !== 'object') throw ManifestInvalid({ reason: `${where} is not a descriptor` });
  if (typeof d.digest !== 'string' || !isDigest(d.digest)) throw ManifestInvalid({ reason: `${where}.digest is not a valid digest` });
  if (typeof d.size !== 'number' || !Number.isInteger(d.size) || d.size < 0) throw ManifestInvalid({ reason: `${where}.size is not a valid size` });
  if (typeof d.mediaType !== 'string') throw ManifestInvalid({ reason: `${where}.mediaType is missing` });
  return d as Descriptor;
}
