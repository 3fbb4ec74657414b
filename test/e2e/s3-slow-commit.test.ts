// `http.readTimeout` is an idle timeout for clients that stall, not a limit on berth's own work: after the last
// byte of an upload, committing it to S3 (CompleteMultipartUpload, then the copy into place) can keep the socket
// quiet for longer than the timeout, and the client must still get its 201. Here the S3 server (s3rver) sits
// behind a proxy that holds every CompleteMultipartUpload for 1.5 s, three times berth's readTimeout of 500 ms;
// a client that stops sending mid-body is still cut off.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { spawnBerth, type BerthProcess } from '../helpers/berth-process.js';
import { startS3Server, type S3Server } from '../helpers/s3-server.js';
import { cleanupTempDirs } from '../helpers/tools.js';
import { sha256 } from '../helpers/digests.js';

const MiB = 1024 * 1024;
const BUCKET = 'slow-commit';
const HOLD_MS = 1_500;

/** Forwards to the S3 server; CompleteMultipartUpload (POST …?uploadId=) waits HOLD_MS first. */
function slowCompleteProxy(upstreamPort: number): Promise<{ url: string; completes: () => number; close: () => Promise<void> }> {
  let completes = 0;
  const server = http.createServer((req, res) => {
    const forward = () => {
      const up = http.request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    if (req.method === 'POST' && /[?&]uploadId=/.test(req.url ?? '')) {
      completes++;
      setTimeout(forward, HOLD_MS);
    } else forward();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        completes: () => completes,
        close: () => new Promise<void>((done) => server.close(() => done())),
      }),
    ),
  );
}

describe('uploads outlast http.readTimeout while berth commits them to S3', () => {
  let s3: S3Server;
  let proxy: Awaited<ReturnType<typeof slowCompleteProxy>>;
  let berth: BerthProcess;
  // Three parts at the smallest chunksize (5 MiB): a multipart upload, completed at the PUT.
  const blob = Buffer.alloc(12 * MiB);
  for (let i = 0; i < blob.length; i += 4) blob.writeUInt32LE((i * 2654435761) >>> 0, i);
  const digest = sha256(blob);

  before(async () => {
    s3 = await startS3Server('s3rver');
    await s3.createBucket(BUCKET);
    proxy = await slowCompleteProxy(s3.port);
    berth = await spawnBerth({
      http: { readTimeout: '500ms' },
      storage: { remoteCache: false, storageDriver: s3.driverParams(BUCKET, { regionendpoint: proxy.url, chunksize: 5 * MiB }) },
    });
  });

  after(async () => {
    await berth?.stop();
    await proxy?.close();
    await s3?.stop();
    await cleanupTempDirs();
  });

  /**
   * One request on a connection of its own: with a 500 ms idle timeout berth closes a kept-alive connection
   * between two requests, and a pooled client could race that close.
   */
  const request = (method: string, url: URL | string, body?: Buffer, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const req = http.request(url, { method, agent: false, headers: { 'content-length': String(body?.length ?? 0), ...headers } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });

  const post = async (repo: string) => {
    const res = await request('POST', `${berth.url}/v2/${repo}/blobs/uploads/`);
    assert.equal(res.status, 202);
    return new URL(res.headers.location!, berth.url);
  };

  const assertServed = async (repo: string) => {
    const res = await request('GET', `${berth.url}/v2/${repo}/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.equal(sha256(res.body), digest);
  };

  it('POST then a PUT with the whole blob: 201 although the commit keeps the socket quiet for 1.5 s', async () => {
    const loc = await post('slow/mono');
    loc.searchParams.set('digest', digest);
    const before = proxy.completes();
    const res = await request('PUT', loc, blob, { 'content-type': 'application/octet-stream' });
    assert.equal(res.status, 201, res.body.toString());
    assert.ok(proxy.completes() > before, 'the commit went through the held CompleteMultipartUpload');
    await assertServed('slow/mono');
  });

  it('chunked: PATCH, then the empty closing PUT gets its 201 after the held commit', async () => {
    const loc = await post('slow/chunked');
    const patch = await request('PATCH', loc, blob, { 'content-type': 'application/octet-stream', 'content-range': `0-${blob.length - 1}` });
    assert.equal(patch.status, 202, patch.body.toString());
    const put = new URL(patch.headers.location!, berth.url);
    put.searchParams.set('digest', digest);
    const before = proxy.completes();
    const res = await request('PUT', put);
    assert.equal(res.status, 201, res.body.toString());
    assert.ok(proxy.completes() > before, 'the commit went through the held CompleteMultipartUpload');
    await assertServed('slow/chunked');
  });

  it('a client that stops sending mid-body is still disconnected by the idle timeout', async () => {
    const loc = await post('slow/stalled');
    loc.searchParams.set('digest', digest);
    const started = Date.now();
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const socket = connect(Number(loc.port), '127.0.0.1', () => {
        socket.write(`PUT ${loc.pathname}${loc.search} HTTP/1.1\r\nHost: ${loc.host}\r\nContent-Length: ${blob.length}\r\n\r\n`);
        socket.write(blob.subarray(0, 1000)); // and then nothing more
      });
      socket.on('data', () => undefined);
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(Date.now() - started));
      setTimeout(() => reject(new Error('the stalled upload was not disconnected within 10 s')), 10_000).unref();
    });
    assert.ok(closedAfter >= 400, `closed after ${closedAfter} ms, before the idle timeout`);
  });
});
