/**
 * The S3 calls the driver makes, on keys below the configured prefix, with the write options (storage class,
 * encryption, ACL) every new object gets. Missing keys surface as errors with code 'ENOENT', as the driver
 * contract wants; everything else (a missing bucket included) passes through unchanged.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import type * as Presigner from '@aws-sdk/s3-request-presigner';
import { NodeHttpHandler, type NodeHttpHandlerOptions } from '@smithy/node-http-handler';
import type { Readable, Writable } from 'node:stream';
import { MAX_PART, MIN_UPLOAD_BYTES_PER_SECOND, type S3Options } from './options';
import { isOutage, mapOutages, s3Unavailable } from './outage';
import { RAW_GET, RawBody, RawGetHandler, RawGetUnsupported } from './raw-get';

export interface ObjectInfo {
  size: number;
  modified: Date;
}

export interface Part {
  PartNumber: number;
  ETag: string;
}

/** Presigned blob URLs live as long as Distribution's (20 minutes). */
const PRESIGN_SECONDS = 20 * 60;

export function notFound(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`no such path: ${path}`), { code: 'ENOENT', path });
}

export function isMissingKey(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name;
  return name === 'NoSuchKey' || name === 'NotFound';
}

/** S3-compatible servers without AbortMultipartUpload (s3rver answers 405): the parts then expire by lifecycle. */
function isUnsupported(err: unknown): boolean {
  const status = (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  return status === 405 || status === 501;
}

export class Objects {
  readonly client: S3Client;
  readonly chunkSize: number;
  /** The server answered a GET without Content-Length once: sendTo reads the SDK's way from then on. */
  #rawUnsupported = false;

  constructor(readonly opts: S3Options) {
    // The SDK's own handler, wrapped: GETs sent with RAW_GET (sendTo) go through reused buffers (raw-get.ts).
    const handler = new RawGetHandler(new NodeHttpHandler(opts.client.requestHandler as NodeHttpHandlerOptions), {
      connectTimeoutMs: opts.connectTimeoutMs,
      responseTimeoutMs: opts.responseTimeoutMs,
      tls: opts.tls,
    });
    this.client = new S3Client({ ...opts.client, requestHandler: handler });
    this.chunkSize = opts.chunkSize;
    mapOutages(this.client, where(opts));
  }

  /** The wait for S3's answer to a request sending `bytes`: `responsetimeout`, plus the body's time at the slowest rate allowed. */
  private timeoutFor(bytes: number): { requestTimeout: number } {
    return { requestTimeout: this.opts.responseTimeoutMs + Math.ceil((bytes / MIN_UPLOAD_BYTES_PER_SECOND) * 1000) };
  }

  /** The key of a driver path ('' is the prefix itself, for listings). */
  key(path: string): string {
    return this.opts.prefix + path;
  }

  /** The driver path of a key below the prefix. */
  path(key: string): string {
    return key.slice(this.opts.prefix.length);
  }

  private get writeParams() {
    const o = this.opts;
    return {
      Bucket: o.bucket,
      ContentType: 'application/octet-stream',
      ...(o.storageClass ? { StorageClass: o.storageClass as 'STANDARD' } : {}),
      ...(o.objectAcl ? { ACL: o.objectAcl as 'private' } : {}),
      ...(o.encrypt ? { ServerSideEncryption: o.keyId ? ('aws:kms' as const) : ('AES256' as const), ...(o.keyId ? { SSEKMSKeyId: o.keyId } : {}) } : {}),
    };
  }

  async head(path: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.opts.bucket, Key: this.key(path) }));
      return { size: out.ContentLength ?? 0, modified: out.LastModified ?? new Date(0) };
    } catch (err) {
      if (isMissingKey(err)) return undefined;
      throw err;
    }
  }

  /** The object's bytes from `start` to `end` (inclusive), streamed. */
  async read(path: string, start = 0, end?: number): Promise<Readable> {
    const range = start === 0 && end === undefined ? undefined : `bytes=${start}-${end ?? ''}`;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.key(path), ...(range ? { Range: range } : {}) }));
      return out.Body as Readable;
    } catch (err) {
      if (isMissingKey(err)) throw notFound(path);
      throw err;
    }
  }

  /**
   * Writes the object (or bytes `start`..`end`) into `dest` from reused buffers; resolves with the bytes written
   * once `dest` accepted them all. A server that answers a GET without Content-Length is read as a stream instead.
   */
  async sendTo(path: string, dest: Writable, start = 0, end?: number): Promise<number> {
    if (this.#rawUnsupported) return pipeInto(await this.read(path, start, end), dest);
    const range = start === 0 && end === undefined ? undefined : `bytes=${start}-${end ?? ''}`;
    let body: Readable;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.key(path), ...(range ? { Range: range } : {}) }), { [RAW_GET]: true } as object);
      body = out.Body as Readable;
    } catch (err) {
      if (isMissingKey(err)) throw notFound(path);
      if (!(err instanceof RawGetUnsupported)) throw err;
      this.#rawUnsupported = true;
      return pipeInto(await this.read(path, start, end), dest);
    }
    if (!(body instanceof RawBody)) return pipeInto(body, dest);
    try {
      return await body.sendTo(dest);
    } catch (err) {
      // After the SDK's part: S3 failing mid-body is an outage too (503 if nothing was sent yet); a client
      // that went away is not.
      throw isOutage(err) && !dest.destroyed ? s3Unavailable(where(this.opts), err) : err;
    }
  }

  async getBytes(path: string): Promise<Buffer> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.key(path) }));
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (err) {
      if (isMissingKey(err)) throw notFound(path);
      throw err;
    }
  }

  async put(path: string, data: Buffer): Promise<void> {
    await this.client.send(new PutObjectCommand({ ...this.writeParams, Key: this.key(path), Body: data, ContentLength: data.length }), this.timeoutFor(data.length));
  }

  async deleteOne(path: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: this.key(path) }));
  }

  /** Deletes up to 1000 keys in one request; a key that failed is retried alone, so an error names it. */
  async deleteKeys(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    const out = await this.client.send(
      new DeleteObjectsCommand({ Bucket: this.opts.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }),
    );
    for (const failed of out.Errors ?? []) {
      if (failed.Key) await this.client.send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: failed.Key }));
    }
  }

  /** Pages of a listing below `prefix` (a key prefix), flat or grouped by '/'. */
  async *list(prefix: string, delimiter?: '/'): AsyncGenerator<ListObjectsV2CommandOutput> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: prefix, ...(delimiter ? { Delimiter: delimiter } : {}), ...(token ? { ContinuationToken: token } : {}) }),
      );
      yield page;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** One listing of at most one key below the prefix: reaches the bucket with the driver's credentials. */
  async ping(): Promise<void> {
    await this.client.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: this.opts.prefix, MaxKeys: 1 }));
  }

  /** Whether any key starts with `prefix`. */
  async anyBelow(prefix: string): Promise<ObjectInfo | undefined> {
    const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: prefix, MaxKeys: 1 }));
    const first = page.Contents?.[0];
    return first ? { size: 0, modified: first.LastModified ?? new Date(0) } : undefined;
  }

  async createUpload(path: string): Promise<string> {
    const out = await this.client.send(new CreateMultipartUploadCommand({ ...this.writeParams, Key: this.key(path) }));
    if (!out.UploadId) throw new Error(`CreateMultipartUpload for ${path} returned no upload id`);
    return out.UploadId;
  }

  async uploadPart(path: string, uploadId: string, partNumber: number, data: Buffer): Promise<Part> {
    const out = await this.client.send(
      new UploadPartCommand({ Bucket: this.opts.bucket, Key: this.key(path), UploadId: uploadId, PartNumber: partNumber, Body: data, ContentLength: data.length }),
      this.timeoutFor(data.length),
    );
    if (!out.ETag) throw new Error(`UploadPart ${partNumber} of ${path} returned no ETag`);
    return { PartNumber: partNumber, ETag: out.ETag };
  }

  async completeUpload(path: string, uploadId: string, parts: Part[]): Promise<void> {
    await this.client.send(
      new CompleteMultipartUploadCommand({ Bucket: this.opts.bucket, Key: this.key(path), UploadId: uploadId, MultipartUpload: { Parts: parts } }),
    );
  }

  async abortUpload(path: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.opts.bucket, Key: this.key(path), UploadId: uploadId }));
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchUpload' || isUnsupported(err)) return;
      throw err;
    }
  }

  /**
   * Server-side copy, as Distribution's Move: one CopyObject up to `multipartcopythresholdsize`, else a
   * multipart copy in `multipartcopychunksize` parts, `multipartcopymaxconcurrency` at a time.
   */
  async copy(from: string, to: string): Promise<void> {
    const source = await this.head(from);
    if (!source) throw notFound(from);
    const CopySource = encodeURI(`${this.opts.bucket}/${this.key(from)}`).replace(/[?#+]/g, encodeURIComponent);
    const { multipartCopyThresholdSize: threshold, multipartCopyChunkSize: chunk, multipartCopyMaxConcurrency: concurrency } = this.opts;
    if (source.size <= Math.min(threshold, MAX_PART)) {
      try {
        await this.client.send(new CopyObjectCommand({ ...this.writeParams, Key: this.key(to), CopySource, MetadataDirective: 'REPLACE' }));
      } catch (err) {
        if (isMissingKey(err)) throw notFound(from);
        throw err;
      }
      return;
    }
    const uploadId = await this.createUpload(to);
    try {
      const count = Math.ceil(source.size / chunk);
      const parts: Part[] = new Array(count);
      let next = 0;
      const worker = async () => {
        while (next < count) {
          const i = next++;
          const range = `bytes=${i * chunk}-${Math.min(source.size, (i + 1) * chunk) - 1}`;
          const out = await this.client.send(
            new UploadPartCopyCommand({ Bucket: this.opts.bucket, Key: this.key(to), UploadId: uploadId, PartNumber: i + 1, CopySource, CopySourceRange: range }),
          );
          parts[i] = { PartNumber: i + 1, ETag: out.CopyPartResult?.ETag ?? '' };
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
      await this.completeUpload(to, uploadId, parts);
    } catch (err) {
      await this.abortUpload(to, uploadId).catch(() => undefined);
      throw err;
    }
  }

  presign(path: string, method: 'GET' | 'HEAD'): Promise<string> {
    const input = { Bucket: this.opts.bucket, Key: this.key(path) };
    const command = method === 'GET' ? new GetObjectCommand(input) : new HeadObjectCommand(input);
    // Loaded on the first presign (redirectBlobURL): about 5 MB that a registry serving its own bytes never needs.
    const { getSignedUrl } = require('@aws-sdk/s3-request-presigner') as typeof Presigner;
    return getSignedUrl(this.client, command, { expiresIn: PRESIGN_SECONDS });
  }

  close(): void {
    this.client.destroy();
  }
}

/** The bucket and the endpoint's host (never a URL's user part) for error messages. */
function where(opts: S3Options): string {
  const endpoint = opts.client.endpoint;
  const host = typeof endpoint === 'string' ? new URL(endpoint).host : typeof opts.client.region === 'string' ? opts.client.region : 'AWS';
  return `bucket ${opts.bucket} at ${host}`;
}

/**
 * A stream into `dest`, which stays open; resolves with the bytes once `dest` has acknowledged them all (a few
 * writes in flight at a time). For servers that answer a GET without Content-Length.
 */
async function pipeInto(source: Readable, dest: Writable): Promise<number> {
  let bytes = 0;
  const inFlight = new Set<Promise<void>>();
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (dest.destroyed) throw new Error('destination closed before the object was sent');
      bytes += chunk.length;
      const written: Promise<void> = new Promise<void>((resolve, reject) => dest.write(chunk, (err) => (err ? reject(err) : resolve()))).finally(() => inFlight.delete(written));
      written.catch(() => undefined); // observed below
      inFlight.add(written);
      if (inFlight.size >= 4) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  } finally {
    source.destroy();
  }
  return bytes;
}
