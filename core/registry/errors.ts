/**
 * Registry errors, declared once with their OCI code, HTTP status and message, and rendered once by the
 * HTTP edge (core/http/error-middleware.ts). Code inside the registry throws these and never picks a status.
 */
export class RegistryError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly detail?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'RegistryError';
  }

  toJSON(): { code: string; message: string; detail?: unknown } {
    return this.detail === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, detail: this.detail };
  }
}

export interface RegistryErrorDescriptor {
  (detail?: unknown, headers?: Record<string, string>): RegistryError;
  readonly code: string;
  readonly status: number;
}

export function defineRegistryError(code: string, status: number, message: string): RegistryErrorDescriptor {
  const make = (detail?: unknown, headers?: Record<string, string>) => new RegistryError(code, status, message, detail, headers);
  return Object.assign(make, { code, status });
}

// The distribution-spec's error codes (section "Error Codes") with the statuses its endpoint table gives.
export const BlobUnknown = defineRegistryError('BLOB_UNKNOWN', 404, 'blob unknown to registry');
export const BlobUploadInvalid = defineRegistryError('BLOB_UPLOAD_INVALID', 400, 'blob upload invalid');
export const BlobUploadUnknown = defineRegistryError('BLOB_UPLOAD_UNKNOWN', 404, 'blob upload unknown to registry');
export const DigestInvalid = defineRegistryError('DIGEST_INVALID', 400, 'provided digest did not match uploaded content');
export const ManifestBlobUnknown = defineRegistryError('MANIFEST_BLOB_UNKNOWN', 400, 'manifest references a manifest or blob unknown to registry');
export const ManifestInvalid = defineRegistryError('MANIFEST_INVALID', 400, 'manifest invalid');
export const ManifestUnknown = defineRegistryError('MANIFEST_UNKNOWN', 404, 'manifest unknown to registry');
export const NameInvalid = defineRegistryError('NAME_INVALID', 400, 'invalid repository name');
export const NameUnknown = defineRegistryError('NAME_UNKNOWN', 404, 'repository name not known to registry');
export const SizeInvalid = defineRegistryError('SIZE_INVALID', 400, 'provided length did not match content length');
export const ManifestTooLarge = defineRegistryError('SIZE_INVALID', 413, 'manifest exceeds the size limit');
export const Unauthorized = defineRegistryError('UNAUTHORIZED', 401, 'authentication required');
export const Denied = defineRegistryError('DENIED', 403, 'requested access to the resource is denied');
export const Unsupported = defineRegistryError('UNSUPPORTED', 405, 'the operation is unsupported');
export const UnsupportedMediaType = defineRegistryError('MANIFEST_INVALID', 415, 'manifest media type not supported');
export const TooManyRequests = defineRegistryError('TOOMANYREQUESTS', 429, 'too many requests');
export const RangeInvalid = defineRegistryError('BLOB_UPLOAD_INVALID', 416, 'requested range not satisfiable');
export const PaginationInvalid = defineRegistryError('PAGINATION_NUMBER_INVALID', 400, 'invalid number of results requested');
export const TagInvalid = defineRegistryError('TAG_INVALID', 400, 'manifest tag did not match URI');
export const NotFound = defineRegistryError('NOT_FOUND', 404, 'not found');
export const Unavailable = defineRegistryError('UNAVAILABLE', 503, 'service unavailable');

/**
 * Uncached content whose upstream could not be asked: Distribution's UNAVAILABLE (503, with Retry-After), not
 * a 404 that would tell a kubelet the image does not exist; containerd tries its next host on either.
 */
export function upstreamUnreachable(upstream: string, detail: Record<string, unknown>, retryAfterSeconds: number): RegistryError {
  // The cause (a socket error naming internal addresses) goes to the operator's log, not to every client.
  return new RegistryError('UNAVAILABLE', 503, `upstream ${upstream} could not be reached and the content is not cached`, { ...detail, upstream }, { 'Retry-After': String(retryAfterSeconds) });
}

/** Maps anything thrown to a RegistryError; unknown errors become 500 UNKNOWN (and are logged by the edge). */
export function toRegistryError(err: unknown): { error: RegistryError; unexpected: boolean } {
  if (err instanceof RegistryError) return { error: err, unexpected: false };
  const status = (err as { status?: number; expose?: boolean })?.status;
  if (typeof status === 'number' && status >= 400 && status < 500 && (err as { expose?: boolean }).expose) {
    // koa's own http-errors (bad JSON bodies, 404 for unknown routes).
    return { error: new RegistryError(status === 404 ? 'NOT_FOUND' : 'UNSUPPORTED', status, (err as Error).message), unexpected: false };
  }
  return { error: new RegistryError('UNKNOWN', 500, 'internal server error'), unexpected: true };
}
