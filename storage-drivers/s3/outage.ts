/**
 * S3 failing (unreachable, timing out, answering 5xx or SlowDown after the SDK's own retries) is an outage,
 * not berth's bug: the request that needed it answers 503 UNAVAILABLE with Retry-After, as the Redis and
 * DynamoDB MetaStores do, so clients retry instead of seeing a 500. 4xx answers (missing keys, refused
 * credentials, a missing bucket) pass through unchanged.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { RegistryError } from '../../core/extensions/api';

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED',
]);

export function isOutage(err: unknown): boolean {
  const e = err as { code?: string; name?: string; $metadata?: { httpStatusCode?: number } } | null;
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || status === 429;
  return NETWORK_CODES.has(e?.code ?? '') || e?.name === 'TimeoutError' || e?.name === 'SlowDown';
}

export function s3Unavailable(where: string, cause: unknown): RegistryError {
  const why = (cause as Error).message || (cause as Error).name || String(cause);
  const err = new RegistryError('UNAVAILABLE', 503, `the storage (S3 ${where}) cannot be reached: ${why}`, undefined, { 'Retry-After': '1' });
  (err as Error & { cause?: unknown }).cause = cause;
  return err;
}

/** Maps outages on every command the client sends (the driver's, its writer's, its upload state's). */
export function mapOutages(client: S3Client, where: string): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        throw isOutage(err) ? s3Unavailable(where, err) : err;
      }
    },
    { step: 'initialize', name: 'berthOutageToUnavailable' },
  );
}
