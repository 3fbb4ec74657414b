// Minimal registry HTTP client for the benchmark: pushes stream from the generator, pulls discard bytes.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { digestOf, writeRange } from './gen.js';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** One request; `send` writes the body (streamed), the reply body is collected (small replies only). */
export function request(
  method: string,
  url: string,
  headers: Record<string, string | number> = {},
  send?: (req: http.ClientRequest) => Promise<void>,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (!send) return void req.end();
    send(req).then(() => req.end(), (e: unknown) => req.destroy(e as Error));
  });
}

function expect(reply: Reply, status: number, what: string): Reply {
  if (reply.status !== status) {
    throw new Error(`${what}: expected ${status}, got ${reply.status}: ${reply.body.toString('utf8').slice(0, 500)}`);
  }
  return reply;
}

function location(base: string, reply: Reply): URL {
  const loc = reply.headers.location;
  if (!loc) throw new Error('upload reply has no Location');
  return new URL(loc, base);
}

async function startUpload(base: string, repo: string): Promise<URL> {
  const r = expect(await request('POST', `${base}/v2/${repo}/blobs/uploads/`, { 'Content-Length': 0 }), 202, 'POST upload');
  return location(base, r);
}

/** POST, then one PUT streaming the whole generated blob. Returns the digest. */
export async function pushMonolithic(base: string, repo: string, seed: number, size: number): Promise<string> {
  const digest = digestOf(seed, size);
  const loc = await startUpload(base, repo);
  loc.searchParams.set('digest', digest);
  const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': size };
  const r = await request('PUT', loc.href, headers, (req) => writeRange(req, seed, 0, size));
  expect(r, 201, `PUT ${size} bytes`);
  return digest;
}

/** POST, PATCH chunks of `chunk` bytes with Content-Range, then an empty PUT with the digest. */
export async function pushChunked(base: string, repo: string, seed: number, size: number, chunk: number): Promise<string> {
  const digest = digestOf(seed, size);
  let loc = await startUpload(base, repo);
  for (let pos = 0; pos < size; pos += chunk) {
    const n = Math.min(chunk, size - pos);
    const headers = {
      'Content-Type': 'application/octet-stream',
      'Content-Length': n,
      'Content-Range': `${pos}-${pos + n - 1}`,
    };
    const r = expect(await request('PATCH', loc.href, headers, (req) => writeRange(req, seed, pos, n)), 202, `PATCH @${pos}`);
    loc = location(base, r);
  }
  loc.searchParams.set('digest', digest);
  expect(await request('PUT', loc.href, { 'Content-Length': 0 }), 201, 'PUT (close chunked upload)');
  return digest;
}

/** Pushes a small blob held in memory (config blobs). */
export async function pushSmall(base: string, repo: string, bytes: Buffer, digest: string): Promise<void> {
  const loc = await startUpload(base, repo);
  loc.searchParams.set('digest', digest);
  const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': bytes.length };
  expect(await request('PUT', loc.href, headers, async (req) => void req.write(bytes)), 201, 'PUT small blob');
}

export async function putManifest(base: string, repo: string, tag: string, mediaType: string, bytes: Buffer): Promise<void> {
  const headers = { 'Content-Type': mediaType, 'Content-Length': bytes.length };
  expect(await request('PUT', `${base}/v2/${repo}/manifests/${tag}`, headers, async (req) => void req.write(bytes)), 201, 'PUT manifest');
}

/** GETs a blob and discards it; resolves with the byte count (checked against Content-Length). */
export function fetchDiscard(url: string, getAgent: http.Agent = agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: getAgent }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`GET ${url}: ${res.statusCode}`));
      }
      let n = 0;
      res.on('data', (b: Buffer) => (n += b.length));
      res.on('end', () => {
        const want = Number(res.headers['content-length']);
        if (Number.isFinite(want) && want !== n) reject(new Error(`GET ${url}: got ${n} of ${want} bytes`));
        else resolve(n);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** GETs a blob with curl into /dev/null (BENCH_GET_CLIENT=curl); resolves with the byte count. */
export function curlDiscard(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '--fail', '-o', '/dev/null', '-w', '%{size_download}', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`curl ${url}: exit ${code}: ${out}`))));
  });
}

export type GetClient = 'node' | 'curl';

/**
 * `concurrency` clients each fetch the blob `perClient` times; returns MB/s over the wall time.
 * Each client has its own keep-alive connection, as a puller's connection pool would.
 */
export async function downloadRound(
  url: string,
  concurrency: number,
  perClient: number,
  client: GetClient = 'node',
): Promise<{ mbps: number; bytes: number; ms: number }> {
  const pool = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const t0 = performance.now();
  let bytes = 0;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = 0; i < perClient; i++) {
          const n = await (client === 'curl' ? curlDiscard(url) : fetchDiscard(url, pool)); // not `bytes += await`: that reads `bytes` before awaiting
          bytes += n;
        }
      }),
    );
  } finally {
    pool.destroy();
  }
  const ms = performance.now() - t0;
  return { mbps: bytes / 1e6 / (ms / 1000), bytes, ms };
}

/** Times one push; returns MB/s. */
export async function timedPush(push: () => Promise<unknown>, size: number): Promise<number> {
  const t0 = performance.now();
  await push();
  return size / 1e6 / ((performance.now() - t0) / 1000);
}

export function closeClient(): void {
  agent.destroy();
}
