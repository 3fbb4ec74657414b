import type { RegistryEvents, RequestOrigin } from '../../core/extensions/api';

/**
 * The CloudEvents `type` of each registry event, after the prefix (`zotregistry` unless `typePrefix` says
 * otherwise). The first three are Zot's names and data; the rest are berth's, in Zot's style.
 */
export const EVENT_TYPES = {
  repositoryCreated: 'repository.created',
  imageUpdated: 'image.updated',
  imageDeleted: 'image.deleted',
  imagePulled: 'image.pulled',
  imageSynced: 'image.synced',
  imageSyncFailed: 'image.sync_failed',
  imageScrubbed: 'image.scrubbed',
} as const;

export type EventType = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];
export type Publish = (type: EventType, data: Record<string, unknown>) => void;

/** Turns the registry's events into CloudEvents data, with Zot's field names (`name` is the repository). */
export function followRegistryEvents(events: RegistryEvents, publish: Publish): void {
  events.on('repository.created', (e) => publish(EVENT_TYPES.repositoryCreated, { name: e.repo, ...originData(e.origin) }));
  events.on('manifest.stored', (e) => publish(EVENT_TYPES.imageUpdated, {
    name: e.repo,
    // As Zot: a push by digest names the digest as its reference.
    reference: e.tag ?? e.digest,
    digest: e.digest,
    mediaType: e.mediaType,
    manifest: e.bytes.toString('utf8'),
    ...originData(e.origin),
  }));
  events.on('manifest.deleted', (e) => publish(EVENT_TYPES.imageDeleted, {
    name: e.repo,
    reference: e.tag ?? e.digest,
    digest: e.digest,
    mediaType: e.mediaType,
    ...originData(e.origin),
  }));
  events.on('image.pulled', (e) => publish(EVENT_TYPES.imagePulled, { name: e.repo, reference: e.reference, digest: e.digest }));
  events.on('sync.result', (e) => {
    const common = { name: e.repo, reference: e.tag, upstream: e.upstream, upstreamName: e.upstreamRepo };
    if (e.status === 'synced') publish(EVENT_TYPES.imageSynced, { ...common, digest: e.digest });
    else publish(EVENT_TYPES.imageSyncFailed, { ...common, error: e.error });
  });
  events.on('scrub.result', (e) => publish(EVENT_TYPES.imageScrubbed, {
    name: e.repo,
    ...(e.reference !== undefined ? { reference: e.reference } : {}),
    digest: e.digest,
    status: e.status,
    ...(e.blob !== undefined ? { blob: e.blob } : {}),
  }));
}

/** Zot's `actor` and `request` fields (pkg/api/routes.go eventContextFromRequest). */
function originData(origin: RequestOrigin | undefined): Record<string, unknown> {
  if (!origin) return {};
  return {
    ...(origin.user ? { actor: { name: origin.user } } : {}),
    request: { addr: origin.addr, method: origin.method, useragent: origin.userAgent ?? '' },
  };
}
