import type { Descriptor } from '../extensions/api';
import { MediaTypes } from './media-types';

export const REF_NAME = 'org.opencontainers.image.ref.name';

/** A repository's index.json as Zot writes it: one descriptor per (manifest, tag); untagged manifests have no ref name. */
export interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export function emptyIndex(): OciIndex {
  return { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] };
}

export function tagOf(d: Descriptor): string | undefined {
  return d.annotations?.[REF_NAME];
}

export function findByTag(index: OciIndex, tag: string): Descriptor | undefined {
  return index.manifests.find((d) => tagOf(d) === tag);
}

export function findByDigest(index: OciIndex, digest: string): Descriptor | undefined {
  return index.manifests.find((d) => d.digest === digest);
}

export function tagsOf(index: OciIndex): string[] {
  const tags = new Set<string>();
  for (const d of index.manifests) {
    const t = tagOf(d);
    if (t !== undefined) tags.add(t);
  }
  return [...tags].sort();
}

/** Points `tag` (or, without a tag, an untagged entry) at `desc`; a manifest the tag leaves stays as untagged. */
export function setManifest(index: OciIndex, desc: Descriptor, tag: string | undefined): OciIndex {
  let manifests = index.manifests;
  if (tag !== undefined) {
    const previous = manifests.find((d) => tagOf(d) === tag);
    manifests = manifests.filter((d) => tagOf(d) !== tag);
    if (previous && previous.digest !== desc.digest) manifests = keepUntagged(manifests, previous);
    // The untagged entry for this digest is superseded by the tagged one.
    manifests = manifests.filter((d) => !(d.digest === desc.digest && tagOf(d) === undefined));
    manifests.push({ ...desc, annotations: { ...desc.annotations, [REF_NAME]: tag } });
  } else if (!manifests.some((d) => d.digest === desc.digest)) {
    manifests = [...manifests, desc];
  }
  return { ...index, manifests };
}

/** Removes a tag; its manifest stays, untagged, if nothing else names it. */
export function removeTag(index: OciIndex, tag: string): OciIndex {
  const previous = findByTag(index, tag);
  if (!previous) return index;
  const manifests = keepUntagged(index.manifests.filter((d) => tagOf(d) !== tag), previous);
  return { ...index, manifests };
}

export function removeDigest(index: OciIndex, digest: string): OciIndex {
  return { ...index, manifests: index.manifests.filter((d) => d.digest !== digest) };
}

function keepUntagged(manifests: Descriptor[], previous: Descriptor): Descriptor[] {
  if (manifests.some((d) => d.digest === previous.digest)) return manifests;
  const annotations = { ...previous.annotations };
  delete annotations[REF_NAME];
  const untagged: Descriptor = { ...previous, annotations };
  if (Object.keys(annotations).length === 0) delete untagged.annotations;
  return [...manifests, untagged];
}
