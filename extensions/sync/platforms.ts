/** An index entry's `platform` (OCI image-spec). */
export interface Platform {
  os?: string;
  architecture?: string;
  variant?: string;
}

/** Whether periodic sync copies the index entry with this platform. */
export type PlatformFilter = (platform: Platform | undefined) => boolean;

export const ALL_PLATFORMS: PlatformFilter = () => true;

function parse(spec: string): Platform {
  const parts = spec.split('/');
  if (parts.length === 1) return { architecture: parts[0] };
  return { os: parts[0], architecture: parts[1], variant: parts[2] };
}

/**
 * The `platforms` allowlist of Zot's sync (zot PR #3128): an entry is copied when some spec names its
 * architecture and, where the spec says, its OS, and its variant where both say one. An entry without a
 * platform (an artifact, not an image) is always copied. No list, or an empty one: every platform.
 */
export function platformFilter(specs: string[] | undefined): PlatformFilter {
  if (!specs || specs.length === 0) return ALL_PLATFORMS;
  const wanted = specs.map(parse);
  return (p) => {
    if (!p) return true;
    return wanted.some((w) => w.architecture === p.architecture && (!w.os || w.os === p.os) && (!w.variant || !p.variant || w.variant === p.variant));
  };
}
