// One S3 server for both registries: the disk-backed @20minutes/s3rver behind the Distribution compatibility
// shim (bench/s3-compat-shim.js, from ../shared/tools): Distribution 2.8's S3 driver needs ListMultipartUploads,
// ListParts and delimiter listings that s3rver lacks. berth goes through the same shim, so both registries
// talk to the same server over the same extra hop. See /work/shared/s3-test-servers.md.
import { statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readyPort, startDaemon, type Daemon } from '../test/helpers/daemon.js';
import { startS3Server, type S3Server } from '../test/helpers/s3-server.js';
import { tempDir } from '../test/helpers/tools.js';
import { repoRoot } from './servers.js';

export interface S3Backend {
  s3: S3Server;
  /** `http://127.0.0.1:<port>` of the shim in front of it. */
  shimUrl: string;
  /** The processes behind the registries (s3rver, shim): their CPU is the S3 work a registry causes. */
  pids: number[];
  /** berth's `storage.storageDriver` for `bucket`, through the shim. */
  berthDriver(bucket: string, extra?: Record<string, unknown>): Record<string, unknown>;
  /** Distribution's `storage.s3` for `bucket`, through the shim. */
  distributionS3(bucket: string): Record<string, unknown>;
  stop(): Promise<void>;
}

const GiB = 2 ** 30;

/**
 * Fails before anything starts when the disk holding s3rver's directory has less than `bytes` free: s3rver keeps
 * every body (and, while a multipart upload completes, its parts as well) in files there.
 */
export function requireFreeDisk(dir: string, bytes: number, what: string): void {
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  if (free < bytes) {
    throw new Error(`${what} needs about ${(bytes / GiB).toFixed(1)} GiB free under ${dir}, only ${(free / GiB).toFixed(1)} GiB are: free space or use smaller sizes (BENCH_QUICK=1)`);
  }
}

export async function startS3Backend(buckets: string[], needBytes: number, what: string): Promise<S3Backend> {
  const s3 = await startS3Server('s3rver');
  let shim: Daemon | undefined;
  try {
    requireFreeDisk(dirname(s3.dir), needBytes, what);
    for (const b of buckets) await s3.createBucket(b);
    const dir = await tempDir('s3-shim');
    const stdoutFile = join(dir, 'stdout.log');
    shim = startDaemon('s3-compat-shim', process.execPath, [join(repoRoot(), 'bench', 's3-compat-shim.js'), String(s3.port)], {
      cwd: dir,
      stdoutFile,
      stderrFile: join(dir, 'stderr.log'),
    });
    const shimUrl = `http://127.0.0.1:${await readyPort(shim, stdoutFile)}`;
    return {
      s3,
      shimUrl,
      pids: [s3.pid, shim.pid],
      berthDriver: (bucket, extra = {}) => s3.driverParams(bucket, { regionendpoint: shimUrl, rootdirectory: '/berth', ...extra }),
      distributionS3: (bucket) => ({
        // Distribution 2.8 uses path-style requests whenever regionendpoint is set.
        accesskey: 'S3RVER', secretkey: 'S3RVER', region: 'us-east-1', regionendpoint: shimUrl, bucket,
        secure: false, v4auth: true, rootdirectory: '/dist',
      }),
      async stop() {
        await shim!.stop();
        await s3.stop();
      },
    };
  } catch (err) {
    await shim?.stop();
    await s3.stop();
    throw err;
  }
}
