/**
 * `storage.storageDriver` for `name: "s3"`: Zot hands these keys to CNCF Distribution's s3-aws driver, so they
 * mean what they mean there (registry/storage/driver/s3-aws/s3.go), with its defaults. A value that driver
 * would refuse stops start-up here, naming the key.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { isIP } from 'node:net';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { zot } from '../../core/extensions/api';
import { caBundle, optionalString as str } from '../aws/client-options';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** S3's smallest part (all but the last) and largest part / single copy. */
export const MIN_PART = 5 * MiB;
export const MAX_PART = 5 * GiB;
/**
 * The slowest upload to S3 a request body is given time for, on top of `responsetimeout`: a part of
 * `chunksize` bytes may take that long to send before S3 can answer.
 */
export const MIN_UPLOAD_BYTES_PER_SECOND = 1 * MiB;

export interface S3Options {
  bucket: string;
  /**
   * Key prefix of every path, as Zot's keys have it: the driver's `rootdirectory`, then the image store's
   * root, each without its slashes and followed by '/'. Distribution's driver prefixes every key with its
   * `rootdirectory` (s3-aws/s3.go s3Path), and Zot's image store roots every path it builds at the default
   * store's `storageDriver.rootdirectory` (pkg/storage/storage.go New and getSubStore; '/' when unset). So the
   * default store's `/zot` gives `zot/zot/<repo>/…`, and a `subPaths` store with `/team` under it gives
   * `team/zot/<repo>/…`. berth uses the same keys, uploads included, to serve and write a bucket Zot wrote.
   */
  prefix: string;
  chunkSize: number;
  multipartCopyChunkSize: number;
  multipartCopyMaxConcurrency: number;
  multipartCopyThresholdSize: number;
  /** Sent with every object written; undefined when `storageclass` is NONE (the bucket's default). */
  storageClass?: string;
  objectAcl?: string;
  encrypt: boolean;
  keyId?: string;
  /** `responsetimeout` in ms: how long a request may wait for S3's response headers (see timeoutFor). */
  responseTimeoutMs: number;
  /** `connecttimeout` in ms. */
  connectTimeoutMs: number;
  /** What the https agent verifies S3's certificate with, for the connections raw-get.ts opens itself. */
  tls: { rejectUnauthorized: boolean; ca?: Buffer };
  client: S3ClientConfig;
}

/** A configuration error naming the key, as `berth verify` and start-up report it. */
export class S3ConfigError extends Error {
  constructor(key: string, message: string) {
    super(`storage.storageDriver.${key}: ${message}`);
    this.name = 'S3ConfigError';
  }
}


const bool = (p: Record<string, unknown>, key: string, dflt: boolean): boolean => {
  const v = p[key];
  if (v === undefined || v === null || v === '') return dflt;
  if (typeof v === 'boolean') return v;
  const s = String(v).toLowerCase();
  if (['true', '1', 't'].includes(s)) return true;
  if (['false', '0', 'f'].includes(s)) return false;
  throw new S3ConfigError(key, `expected a boolean, got ${JSON.stringify(v)}`);
};

const int = (p: Record<string, unknown>, key: string, dflt: number, min: number, max: number): number => {
  const v = p[key];
  if (v === undefined || v === null || v === '') return dflt;
  const n = typeof v === 'number' ? v : Number(String(v));
  if (!Number.isSafeInteger(n)) throw new S3ConfigError(key, `expected an integer, got ${JSON.stringify(v)}`);
  if (n < min || n > max) throw new S3ConfigError(key, `${n} is outside ${min}..${max}`);
  return n;
};

const duration = (p: Record<string, unknown>, key: string, dflt: number): number => {
  const v = p[key];
  if (v === undefined || v === null || v === '') return dflt;
  const parsed = zot.duration.safeParse(v);
  if (!parsed.success) throw new S3ConfigError(key, parsed.error.issues[0]?.message ?? 'expected a duration such as "30s"');
  if (parsed.data <= 0) throw new S3ConfigError(key, 'must be more than 0');
  return parsed.data;
};

/**
 * `imageStoreRoot` is the driver factory option of that name; left out (a driver used on its own,
 * as the conformance suite does), the driver's `rootdirectory` stands for it, as for Zot's default store.
 */
