// A berth whose storage is on a local S3 server (the disk-backed @20minutes/s3rver by default), as the S3 e2e
// tests start it: one bucket, the default store under `rootdirectory` `/<rootDir>/`, Zot's rule that dedupe on a
// cloud driver needs a remote cache turned off with `remoteCache: false`.
import type { S3Client } from '@aws-sdk/client-s3';
import { startBerth, type RunningBerth } from './berth.js';
import { listKeys, startS3Server, type S3Kind, type S3Server } from './s3-server.js';

export interface S3BerthOptions {
  bucket: string;
  /** `rootdirectory` of the default store without slashes; default `registry`. */
  rootDir?: string;
  kind?: S3Kind;
  /** A server already started (then `kind` is not used); stopped with the berth. */
  server?: S3Server;
  /** More `storage.storageDriver` keys (chunksize, ...). */
  driver?: Record<string, unknown>;
  /** More `storage` keys (redirectBlobURL, subPaths, ...); `subPaths` may use `s3.driverParams`, so a function. */
  storage?: (s3: S3Server) => Record<string, unknown>;
  /** The rest of the Zot config (extensions, ...). */
  config?: Record<string, unknown>;
}

export interface S3Berth {
  s3: S3Server;
  client: S3Client;
  berth: RunningBerth;
  bucket: string;
  /** The key prefix of the default store: Zot's keys carry `rootdirectory` twice (storage-drivers/s3/options.ts). */
  prefix: string;
  /** Every key of the bucket under `prefix` (default the whole bucket). */
  keys(prefix?: string): Promise<string[]>;
  /** Keys with a dot-named segment: upload data, upload state, tail objects. */
  temporaryKeys(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startS3Berth(opts: S3BerthOptions): Promise<S3Berth> {
  const rootDir = opts.rootDir ?? 'registry';
  const s3 = opts.server ?? (await startS3Server(opts.kind ?? 's3rver'));
  let client: S3Client | undefined;
  try {
    await s3.createBucket(opts.bucket);
    client = s3.client();
    const berth = await startBerth({
      ...opts.config,
      storage: {
        remoteCache: false,
        storageDriver: s3.driverParams(opts.bucket, { rootdirectory: `/${rootDir}/`, ...opts.driver }),
        ...opts.storage?.(s3),
      },
    });
    const keys = (prefix = '') => listKeys(client!, opts.bucket, prefix);
    return {
      s3,
      client,
      berth,
      bucket: opts.bucket,
      prefix: `${rootDir}/${rootDir}/`,
      keys,
      temporaryKeys: async () => (await keys()).filter((k) => k.split('/').some((s) => s.startsWith('.'))),
      async stop() {
        client?.destroy();
        await berth.stop();
        await s3.stop();
      },
    };
  } catch (err) {
    client?.destroy();
    await s3.stop();
    throw err;
  }
}
