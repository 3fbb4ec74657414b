import { NameInvalid, TagInvalid } from './errors';

// distribution-spec "Pulling manifests": <name> must match this; path components joined by '/'.
const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const MAX_NAME = 255;

// Names that would collide with Zot's layout entries inside the root directory.
const RESERVED_SEGMENTS = new Set(['blobs', 'index.json', 'oci-layout', '_uploads', '.uploads', '.sync']);

export function isRepositoryName(name: string): boolean {
  return name.length <= MAX_NAME && NAME.test(name);
}

/** Validates a repository name against the spec grammar before it touches a path. */
export function assertRepositoryName(name: string): string {
  if (!isRepositoryName(name)) throw NameInvalid({ name, reason: 'does not match the distribution-spec name grammar' });
  if (name.split('/').some((s) => RESERVED_SEGMENTS.has(s))) throw NameInvalid({ name, reason: 'uses a reserved path component' });
  return name;
}

export function isTag(value: string): boolean {
  return TAG.test(value);
}

export function assertTag(tag: string): string {
  if (!TAG.test(tag)) throw TagInvalid({ tag, reason: 'does not match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}' });
  return tag;
}
