// Local S3 doubles as children on 127.0.0.1 (see /work/shared/s3-test-servers.md for what each gets wrong):
// fauxqs (faithful listings and multipart rules, bodies <= 11 MiB, in memory) for driver conformance, and the
// disk-backed @20minutes/s3rver (run with the legacy OpenSSL provider for its V2 page tokens, and with
// allowMismatchedSignatures because it canonicalises bucket paths unlike SDK v3) for big objects and e2e.
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { join, resolve } from 'node:path';
import { type Daemon, readyPort, startDaemon } from './daemon.js';
import { tempDir } from './tools.js';

export type S3Kind = 'fauxqs' | 's3rver';

export interface S3Server {
  kind: S3Kind;
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  pid: number;
  /** s3rver's data directory (fauxqs keeps everything in memory). */
  dir: string;
  /** The keys the berth driver reads (Zot's `storage.storageDriver`), for `bucket`. */
  driverParams(bucket: string, extra?: Record<string, unknown>): Record<string, unknown>;
  createBucket(name: string): Promise<void>;
  /** A client for checks from the test itself. */
  client(): S3Client;
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop); s3rver keeps its objects, fauxqs starts empty. */
  start(): Promise<void>;
}

const REPO = resolve(__dirname, '../../..');
// The credentials s3rver knows; fauxqs accepts any.
const CREDS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

const LAUNCH: Record<S3Kind, (dir: string, port: number) => { args: string[] }> = {
  // startFauxqs binds 0.0.0.0; the app is built and bound to loopback instead.
  fauxqs: (_dir, port) => ({
    args: [
      '--input-type=module',
      '-e',
      `const { buildApp } = await import('fauxqs');
       const app = buildApp({ logger: false });
       await app.listen({ port: ${port}, host: '127.0.0.1' });
       process.stdout.write('READY ' + app.server.address().port + '\\n');
       process.on('SIGTERM', () => app.close().then(() => process.exit(0)));`,
    ],
  }),
  s3rver: (dir, port) => ({
    args: [
      '--openssl-legacy-provider',
      '-e',
      `const S3rver = require('@20minutes/s3rver');
       const server = new S3rver({ port: ${port}, address: '127.0.0.1', silent: true, directory: ${JSON.stringify(dir)}, allowMismatchedSignatures: true });
       server.run().then(({ port }) => process.stdout.write('READY ' + port + '\\n'));
       process.on('SIGTERM', () => server.close().then(() => process.exit(0)));`,
    ],
  }),
};

export async function startS3Server(kind: S3Kind): Promise<S3Server> {
  const dir = await tempDir(`s3-${kind}`);
  const data = join(dir, 'data');
  // AWS_CA_BUNDLE plays no part on plain HTTP; the server gets the environment as it is.
  let launches = 0;
  const launch = async (at: number) => {
    // A file per launch: readyPort looks for the READY line, and the earlier one would be found at once.
    const stdoutFile = join(dir, `stdout-${launches++}.log`);
    const d = startDaemon(kind, process.execPath, LAUNCH[kind](data, at).args, { cwd: REPO, stdoutFile, stderrFile: join(dir, 'stderr.log') });
    return { d, port: await readyPort(d, stdoutFile) };
  };
  let { d: daemon, port } = await launch(0);
  const endpoint = `http://127.0.0.1:${port}`;
  const client = () =>
    new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: CREDS, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED', maxAttempts: 1 });
  return {
    kind,
    endpoint,
    port,
    get pid() { return daemon.pid; },
    dir: data,
    driverParams: (bucket, extra = {}) => ({
      name: 's3', bucket, region: 'us-east-1', regionendpoint: endpoint, forcepathstyle: true, secure: false,
      accesskey: CREDS.accessKeyId, secretkey: CREDS.secretAccessKey, ...extra,
    }),
    async createBucket(name) {
      const c = client();
      try {
        await c.send(new CreateBucketCommand({ Bucket: name }));
      } finally {
        c.destroy();
      }
    },
    client,
    stop: () => daemon.stop(),
    async start() {
      await daemon.stop();
      ({ d: daemon } = await launch(port));
    },
  };
}

/** Every key in `bucket` under `prefix`, across listing pages. */
export async function listKeys(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key) out.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}