export function parseS3Options(params: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env, imageStoreRoot?: string): S3Options {
  const bucket = str(params, 'bucket');
  if (!bucket) throw new S3ConfigError('bucket', 'required for the s3 driver');
  const endpointParam = str(params, 'regionendpoint');
  const region = str(params, 'region') ?? (endpointParam ? 'us-east-1' : undefined);
  if (!region) throw new S3ConfigError('region', 'required for the s3 driver unless regionendpoint is set');
  if (!bool(params, 'v4auth', true)) {
    throw new S3ConfigError('v4auth', 'false asks for AWS Signature Version 2, which this driver does not speak (every S3 region accepts Version 4)');
  }
  const secure = bool(params, 'secure', true);
  const skipVerify = bool(params, 'skipverify', false);
  const endpoint = endpointParam === undefined ? undefined : /^[a-z][a-z0-9+.-]*:\/\//i.test(endpointParam) ? endpointParam : `${secure ? 'https' : 'http'}://${endpointParam}`;
  // As the SDK does on its own: a bucket cannot be a host name below an IP address.
  const ipEndpoint = endpoint !== undefined && isIP(new URL(endpoint).hostname.replace(/^\[|\]$/g, '')) !== 0;
  const forcePathStyle = bool(params, 'forcepathstyle', false) || ipEndpoint;

  const accessKeyId = str(params, 'accesskey');
  const secretAccessKey = str(params, 'secretkey');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new S3ConfigError(accessKeyId === undefined ? 'accesskey' : 'secretkey', 'accesskey and secretkey go together (leave both out for the AWS default credential chain)');
  }
  const sessionToken = str(params, 'sessiontoken');

  const storageClass = (str(params, 'storageclass') ?? 'STANDARD').toUpperCase();
  const encrypt = bool(params, 'encrypt', false);
  const keyId = str(params, 'keyid');
  const root = trimSlashes(str(params, 'rootdirectory') ?? '');
  const chunkSize = int(params, 'chunksize', 10 * MiB, MIN_PART, MAX_PART);
  // berth's own keys (Distribution's driver has neither and waits as long as the OS lets it): a server that
  // accepts the connection and never answers fails the request (an outage: 503 with Retry-After) instead of
  // holding it forever. Connecting gets Go's default dialer timeout, which Zot's S3 client has.
  const connectTimeoutMs = duration(params, 'connecttimeout', 30_000);
  const responseTimeoutMs = duration(params, 'responsetimeout', 30_000);
  const tls = { rejectUnauthorized: !skipVerify, ...caBundle(env) };

  return {
    bucket,
    prefix: keyPrefix(root, imageStoreRoot === undefined ? root : trimSlashes(imageStoreRoot)),
    chunkSize,
    multipartCopyChunkSize: int(params, 'multipartcopychunksize', 32 * MiB, MIN_PART, MAX_PART),
    multipartCopyMaxConcurrency: int(params, 'multipartcopymaxconcurrency', 100, 1, 10_000),
    multipartCopyThresholdSize: int(params, 'multipartcopythresholdsize', 32 * MiB, 0, MAX_PART),
    ...(storageClass === 'NONE' ? {} : { storageClass }),
    ...(str(params, 'objectacl') ? { objectAcl: str(params, 'objectacl') } : {}),
    encrypt,
    ...(keyId ? { keyId } : {}),
    responseTimeoutMs,
    connectTimeoutMs,
    tls,
    client: {
      region,
      ...(endpoint ? { endpoint } : {}),
      forcePathStyle,
      useDualstackEndpoint: bool(params, 'usedualstack', false),
      useAccelerateEndpoint: bool(params, 'accelerate', false),
      useFipsEndpoint: bool(params, 'usefipsendpoint', false),
      // Distribution appends it to the SDK's own User-Agent; so does customUserAgent.
      ...(str(params, 'useragent') ? { customUserAgent: str(params, 'useragent') } : {}),
      // Undefined credentials: the SDK's default chain (env, shared files, SSO, web identity, ECS, IMDS).
      ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } } : {}),
      // Checksums only where S3 requires them: S3-compatible servers (MinIO of old, s3rver) store or refuse
      // the aws-chunked framing a streamed body gets otherwise; parts are Buffers, signed with their SHA-256.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: connectTimeoutMs,
        // Until the response headers: a streamed GET body then goes at the pace of the client reading it.
        requestTimeout: responseTimeoutMs,
        throwOnRequestTimeout: true,
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 128 }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 128, ...tls }),
      },
    },
  };
}

const trimSlashes = (path: string): string => path.replace(/^\/+|\/+$/g, '');

const keyPrefix = (...roots: string[]): string => roots.filter((r) => r !== '').map((r) => `${r}/`).join('');
