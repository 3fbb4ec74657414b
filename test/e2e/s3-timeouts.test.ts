// berth on S3 when the S3 endpoint accepts connections and never answers (a TCP proxy in front of s3rver, told
// to stall): blob reads and pushes answer 503 UNAVAILABLE with Retry-After once `responsetimeout` has passed on
// each of the SDK's attempts, instead of hanging, and everything works again once the endpoint answers.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startS3Berth, type S3Berth } from '../helpers/s3-berth.js';
import { startStallProxy, type StallProxy } from '../helpers/stall-proxy.js';
import { startS3Server, type S3Server } from '../helpers/s3-server.js';
import { cleanupTempDirs } from '../helpers/tools.js';

const TIMEOUT_MS = 1_000;
// The SDK's three attempts, each cut at TIMEOUT_MS, plus its backoff between them (well under a second each).
const BOUND_MS = 3 * TIMEOUT_MS + 5_000;
const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const pushBlob = (url: string, repo: string, bytes: Buffer, signal?: AbortSignal) =>
  fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digestOf(bytes)}`, {
    method: 'POST', body: bytes, signal, headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
  });

/** The request with the bound as its deadline: a berth that hangs fails the test instead of holding it. */
async function timed(request: (signal: AbortSignal) => Promise<Response>): Promise<{ res: Response; ms: number }> {
  const started = Date.now();
  const res = await request(AbortSignal.timeout(BOUND_MS)).catch((err: unknown) => {
    throw new Error(`no answer within ${BOUND_MS} ms (${Date.now() - started} ms)`, { cause: err });
  });
  return { res, ms: Date.now() - started };
}

async function assertUnavailable({ res, ms }: { res: Response; ms: number }, what: string): Promise<void> {
  assert.equal(res.status, 503, what);
  assert.ok(res.headers.get('retry-after'), `${what}: Retry-After`);
  // A HEAD has no body to carry the error: status and header are what the client sees.
  if (what !== 'blob HEAD') assert.equal(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'UNAVAILABLE', what);
  assert.ok(ms >= TIMEOUT_MS, `${what}: answered after ${ms} ms, not before the timeout`);
  assert.ok(ms < BOUND_MS, `${what}: answered after ${ms} ms, within ${BOUND_MS} ms`);
}

describe('berth on an S3 endpoint that accepts connections and never answers', () => {
  let s3: S3Server;
  let proxy: StallProxy;
  let sb: S3Berth;
  const stored = randomBytes(64 * 1024);

  before(async () => {
    // The proxy needs the server's port before berth starts, so the server is started here and handed over.
    s3 = await startS3Server('s3rver');
    proxy = await startStallProxy(s3.port);
    sb = await startS3Berth({
      bucket: 'stall',
      server: s3,
      driver: { regionendpoint: proxy.endpoint, connecttimeout: '1s', responsetimeout: `${TIMEOUT_MS}ms` },
    });
    assert.equal((await pushBlob(sb.berth.url, 'team/app', stored)).status, 201);
  });

  after(async () => {
    await sb?.stop();
    await proxy?.close();
    await cleanupTempDirs();
  });

  it('a blob GET, a blob HEAD and a push answer 503 with Retry-After within bounds', async () => {
    proxy.stall(true);
    const accepted = proxy.accepted;
    await assertUnavailable(await timed((signal) => fetch(`${sb.berth.url}/v2/team/app/blobs/${digestOf(stored)}`, { signal })), 'blob GET');
    await assertUnavailable(await timed((signal) => fetch(`${sb.berth.url}/v2/team/app/blobs/${digestOf(stored)}`, { method: 'HEAD', signal })), 'blob HEAD');
    await assertUnavailable(await timed((signal) => pushBlob(sb.berth.url, 'team/app', randomBytes(32 * 1024), signal)), 'push');
    assert.ok(proxy.accepted > accepted, 'the stalled endpoint accepted new connections (the timeouts cut idle ones)');
  });

  it('answers again once the endpoint does', async () => {
    proxy.stall(false);
    const res = await fetch(`${sb.berth.url}/v2/team/app/blobs/${digestOf(stored)}`);
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(stored));
    const again = randomBytes(16 * 1024);
    assert.equal((await pushBlob(sb.berth.url, 'team/app', again)).status, 201);
  });
});
