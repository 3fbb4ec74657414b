// HTTP-level OCI distribution-spec v1.1 suite, run with plain fetch against any registry.
//
// Derived from the spec text (opencontainers/distribution-spec spec.md, v1.1) and from the
// spec's own conformance suite (conformance/01_pull_test.go, 02_push_test.go,
// 03_discovery_test.go, 04_management_test.go, setup.go), plus berth's contract where the spec
// leaves a choice open (single-POST uploads, 413 above 4 MiB, JSON error bodies everywhere,
// tags/_catalog pagination with Link headers).
//
// Every check names the spec section it comes from. A server's `knownFailures` turn exactly
// those checks into assertions that the server still fails them; everything else is strict.
import { after, before, describe, it } from 'node:test';
import type { TestContext, TestOptions } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import * as http from 'node:http';

export interface DistributionApiSuiteOptions {
  /** The registry implements the referrers API (`GET /v2/<name>/referrers/<digest>`, spec 1.1). */
  expectReferrers?: boolean;
  /** The registry accepts and serves Docker v2 schema 2 manifests and manifest lists. */
  expectDockerMediaTypes?: boolean;
  /**
   * Checks (by exact `it` name) expected to fail against this server: either a list of names or
   * a map name → reason. Each is asserted to fail; a name matching no check fails the suite.
   */
  knownFailures?: readonly string[] | Readonly<Record<string, string>>;
}

export interface StartedRegistry {
  url: string;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Constants

const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** What a client that understands every manifest type sends (spec: clients SHOULD send Accept). */
const ACCEPT_MANIFESTS = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

/** spec §Error Codes: "The code field MUST be one of the following" (+ the legacy Docker codes it allows). */
const SPEC_ERROR_CODES = new Set([
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
  // §Legacy Docker support error codes
  'TAG_INVALID',
  'MANIFEST_UNVERIFIED',
]);

const FOUR_MIB = 4 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Small HTTP client

interface Res {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  body: Buffer;
}

type Body = Buffer | string;

interface ReqInit {
  headers?: Record<string, string>;
  body?: Body;
  redirect?: 'follow' | 'manual';
}

function snippet(buf: Buffer, max = 300): string {
  const s = buf.toString('utf8');
  return s.length > max ? `${s.slice(0, max)}…(${buf.length} bytes)` : s;
}

/** One-line description of a response for assertion messages. */
function show(res: Res): string {
  const hdrs: string[] = [];
  res.headers.forEach((v, k) => hdrs.push(`${k}: ${v}`));
  return `${res.method} ${res.url} -> ${res.status}\n  headers: ${hdrs.join(' | ')}\n  body: ${snippet(res.body)}`;
}

function describeError(err: unknown): string {
  const e = err as { message?: string; cause?: { message?: string; code?: string } };
  return [e?.message, e?.cause?.code, e?.cause?.message].filter(Boolean).join(': ') || String(err);
}

function parseJson(res: Res): any {
  try {
    return JSON.parse(res.body.toString('utf8'));
  } catch {
    assert.fail(`expected a JSON body\n${show(res)}`);
  }
}

class Client {
  constructor(readonly base: string) {}

  resolve(target: string): string {
    return new URL(target, this.base).toString();
  }

  async request(method: string, target: string, init: ReqInit = {}): Promise<Res> {
    const url = this.resolve(target);
    const body = init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : new Uint8Array(init.body);
    let r: Response;
    try {
      r = await fetch(url, { method, headers: init.headers, body, redirect: init.redirect ?? 'follow' });
    } catch (err) {
      throw new Error(`${method} ${url}: no HTTP response (${describeError(err)})`, { cause: err });
    }
    let buf: Buffer;
    try {
      buf = Buffer.from(await r.arrayBuffer());
    } catch (err) {
      // e.g. a body shorter than the announced Content-Length: the server broke HTTP framing.
      const hdrs: string[] = [];
      r.headers.forEach((v, k) => hdrs.push(`${k}: ${v}`));
      throw new Error(`${method} ${url} -> ${r.status}, but reading the body failed (${describeError(err)})\n  headers: ${hdrs.join(' | ')}`, {
        cause: err,
      });
    }
    return { method, url, status: r.status, headers: r.headers, body: buf };
  }

  /**
   * A request whose path goes on the wire exactly as written: fetch (WHATWG URL) would resolve
   * `..` and `%2e%2e` segments before sending.
   */
  raw(method: string, path: string, headers: Record<string, string> = {}): Promise<Res> {
    const u = new URL(this.base);
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: u.hostname, port: u.port, method, path, headers: { ...headers, connection: 'close' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const h = new Headers();
            for (const [k, v] of Object.entries(res.headers)) {
              if (Array.isArray(v)) for (const x of v) h.append(k, x);
              else if (v !== undefined) h.set(k, String(v));
            }
            resolve({ method, url: `${u.origin}${path}`, status: res.statusCode ?? 0, headers: h, body: Buffer.concat(chunks) });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Assertions

function expectStatus(res: Res, status: number | readonly number[], what = ''): void {
  const ok = typeof status === 'number' ? [status] : status;
  assert.ok(ok.includes(res.status), `${what ? `${what}: ` : ''}expected HTTP ${ok.join(' or ')}\n${show(res)}`);
}

/**
 * spec §Error Codes: a JSON 4xx body is `{"errors":[{"code","message","detail"?}]}` with a code from
 * the spec's list. berth's contract is stricter than the spec (which lets a 4xx body be in any
 * format): every error body must be that JSON document.
 */
function expectErrorBody(res: Res, codes?: string | readonly string[]): void {
  const doc = parseJson(res);
  assert.ok(doc && Array.isArray(doc.errors) && doc.errors.length > 0, `expected {"errors":[...]} with at least one error\n${show(res)}`);
  for (const e of doc.errors as unknown[]) {
    assert.ok(e && typeof e === 'object', `error entries must be objects\n${show(res)}`);
    const { code, message } = e as { code?: unknown; message?: unknown };
    assert.equal(typeof code, 'string', `error code must be a string\n${show(res)}`);
    assert.match(code as string, /^[A-Z_]+$/, `error code must be uppercase letters and underscores\n${show(res)}`);
    assert.ok(SPEC_ERROR_CODES.has(code as string), `error code ${String(code)} is not one of the spec's codes\n${show(res)}`);
    assert.equal(typeof message, 'string', `error message must be a string\n${show(res)}`);
  }
  if (codes !== undefined) {
    const want = typeof codes === 'string' ? [codes] : codes;
    const got = (doc.errors as { code: string }[]).map((e) => e.code);
    assert.ok(got.some((c) => want.includes(c)), `expected error code ${want.join(' or ')}, got ${got.join(', ')}\n${show(res)}`);
  }
}

/** Status plus (except for HEAD, which has no body) a spec-shaped JSON error body. */
function expectError(res: Res, status: number | readonly number[], codes?: string | readonly string[]): void {
  expectStatus(res, status);
  if (res.method !== 'HEAD') expectErrorBody(res, codes);
}

function header(res: Res, name: string): string {
  const v = res.headers.get(name);
  assert.ok(v !== null && v !== '', `expected a ${name} header\n${show(res)}`);
  return v;
}

function mediaTypeOf(contentType: string | null): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Parses `Link: <url>; rel="next"` (RFC 5988) and returns the URL, or undefined without one. */
function nextLink(res: Res): string | undefined {
  const link = res.headers.get('link');
  if (!link) return undefined;
  const m = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(link);
  assert.ok(m, `Link header must carry rel="next" (RFC 5988): ${link}\n${show(res)}`);
  return m[1]!;
}

// ---------------------------------------------------------------------------------------------
// Content fixtures

interface Blob {
  data: Buffer;
  digest: string;
  size: number;
}

interface Manifest {
  bytes: Buffer;
  digest: string;
  size: number;
  mediaType: string;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  [k: string]: unknown;
}

const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

function blobOf(data: Buffer | string): Blob {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  return { data: buf, digest: sha256(buf), size: buf.length };
}

/** A unique image config (random author, like conformance/setup.go), pretty-printed with tabs. */
function configBlob(): Blob {
  const config = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, author: randomUUID() };
  return blobOf(JSON.stringify(config, null, '\t'));
}

const layerBlob = (size = 512): Blob => blobOf(randomBytes(size));

const desc = (mediaType: string, b: Blob | Manifest, extra: Record<string, unknown> = {}): Descriptor => ({
  mediaType,
  digest: b.digest,
  size: b.size,
  ...extra,
});

function manifestOf(doc: unknown, mediaType: string, indent: string | number = '\t'): Manifest {
  const bytes = Buffer.from(JSON.stringify(doc, null, indent));
  return { bytes, digest: sha256(bytes), size: bytes.length, mediaType };
}

function ociManifest(config: Descriptor, layers: Descriptor[], extra: Record<string, unknown> = {}): Manifest {
  return manifestOf({ schemaVersion: 2, mediaType: MT.ociManifest, ...extra, config, layers }, MT.ociManifest);
}

const EMPTY_JSON = blobOf('{}');

// ---------------------------------------------------------------------------------------------
// The suite

export function runDistributionApiSuite(
  name: string,
  start: () => Promise<StartedRegistry>,
  opts: DistributionApiSuiteOptions = {},
): void {
  const known = new Map<string, string>();
  if (Array.isArray(opts.knownFailures)) for (const n of opts.knownFailures as readonly string[]) known.set(n, 'listed in knownFailures');
  else if (opts.knownFailures) for (const [n, why] of Object.entries(opts.knownFailures)) known.set(n, why);
  const registered = new Set<string>();

  let server: StartedRegistry | undefined;
  let c!: Client;
  // Repositories live under a per-run namespace so a reused server does not collide.
  const ns = `conformance-${randomBytes(4).toString('hex')}`;

  /**
   * Registers one check. A known failure is asserted to fail (the deviation is documented and checked, so a
   * server that starts passing it is noticed); everything else is strict.
   */
  const check = (title: string, fn: (t: TestContext) => Promise<void>, skip?: string): void => {
    assert.ok(!registered.has(title), `duplicate check name: ${title}`);
    registered.add(title);
    const reason = known.get(title);
    const options: TestOptions = { timeout: 60_000 };
    if (skip) options.skip = skip;
    const shown = reason === undefined ? title : `${title} [${name} deviates: ${reason}]`;
    it(shown, options, async (t) => {
      if (reason === undefined) return fn(t);
      await assert.rejects(() => fn(t), `${name} now passes this check; remove it from knownFailures`);
    });
  };

  // ----- request helpers bound to the client ------------------------------------------------

  const getManifest = (repo: string, ref: string, method: 'GET' | 'HEAD' = 'GET') =>
    c.request(method, `/v2/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT_MANIFESTS } });

  const putManifest = (repo: string, ref: string, m: Manifest | { bytes: Buffer | string; mediaType: string }, contentType?: string) =>
    c.request('PUT', `/v2/${repo}/manifests/${ref}`, {
      headers: { 'content-type': contentType ?? m.mediaType },
      body: m.bytes,
    });

  const withQuery = (location: string, params: Record<string, string>): string => {
    const u = new URL(location, c.base);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return u.toString();
  };

  /** POST /blobs/uploads/ (end-4a) and returns the absolute session URL. */
  const openSession = async (repo: string): Promise<{ location: string; minChunk: number; res: Res }> => {
    const res = await c.request('POST', `/v2/${repo}/blobs/uploads/`, { headers: { 'content-length': '0' }, body: Buffer.alloc(0) });
    expectStatus(res, 202, 'POST /blobs/uploads/');
    const location = c.resolve(header(res, 'location'));
    const min = Number(res.headers.get('oci-chunk-min-length') ?? '0');
    return { location, minChunk: Number.isFinite(min) && min > 0 ? min : 0, res };
  };

  const putBlob = (location: string, digest: string, data: Buffer) =>
    c.request('PUT', withQuery(location, { digest }), {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
      body: data,
    });

  /** Monolithic POST then PUT (end-4a + end-6); asserts success. */
  const pushBlob = async (repo: string, b: Blob): Promise<void> => {
    const { location } = await openSession(repo);
    const res = await putBlob(location, b.digest, b.data);
    expectStatus(res, 201, `pushing blob ${b.digest} to ${repo}`);
  };

  const patchChunk = (location: string, data: Buffer, start: number) =>
    c.request('PATCH', location, {
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(data.length),
        'content-range': `${start}-${start + data.length - 1}`,
      },
      body: data,
    });

  /** Pushes a config + one layer + an OCI image manifest (by tag, or by digest when no tag). */
  const pushImage = async (repo: string, tag?: string, extra: Record<string, unknown> = {}) => {
    const config = configBlob();
    const layer = layerBlob();
    await pushBlob(repo, config);
    await pushBlob(repo, layer);
    const manifest = ociManifest(desc(MT.ociConfig, config), [desc(MT.ociLayer, layer)], extra);
    const res = await putManifest(repo, tag ?? manifest.digest, manifest);
    expectStatus(res, 201, `pushing manifest to ${repo}:${tag ?? manifest.digest}`);
    return { config, layer, manifest, res };
  };

  const expectBlobAbsent = async (repo: string, digest: string): Promise<void> => {
    const head = await c.request('HEAD', `/v2/${repo}/blobs/${digest}`);
    expectStatus(head, 404, 'HEAD of a blob that must not exist');
    const get = await c.request('GET', `/v2/${repo}/blobs/${digest}`);
    expectError(get, 404, 'BLOB_UNKNOWN');
  };

  const expectBlobContent = async (repo: string, b: Blob): Promise<void> => {
    const res = await c.request('GET', `/v2/${repo}/blobs/${b.digest}`);
    expectStatus(res, 200);
    assert.ok(res.body.equals(b.data), `blob bytes differ from what was pushed\n${show(res)}`);
  };

  const tagsOf = async (repo: string): Promise<string[]> => {
    const res = await c.request('GET', `/v2/${repo}/tags/list`);
    expectStatus(res, 200);
    const doc = parseJson(res);
    return Array.isArray(doc.tags) ? (doc.tags as string[]) : [];
  };

  const unknownDigest = () => sha256(randomBytes(32));

  // ==========================================================================================

  describe(`OCI distribution-spec v1.1 HTTP API — ${name}`, () => {
    before(async () => {
      server = await start();
      c = new Client(server.url);
    });
    after(async () => {
      await server?.stop();
    });

    // ---------------------------------------------------------------------------------------
    describe('API version check (end-1)', () => {
      check('end-1 §Determining Support: GET /v2/ returns 200 with Docker-Distribution-API-Version: registry/2.0', async () => {
        const res = await c.request('GET', '/v2/');
        expectStatus(res, 200);
        assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0', show(res));
      });
    });

    // ---------------------------------------------------------------------------------------
    describe('Pull: blobs (end-2)', () => {
      const repo = `${ns}/pull-blobs`;
      const blob = blobOf(randomBytes(100));
      before(async () => {
        await pushBlob(repo, blob);
      });

      check('end-2 §Pulling blobs: GET of an existing blob returns 200 with the exact bytes, Content-Length and Docker-Content-Digest', async () => {
        const res = await c.request('GET', `/v2/${repo}/blobs/${blob.digest}`);
        expectStatus(res, 200);
        assert.ok(res.body.equals(blob.data), `body differs from the pushed blob\n${show(res)}`);
        assert.equal(res.headers.get('content-length'), String(blob.size), show(res));
        assert.equal(res.headers.get('docker-content-digest'), blob.digest, show(res));
      });

      check('end-2 §Checking if content exists: HEAD of an existing blob returns 200 with Content-Length, Docker-Content-Digest and no body', async () => {
        const res = await c.request('HEAD', `/v2/${repo}/blobs/${blob.digest}`);
        expectStatus(res, 200);
        assert.equal(res.headers.get('content-length'), String(blob.size), show(res));
        assert.equal(res.headers.get('docker-content-digest'), blob.digest, show(res));
        assert.equal(res.body.length, 0, 'HEAD must not return a body');
      });

      check('end-2 §Pulling blobs: GET of a nonexistent blob returns 404 BLOB_UNKNOWN', async () => {
        expectError(await c.request('GET', `/v2/${repo}/blobs/${unknownDigest()}`), 404, 'BLOB_UNKNOWN');
      });

      check('end-2 §Checking if content exists: HEAD of a nonexistent blob returns 404', async () => {
        expectError(await c.request('HEAD', `/v2/${repo}/blobs/${unknownDigest()}`), 404);
      });

      check('end-2 §Pulling blobs: blobs are scoped to their repository (GET from another repository returns 404 BLOB_UNKNOWN)', async () => {
        await pushImage(`${ns}/pull-blobs-other`, 'x'); // the other repository exists
        expectError(await c.request('GET', `/v2/${ns}/pull-blobs-other/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
      });

      check('end-2 §Pulling blobs (RFC 9110 Range): Range: bytes=0-9 returns 206 with Content-Range and the first 10 bytes', async () => {
        const res = await c.request('GET', `/v2/${repo}/blobs/${blob.digest}`, { headers: { range: 'bytes=0-9' } });
        expectStatus(res, 206);
        assert.equal(res.headers.get('content-range'), `bytes 0-9/${blob.size}`, show(res));
        assert.ok(res.body.equals(blob.data.subarray(0, 10)), `partial body differs\n${show(res)}`);
      });

      check('end-2 §Pulling blobs (RFC 9110 Range): open-ended and suffix ranges return 206 with the requested tail', async () => {
        const open = await c.request('GET', `/v2/${repo}/blobs/${blob.digest}`, { headers: { range: 'bytes=90-' } });
        expectStatus(open, 206);
        assert.equal(open.headers.get('content-range'), `bytes 90-99/${blob.size}`, show(open));
        assert.ok(open.body.equals(blob.data.subarray(90)), show(open));
        const suffix = await c.request('GET', `/v2/${repo}/blobs/${blob.digest}`, { headers: { range: 'bytes=-5' } });
        expectStatus(suffix, 206);
        assert.equal(suffix.headers.get('content-range'), `bytes 95-99/${blob.size}`, show(suffix));
        assert.ok(suffix.body.equals(blob.data.subarray(95)), show(suffix));
      });

      check('end-2 §Pulling blobs (RFC 9110 Range): an unsatisfiable Range returns 416', async () => {
        const res = await c.request('GET', `/v2/${repo}/blobs/${blob.digest}`, { headers: { range: `bytes=${blob.size + 10}-${blob.size + 20}` } });
        expectStatus(res, 416);
      });

      check('end-2 §Pulling blobs: a malformed digest (sha256:xyz, foo:bar) returns 400 DIGEST_INVALID or 404, never 5xx', async () => {
        for (const bad of ['sha256:xyz', 'foo:bar']) {
          const res = await c.request('GET', `/v2/${repo}/blobs/${bad}`);
          expectStatus(res, [400, 404], `GET blob ${bad}`);
          expectErrorBody(res, res.status === 400 ? 'DIGEST_INVALID' : undefined);
        }
      });
    });

    // ---------------------------------------------------------------------------------------
    describe('Push: monolithic blob upload (end-4a, end-4b, end-6)', () => {
      const repo = `${ns}/push-mono`;

      check('end-4a §POST then PUT: POST /v2/<name>/blobs/uploads/ returns 202 with a Location holding a unique session id', async () => {
        const a = await openSession(repo);
        const b = await openSession(repo);
        assert.notEqual(a.location, b.location, 'two sessions must have different locations');
      });

      check('end-6 §POST then PUT: PUT <location>?digest=<digest> with the whole blob returns 201 with a pullable Location', async () => {
        const blob = layerBlob(300);
        const { location } = await openSession(repo);
        const res = await putBlob(location, blob.digest, blob.data);
        expectStatus(res, 201);
        const pulled = await c.request('GET', header(res, 'location'));
        expectStatus(pulled, 200, 'GET of the returned blob Location');
        assert.ok(pulled.body.equals(blob.data), show(pulled));
        await expectBlobContent(repo, blob);
      });

      check('end-4b §Single POST: POST ?digest=<digest> with the blob returns 201 with a pullable Location (single-POST upload supported)', async () => {
        const blob = layerBlob(200);
        const res = await c.request('POST', `/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, {
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
          body: blob.data,
        });
        expectStatus(res, 201);
        const pulled = await c.request('GET', header(res, 'location'));
        expectStatus(pulled, 200, 'GET of the returned blob Location');
        assert.ok(pulled.body.equals(blob.data), show(pulled));
      });

      check('end-4b §Single POST (conformance): POST ?digest= returns 201 (stored) or 202 (session that a PUT completes)', async () => {
        const blob = layerBlob(210);
        const res = await c.request('POST', `/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, {
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
          body: blob.data,
        });
        expectStatus(res, [201, 202]);
        const location = header(res, 'location');
        if (res.status === 202) {
          const get = await c.request('GET', `/v2/${repo}/blobs/${blob.digest}`);
          expectStatus(get, 404, 'after a 202 the blob is not there yet');
          expectStatus(await putBlob(c.resolve(location), blob.digest, blob.data), 201, 'PUT completing the 202 session');
        }
        await expectBlobContent(repo, blob);
      });

      check('end-6 §Error Codes: PUT with a digest that does not match the content returns 400 DIGEST_INVALID and stores nothing', async () => {
        const blob = layerBlob(100);
        const wrong = unknownDigest();
        const { location } = await openSession(repo);
        expectError(await putBlob(location, wrong, blob.data), 400, 'DIGEST_INVALID');
        await expectBlobAbsent(repo, wrong);
        await expectBlobAbsent(repo, blob.digest);
      });

      check('end-6 §Error Codes: PUT with a malformed digest (sha256:xyz, foo:bar) returns 400 DIGEST_INVALID', async () => {
        const blob = layerBlob(50);
        for (const bad of ['sha256:xyz', 'foo:bar']) {
          const { location } = await openSession(repo);
          expectError(await putBlob(location, bad, blob.data), 400, 'DIGEST_INVALID');
        }
        await expectBlobAbsent(repo, blob.digest);
      });

      check('end-6 §Pushing a blob in chunks: a closing PUT without the digest query parameter returns 400 (DIGEST_INVALID)', async () => {
        const blob = layerBlob(50);
        const { location } = await openSession(repo);
        const res = await c.request('PUT', location, {
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
          body: blob.data,
        });
        expectError(res, 400, ['DIGEST_INVALID', 'BLOB_UPLOAD_INVALID']);
        await expectBlobAbsent(repo, blob.digest);
      });

      check('end-4b §Single POST: POST ?digest= whose digest does not match the body returns 400 DIGEST_INVALID and stores nothing', async () => {
        const blob = layerBlob(100);
        const wrong = unknownDigest();
        const res = await c.request('POST', `/v2/${repo}/blobs/uploads/?digest=${wrong}`, {
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
          body: blob.data,
        });
        expectError(res, 400, 'DIGEST_INVALID');
        await expectBlobAbsent(repo, wrong);
        await expectBlobAbsent(repo, blob.digest);
      });

      check('end-4b §Single POST: POST ?digest= with a malformed digest (sha256:xyz, foo:bar) returns 400 DIGEST_INVALID', async () => {
        const blob = layerBlob(50);
        for (const bad of ['sha256:xyz', 'foo:bar']) {
          const res = await c.request('POST', `/v2/${repo}/blobs/uploads/?digest=${bad}`, {
            headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
            body: blob.data,
          });
          expectError(res, 400, 'DIGEST_INVALID');
        }
      });
    });

    // ---------------------------------------------------------------------------------------
    describe('Push: streamed and chunked blob upload (end-5, end-6, end-13)', () => {
      const repo = `${ns}/push-chunked`;

      /** A blob cut into `n` chunks, each at least the registry's OCI-Chunk-Min-Length. */
      const chunked = (minChunk: number, n: number, chunkSize = 400) => {
        const size = Math.max(chunkSize, minChunk);
        const blob = layerBlob(size * (n - 1) + Math.ceil(size / 2));
        const chunks: { start: number; data: Buffer }[] = [];
        for (let start = 0; start < blob.size; start += size) chunks.push({ start, data: blob.data.subarray(start, Math.min(start + size, blob.size)) });
        return { blob, chunks };
      };

      check('end-5 §Pushing a blob in chunks (conformance "streamed"): PATCH without Content-Range returns 202 and PUT ?digest= closes it with 201', async () => {
        const blob = layerBlob(42);
        const { location } = await openSession(repo);
        const patch = await c.request('PATCH', location, { headers: { 'content-type': 'application/octet-stream' }, body: blob.data });
        expectStatus(patch, 202);
        const next = c.resolve(header(patch, 'location'));
        const put = await c.request('PUT', withQuery(next, { digest: blob.digest }), {
          headers: { 'content-type': 'application/octet-stream', 'content-length': '0' },
          body: Buffer.alloc(0),
        });
        expectStatus(put, 201);
        header(put, 'location');
        await expectBlobContent(repo, blob);
      });

      check('end-5 §Pushing a blob in chunks: POST, PATCH×n with Content-Range/Content-Length (202, Location, Range: 0-<end>) and PUT ?digest= returns 201', async () => {
        const session = await openSession(repo);
        const { blob, chunks } = chunked(session.minChunk, 3);
        let location = session.location;
        for (const { start, data } of chunks) {
          const res = await patchChunk(location, data, start);
          expectStatus(res, 202, `PATCH ${start}-${start + data.length - 1}`);
          assert.equal(res.headers.get('range'), `0-${start + data.length - 1}`, show(res));
          location = c.resolve(header(res, 'location'));
        }
        const put = await c.request('PUT', withQuery(location, { digest: blob.digest }), {
          headers: { 'content-type': 'application/octet-stream', 'content-length': '0' },
          body: Buffer.alloc(0),
        });
        expectStatus(put, 201);
        const pulled = await c.request('GET', header(put, 'location'));
        expectStatus(pulled, 200);
        assert.ok(pulled.body.equals(blob.data), show(pulled));
      });

      check('end-6 §Pushing a blob in chunks: the final chunk may be sent in the closing PUT (Content-Range + Content-Length)', async () => {
        const session = await openSession(repo);
        const { blob, chunks } = chunked(session.minChunk, 3);
        let location = session.location;
        for (const { start, data } of chunks.slice(0, -1)) {
          const res = await patchChunk(location, data, start);
          expectStatus(res, 202);
          location = c.resolve(header(res, 'location'));
        }
        const last = chunks[chunks.length - 1]!;
        const put = await c.request('PUT', withQuery(location, { digest: blob.digest }), {
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(last.data.length),
            'content-range': `${last.start}-${last.start + last.data.length - 1}`,
          },
          body: last.data,
        });
        expectStatus(put, 201);
        header(put, 'location');
        await expectBlobContent(repo, blob);
      });

      check('end-13 §Pushing a blob in chunks: GET <location> of an active upload returns 204 with Range: 0-<n-1> and Location', async () => {
        const session = await openSession(repo);
        const { chunks } = chunked(session.minChunk, 2);
        const first = chunks[0]!;
        const patch = await patchChunk(session.location, first.data, 0);
        expectStatus(patch, 202);
        const status = await c.request('GET', c.resolve(header(patch, 'location')));
        expectStatus(status, 204);
        assert.equal(status.headers.get('range'), `0-${first.data.length - 1}`, show(status));
        header(status, 'location');
      });

      check('end-5 §Pushing a blob in chunks: a first chunk that does not start at 0 returns 416', async () => {
        const session = await openSession(repo);
        const { chunks } = chunked(session.minChunk, 2);
        const second = chunks[1]!;
        const res = await patchChunk(session.location, second.data, second.start);
        expectError(res, 416);
      });

      check('end-5 §Pushing a blob in chunks: an overlapping chunk returns 416 and GET <location> still reports the previous offset', async () => {
        const session = await openSession(repo);
        const { blob, chunks } = chunked(session.minChunk, 3);
        const first = chunks[0]!;
        const p1 = await patchChunk(session.location, first.data, 0);
        expectStatus(p1, 202);
        const location = c.resolve(header(p1, 'location'));
        const half = Math.floor(first.data.length / 2);
        const overlap = blob.data.subarray(half, half + first.data.length);
        expectError(await patchChunk(location, overlap, half), 416);
        const status = await c.request('GET', location);
        expectStatus(status, 204, 'upload status after a 416');
        assert.equal(status.headers.get('range'), `0-${first.data.length - 1}`, show(status));
      });

      check('end-5 §Pushing a blob in chunks (conformance): retrying the previous chunk returns 416; the upload then resumes from GET <location> and completes', async () => {
        const session = await openSession(repo);
        const { blob, chunks } = chunked(session.minChunk, 2);
        const [first, second] = [chunks[0]!, chunks[1]!];
        const p1 = await patchChunk(session.location, first.data, 0);
        expectStatus(p1, 202);
        expectError(await patchChunk(c.resolve(header(p1, 'location')), first.data, 0), 416);
        const status = await c.request('GET', c.resolve(header(p1, 'location')));
        expectStatus(status, 204, 'upload status after a 416');
        assert.equal(status.headers.get('range'), `0-${first.data.length - 1}`, show(status));
        const p2 = await patchChunk(c.resolve(header(status, 'location')), second.data, second.start);
        expectStatus(p2, 202, 'PATCH of the next chunk after the 416');
        const put = await c.request('PUT', withQuery(c.resolve(header(p2, 'location')), { digest: blob.digest }), {
          headers: { 'content-type': 'application/octet-stream', 'content-length': '0' },
          body: Buffer.alloc(0),
        });
        expectStatus(put, 201);
        await expectBlobContent(repo, blob);
      });

      check('end-6 §Error Codes: a closing PUT whose digest does not match the uploaded chunks returns 400 DIGEST_INVALID', async () => {
        const session = await openSession(repo);
        const { blob, chunks } = chunked(session.minChunk, 2);
        let location = session.location;
        for (const { start, data } of chunks) {
          const res = await patchChunk(location, data, start);
          expectStatus(res, 202);
          location = c.resolve(header(res, 'location'));
        }
        const wrong = unknownDigest();
        const put = await c.request('PUT', withQuery(location, { digest: wrong }), {
          headers: { 'content-type': 'application/octet-stream', 'content-length': '0' },
          body: Buffer.alloc(0),
        });
        expectError(put, 400, 'DIGEST_INVALID');
        await expectBlobAbsent(repo, wrong);
        await expectBlobAbsent(repo, blob.digest);
      });

      check('end-13 §Pushing a blob in chunks: the session is closed after a successful PUT (GET <location> returns 404 BLOB_UPLOAD_UNKNOWN)', async () => {
        const blob = layerBlob(64);
        const { location } = await openSession(repo);
        expectStatus(await putBlob(location, blob.digest, blob.data), 201);
        expectError(await c.request('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
      });

      check('end-13 §Cancel an upload (apdx-1 detail.md DELETE upload): DELETE <location> returns 204, then GET <location> returns 404 BLOB_UPLOAD_UNKNOWN', async () => {
        const session = await openSession(repo);
        const data = layerBlob(64).data;
        const patch = await patchChunk(session.location, data, 0);
        expectStatus(patch, 202);
        const location = c.resolve(header(patch, 'location'));
        expectStatus(await c.request('DELETE', location), 204, 'DELETE of an upload session');
        expectError(await c.request('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
        expectError(await patchChunk(location, data, data.length), 404, 'BLOB_UPLOAD_UNKNOWN');
      });

      check('end-5/end-6/end-13 §Error Codes: an unknown upload id returns 404 BLOB_UPLOAD_UNKNOWN for GET, PATCH, PUT and DELETE', async () => {
        await openSession(repo); // the repository exists
        const location = `/v2/${repo}/blobs/uploads/${randomUUID()}`;
        const blob = layerBlob(16);
        expectError(await c.request('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
        expectError(await patchChunk(location, blob.data, 0), 404, 'BLOB_UPLOAD_UNKNOWN');
        expectError(await putBlob(location, blob.digest, blob.data), 404, 'BLOB_UPLOAD_UNKNOWN');
        expectError(await c.request('DELETE', location), 404, 'BLOB_UPLOAD_UNKNOWN');
        await expectBlobAbsent(repo, blob.digest);
      });
    });

    // ---------------------------------------------------------------------------------------
    describe('Push: cross-repository blob mount (end-11)', () => {
      const from = `${ns}/mount-source`;
      const blob = layerBlob(128);
      before(async () => {
        await pushBlob(from, blob);
      });

      check('end-11 §Mounting a blob: POST ?mount=<digest>&from=<repo> returns 201 with Location /v2/<name>/blobs/<digest> and the blob is readable there', async () => {
        const to = `${ns}/mount-target`;
        const res = await c.request('POST', `/v2/${to}/blobs/uploads/?mount=${blob.digest}&from=${from}`, {
          headers: { 'content-length': '0' },
          body: Buffer.alloc(0),
        });
        expectStatus(res, 201);
        assert.equal(new URL(header(res, 'location'), c.base).pathname, `/v2/${to}/blobs/${blob.digest}`, show(res));
        const pulled = await c.request('GET', header(res, 'location'));
        expectStatus(pulled, 200);
        assert.ok(pulled.body.equals(blob.data), show(pulled));
        const head = await c.request('HEAD', `/v2/${to}/blobs/${blob.digest}`);
        expectStatus(head, 200);
        assert.equal(head.headers.get('content-length'), String(blob.size), show(head));
      });

      check('end-11 §Mounting a blob: mounting a blob that <from> does not have returns 202 with an upload Location that accepts the blob', async () => {
        const to = `${ns}/mount-fallback`;
        const missing = layerBlob(64);
        const res = await c.request('POST', `/v2/${to}/blobs/uploads/?mount=${missing.digest}&from=${from}`, {
          headers: { 'content-length': '0' },
          body: Buffer.alloc(0),
        });
        expectStatus(res, 202);
        const location = c.resolve(header(res, 'location'));
        assert.ok(new URL(location).pathname.startsWith(`/v2/${to}/blobs/uploads/`), `fallback Location should be an upload session of ${to}\n${show(res)}`);
        expectStatus(await putBlob(location, missing.digest, missing.data), 201, 'PUT into the fallback session');
        await expectBlobContent(to, missing);
      });

      check('end-11 §Mounting a blob (conformance): POST ?mount=<unknown digest> without from returns 202 with a session Location', async () => {
        const to = `${ns}/mount-nofrom`;
        const res = await c.request('POST', `/v2/${to}/blobs/uploads/?mount=${unknownDigest()}`, {
          headers: { 'content-length': '0' },
          body: Buffer.alloc(0),
        });
        expectStatus(res, 202);
        header(res, 'location');
      });
    });

    // ---------------------------------------------------------------------------------------
    describe('Push and pull: manifests (end-3, end-7)', () => {
      const repo = `${ns}/manifests`;
      let image!: Awaited<ReturnType<typeof pushImage>>;
      const tag = 'v1';
      before(async () => {
        image = await pushImage(repo, tag);
      });

      check('end-7 §Pushing Manifests: PUT by tag returns 201 with Location and Docker-Content-Digest equal to the sha256 of the body', async () => {
        const res = image.res;
        expectStatus(res, 201);
        header(res, 'location');
        assert.equal(res.headers.get('docker-content-digest'), image.manifest.digest, show(res));
        const pulled = await getManifest(repo, tag);
        expectStatus(pulled, 200, 'GET of the pushed tag');
      });

      check('end-7 §Pushing Manifests: PUT by digest returns 201 with a pullable Location and Docker-Content-Digest', async () => {
        const config = configBlob();
        await pushBlob(repo, config);
        const m = ociManifest(desc(MT.ociConfig, config), [desc(MT.ociLayer, image.layer)]);
        const res = await putManifest(repo, m.digest, m);
        expectStatus(res, 201);
        assert.equal(res.headers.get('docker-content-digest'), m.digest, show(res));
        const pulled = await c.request('GET', header(res, 'location'), { headers: { accept: ACCEPT_MANIFESTS } });
        expectStatus(pulled, 200, 'GET of the returned manifest Location');
        assert.ok(pulled.body.equals(m.bytes), show(pulled));
      });

      const checkGet = (res: Res, m: Manifest) => {
        expectStatus(res, 200);
        assert.equal(mediaTypeOf(res.headers.get('content-type')), m.mediaType, show(res));
        assert.ok(res.body.equals(m.bytes), `manifest must be returned byte-for-byte as pushed\n${show(res)}`);
        assert.equal(res.headers.get('content-length'), String(m.size), show(res));
        assert.equal(res.headers.get('docker-content-digest'), m.digest, show(res));
      };

      check('end-3 §Pulling manifests: GET by tag returns 200 with the pushed Content-Type, the exact bytes, Content-Length and Docker-Content-Digest', async () => {
        checkGet(await getManifest(repo, tag), image.manifest);
      });

      check('end-3 §Pulling manifests: GET by digest returns 200 with the pushed Content-Type, the exact bytes, Content-Length and Docker-Content-Digest', async () => {
        checkGet(await getManifest(repo, image.manifest.digest), image.manifest);
      });

      check('end-3 §Checking if content exists: HEAD by tag and by digest returns 200 with Content-Type, Content-Length, Docker-Content-Digest and no body', async () => {
        for (const ref of [tag, image.manifest.digest]) {
          const res = await getManifest(repo, ref, 'HEAD');
          expectStatus(res, 200, `HEAD ${ref}`);
          assert.equal(mediaTypeOf(res.headers.get('content-type')), MT.ociManifest, show(res));
          assert.equal(res.headers.get('content-length'), String(image.manifest.size), show(res));
          assert.equal(res.headers.get('docker-content-digest'), image.manifest.digest, show(res));
          assert.equal(res.body.length, 0, 'HEAD must not return a body');
        }
      });

      check('end-3 §Pulling manifests: GET/HEAD of a nonexistent tag or digest returns 404 MANIFEST_UNKNOWN', async () => {
        expectError(await getManifest(repo, 'nonexistent'), 404, 'MANIFEST_UNKNOWN');
        expectError(await getManifest(repo, unknownDigest()), 404, 'MANIFEST_UNKNOWN');
        expectError(await getManifest(repo, 'nonexistent', 'HEAD'), 404);
        expectError(await getManifest(repo, unknownDigest(), 'HEAD'), 404);
      });

      check('end-3 §Pulling manifests (conformance): GET/HEAD of manifest ".INVALID_MANIFEST_NAME" returns 404', async () => {
        expectError(await getManifest(repo, '.INVALID_MANIFEST_NAME'), 404);
        expectError(await getManifest(repo, '.INVALID_MANIFEST_NAME', 'HEAD'), 404);
      });

      check('end-3 §Error Codes (conformance): GET of manifest "sha256:totallywrong" returns 400 with an OCI error code, or 404', async () => {
        const res = await getManifest(repo, 'sha256:totallywrong');
        expectStatus(res, [400, 404]);
        expectErrorBody(res);
      });

      check('end-7 §Error Codes (conformance): PUT of manifest "sha256:totallywrong" with an invalid body returns 400 with an OCI error code', async () => {
        const res = await putManifest(repo, 'sha256:totallywrong', { bytes: 'blablabla', mediaType: MT.ociManifest });
        expectError(res, 400);
      });

      check('end-7 §Push: a manifest referencing an unknown blob returns 400 MANIFEST_BLOB_UNKNOWN', async () => {
        const missingLayer = layerBlob(77);
        const m = ociManifest(desc(MT.ociConfig, image.config), [desc(MT.ociLayer, missingLayer)]);
        expectError(await putManifest(repo, 'missing-layer', m), 400, 'MANIFEST_BLOB_UNKNOWN');
        const missingConfig = configBlob();
        const m2 = ociManifest(desc(MT.ociConfig, missingConfig), [desc(MT.ociLayer, image.layer)]);
        expectError(await putManifest(repo, 'missing-config', m2), 400, 'MANIFEST_BLOB_UNKNOWN');
        expectError(await getManifest(repo, 'missing-layer'), 404, 'MANIFEST_UNKNOWN');
      });

      check('end-7 §Error Codes: a manifest that is not valid JSON returns 400 MANIFEST_INVALID', async () => {
        expectError(await putManifest(repo, 'garbage', { bytes: '{"schemaVersion": 2, "config": ', mediaType: MT.ociManifest }), 400, 'MANIFEST_INVALID');
        expectError(await putManifest(repo, 'garbage', { bytes: 'blablabla', mediaType: MT.ociManifest }), 400, 'MANIFEST_INVALID');
        expectError(await getManifest(repo, 'garbage'), 404, 'MANIFEST_UNKNOWN');
      });

      check('end-7 §Error Codes: PUT by a digest that does not match the body returns 400 DIGEST_INVALID', async () => {
        const other = unknownDigest();
        expectError(await putManifest(repo, other, image.manifest), 400, 'DIGEST_INVALID');
        expectError(await getManifest(repo, other), 404, 'MANIFEST_UNKNOWN');
      });

      const padded = (targetSize: number): Manifest => {
        const build = (pad: string) => ociManifest(desc(MT.ociConfig, image.config), [desc(MT.ociLayer, image.layer)], { annotations: { 'org.example.padding': pad } });
        const baseSize = build('').size;
        return build('a'.repeat(targetSize - baseSize));
      };

      check('end-7 §Pushing Manifests: a manifest larger than 4 MiB returns 413 and is not stored', async () => {
        const big = padded(FOUR_MIB + 1024);
        const res = await putManifest(repo, 'too-big', big);
        expectError(res, 413);
        expectStatus(await getManifest(repo, big.digest, 'HEAD'), 404, 'the oversized manifest must not be stored');
        // Refusing a body early must leave the connection (and the registry) usable for the next push.
        await new Promise((r) => setTimeout(r, 100));
        expectStatus(await putManifest(repo, 'after-413', image.manifest), 201, 'the next manifest push after a 413');
        expectStatus(await c.request('GET', '/v2/'), 200, 'GET /v2/ after a 413');
      });

      check('end-7 §Pushing Manifests: a manifest of 4,000,000 bytes ("at least 4 megabytes") is accepted', async () => {
        const m = padded(4_000_000);
        assert.equal(m.size, 4_000_000);
        const res = await putManifest(repo, 'four-megabytes', m);
        expectStatus(res, 201);
        const got = await getManifest(repo, 'four-megabytes');
        expectStatus(got, 200);
        assert.ok(got.body.equals(m.bytes), 'large manifest must round-trip byte-for-byte');
      });

      check('end-7 §Pushing Manifests: the exact byte representation is stored (odd whitespace, unknown fields, descriptor data)', async () => {
        // Like conformance/setup.go: the config descriptor carries `data` and an unspecified field.
        const doc = {
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          config: {
            mediaType: MT.ociConfig,
            digest: image.config.digest,
            size: image.config.size,
            data: image.config.data.toString('base64'),
            newUnspecifiedField: Buffer.from('hello world').toString('base64'),
          },
          layers: [desc(MT.ociLayer, image.layer)],
          annotations: { 'org.example.unicode': 'ünïcødé ✓' },
        };
        const text = JSON.stringify(doc, null, 3).replace(/\n/g, '\r\n  ') + '\n\n';
        const bytes = Buffer.from(text);
        const m: Manifest = { bytes, digest: sha256(bytes), size: bytes.length, mediaType: MT.ociManifest };
        const res = await putManifest(repo, 'exact-bytes', m);
        expectStatus(res, 201);
        assert.equal(res.headers.get('docker-content-digest'), m.digest, show(res));
        checkGet(await getManifest(repo, 'exact-bytes'), m);
        checkGet(await getManifest(repo, m.digest), m);
      });

      check('end-7 §Push (conformance): a manifest with no layers and no mediaType field is accepted', async () => {
        const config = configBlob();
        await pushBlob(repo, config);
        const m = manifestOf({ schemaVersion: 2, config: desc(MT.ociConfig, config), layers: [] }, MT.ociManifest);
        const res = await putManifest(repo, 'emptylayer', m);
        expectStatus(res, 201);
        header(res, 'location');
        const got = await getManifest(repo, 'emptylayer');
        expectStatus(got, 200);
        assert.ok(got.body.equals(m.bytes), show(got));
      });

      check('end-7 §Pushing Manifests: Content-Type parameters are ignored on PUT and not returned on GET', async () => {
        const config = configBlob();
        await pushBlob(repo, config);
        const m = ociManifest(desc(MT.ociConfig, config), [desc(MT.ociLayer, image.layer)]);
        const res = await putManifest(repo, 'with-params', m, `${MT.ociManifest}; charset=utf-8`);
        expectStatus(res, 201);
        const got = await getManifest(repo, 'with-params');
        expectStatus(got, 200);
        assert.equal(got.headers.get('content-type'), MT.ociManifest, `registry SHOULD NOT include parameters on Content-Type\n${show(got)}`);
      });

      check('end-7 §Pushing Manifests: pushing another manifest to an existing tag moves the tag; the old manifest stays by digest', async () => {
        const first = await pushImage(repo, 'moving');
        const second = await pushImage(repo, 'moving');
        checkGet(await getManifest(repo, 'moving'), second.manifest);
        checkGet(await getManifest(repo, first.manifest.digest), first.manifest);
      });

      check('end-7 §Pushing Manifests: an image index referencing pushed manifests is accepted and served as application/vnd.oci.image.index.v1+json', async () => {
        const amd = await pushImage(repo);
        const arm = await pushImage(repo);
        const index = manifestOf(
          {
            schemaVersion: 2,
            mediaType: MT.ociIndex,
            manifests: [
              desc(MT.ociManifest, amd.manifest, { platform: { architecture: 'amd64', os: 'linux' } }),
              desc(MT.ociManifest, arm.manifest, { platform: { architecture: 'arm64', os: 'linux' } }),
            ],
          },
          MT.ociIndex,
        );
        const res = await putManifest(repo, 'multiarch', index);
        expectStatus(res, 201);
        assert.equal(res.headers.get('docker-content-digest'), index.digest, show(res));
        checkGet(await getManifest(repo, 'multiarch'), index);
        checkGet(await getManifest(repo, index.digest), index);
        const head = await getManifest(repo, 'multiarch', 'HEAD');
        expectStatus(head, 200);
        assert.equal(mediaTypeOf(head.headers.get('content-type')), MT.ociIndex, show(head));
      });

      check('end-7 §Pulling manifests: a tag is at most 128 characters of [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} (128-character and mixed-case tags work)', async () => {
        for (const t of ['_' + 'a'.repeat(127), 'Mixed.Case-Tag_1']) {
          const res = await putManifest(repo, t, image.manifest);
          expectStatus(res, 201, `PUT tag ${t}`);
          checkGet(await getManifest(repo, t), image.manifest);
        }
      });

      check('end-7 §Pulling manifests (tag grammar): PUT with an invalid tag (".bad", "-bad", 129 characters) returns 400', async () => {
        for (const t of ['.bad', '-bad', 'a'.repeat(129)]) {
          const res = await putManifest(repo, t, image.manifest);
          expectError(res, 400, ['TAG_INVALID', 'MANIFEST_INVALID']);
        }
      });

      check(
        'end-7 (Docker media types): a Docker v2 schema 2 manifest is accepted and served as application/vnd.docker.distribution.manifest.v2+json',
        async () => {
          const config = configBlob();
          const layer = layerBlob();
          await pushBlob(repo, config);
          await pushBlob(repo, layer);
          const m = manifestOf(
            { schemaVersion: 2, mediaType: MT.dockerManifest, config: desc(MT.dockerConfig, config), layers: [desc(MT.dockerLayer, layer)] },
            MT.dockerManifest,
            3,
          );
          const res = await putManifest(repo, 'docker-v2s2', m);
          expectStatus(res, 201);
          assert.equal(res.headers.get('docker-content-digest'), m.digest, show(res));
          checkGet(await getManifest(repo, 'docker-v2s2'), m);
          checkGet(await getManifest(repo, m.digest), m);
        },
        opts.expectDockerMediaTypes ? undefined : 'Docker media types not expected for this server',
      );

      check(
        'end-7 (Docker media types): a Docker manifest list is accepted and served as application/vnd.docker.distribution.manifest.list.v2+json',
        async () => {
          const config = configBlob();
          await pushBlob(repo, config);
          const child = manifestOf(
            { schemaVersion: 2, mediaType: MT.dockerManifest, config: desc(MT.dockerConfig, config), layers: [desc(MT.dockerLayer, image.layer)] },
            MT.dockerManifest,
          );
          expectStatus(await putManifest(repo, child.digest, child), 201, 'pushing the child manifest');
          const list = manifestOf(
            { schemaVersion: 2, mediaType: MT.dockerList, manifests: [desc(MT.dockerManifest, child, { platform: { architecture: 'amd64', os: 'linux' } })] },
            MT.dockerList,
          );
          const res = await putManifest(repo, 'docker-list', list);
          expectStatus(res, 201);
          checkGet(await getManifest(repo, 'docker-list'), list);
          checkGet(await getManifest(repo, list.digest), list);
        },
        opts.expectDockerMediaTypes ? undefined : 'Docker media types not expected for this server',
      );

      check('end-7 §Push: a manifest whose subject does not exist is accepted', async () => {
        const subject = ociManifest(desc(MT.ociConfig, configBlob()), []); // never pushed
        await pushBlob(repo, EMPTY_JSON);
        const m = ociManifest(desc(MT.ociEmpty, EMPTY_JSON), [desc(MT.ociEmpty, EMPTY_JSON)], {
          artifactType: 'application/vnd.example.orphan',
          subject: desc(MT.ociManifest, subject),
        });
        const res = await putManifest(repo, m.digest, m);
        expectStatus(res, 201);
        checkGet(await getManifest(repo, m.digest), m);
      });
    });

    // ---------------------------------------------------------------------------------------
    describe('Content management: deleting manifests and tags (end-9)', () => {
      const repo = `${ns}/delete-manifests`;

      check('end-9 §Deleting tags: DELETE by tag returns 202; the tag is gone and the manifest remains by digest', async () => {
        const img = await pushImage(repo, 'doomed-tag');
        expectStatus(await putManifest(repo, 'kept-tag', img.manifest), 201);
        const del = await c.request('DELETE', `/v2/${repo}/manifests/doomed-tag`);
        expectStatus(del, 202);
        expectError(await getManifest(repo, 'doomed-tag'), 404, 'MANIFEST_UNKNOWN');
        expectStatus(await getManifest(repo, img.manifest.digest), 200, 'manifest by digest after its tag was deleted');
        expectStatus(await getManifest(repo, 'kept-tag'), 200, 'other tag of the same manifest');
        const tags = await tagsOf(repo);
        assert.ok(!tags.includes('doomed-tag') && tags.includes('kept-tag'), `tags after delete: ${tags.join(', ')}`);
      });

      check('end-9 §Deleting tags (conformance): DELETE by tag returns 202, or 400 UNSUPPORTED / 405 when tag deletion is disabled', async () => {
        await pushImage(repo, 'tagtest0');
        const res = await c.request('DELETE', `/v2/${repo}/manifests/tagtest0`);
        expectStatus(res, [202, 400, 405]);
        if (res.status === 400) expectErrorBody(res, 'UNSUPPORTED');
      });

      check('end-9 §Deleting Manifests: DELETE by digest returns 202; then GET returns 404 MANIFEST_UNKNOWN and all its tags are gone', async () => {
        const img = await pushImage(repo, 'a1');
        expectStatus(await putManifest(repo, 'a2', img.manifest), 201);
        const del = await c.request('DELETE', `/v2/${repo}/manifests/${img.manifest.digest}`);
        expectStatus(del, 202);
        expectError(await getManifest(repo, img.manifest.digest), 404, 'MANIFEST_UNKNOWN');
        expectStatus(await getManifest(repo, img.manifest.digest, 'HEAD'), 404);
        expectError(await getManifest(repo, 'a1'), 404, 'MANIFEST_UNKNOWN');
        expectError(await getManifest(repo, 'a2'), 404, 'MANIFEST_UNKNOWN');
        const tags = await tagsOf(repo).catch((): string[] => []);
        assert.ok(!tags.includes('a1') && !tags.includes('a2'), `tags after delete: ${tags.join(', ')}`);
        expectError(await c.request('DELETE', `/v2/${repo}/manifests/${img.manifest.digest}`), 404, 'MANIFEST_UNKNOWN');
      });

      check('end-9 §Deleting Manifests: DELETE of an unknown manifest digest returns 404 MANIFEST_UNKNOWN', async () => {
        await pushImage(repo, 'present');
        expectError(await c.request('DELETE', `/v2/${repo}/manifests/${unknownDigest()}`), 404, 'MANIFEST_UNKNOWN');
      });

      check('end-9 §Deleting Manifests: DELETE in a repository that does not exist returns 404', async () => {
        expectError(await c.request('DELETE', `/v2/${ns}/never-created/manifests/${unknownDigest()}`), 404, ['NAME_UNKNOWN', 'MANIFEST_UNKNOWN']);
      });
    });

    // ---------------------------------------------------------------------------------------
    describe('Content management: deleting blobs (end-10)', () => {
      const repo = `${ns}/delete-blobs`;

      check('end-10 §Deleting Blobs: DELETE returns 202; then GET returns 404 BLOB_UNKNOWN and HEAD 404', async () => {
        const blob = layerBlob(90);
        await pushBlob(repo, blob);
        expectStatus(await c.request('DELETE', `/v2/${repo}/blobs/${blob.digest}`), 202);
        await expectBlobAbsent(repo, blob.digest);
      });

      check('end-10 §Deleting Blobs: DELETE of an unknown blob returns 404 BLOB_UNKNOWN', async () => {
        await pushBlob(repo, layerBlob(10));
        expectError(await c.request('DELETE', `/v2/${repo}/blobs/${unknownDigest()}`), 404, 'BLOB_UNKNOWN');
      });
    });

    // ---------------------------------------------------------------------------------------
    describe('Repository names (§Pulling manifests <name> grammar)', () => {
      check('§Pulling manifests (<name> grammar): a multi-segment name (a/b/c/d) works for blobs, manifests and tags', async () => {
        const repo = `${ns}/a/b/c/d`;
        const img = await pushImage(repo, 'deep');
        await expectBlobContent(repo, img.layer);
        expectStatus(await getManifest(repo, 'deep'), 200);
        const res = await c.request('GET', `/v2/${repo}/tags/list`);
        expectStatus(res, 200);
        assert.deepEqual(parseJson(res), { name: repo, tags: ['deep'] });
      });

      check('§Pulling manifests (<name> grammar): names with the separators ".", "_", "__" and "-+" are accepted', async () => {
        for (const repo of [`${ns}/dot.ted`, `${ns}/under_score`, `${ns}/double__under`, `${ns}/many---dashes`]) {
          await pushImage(repo, 'ok');
          expectStatus(await getManifest(repo, 'ok'), 200, repo);
        }
      });

      const expectNameRejected = (res: Res) => {
        expectStatus(res, [400, 404], 'invalid repository name');
        expectErrorBody(res, res.status === 400 ? 'NAME_INVALID' : undefined);
      };

      check('§Pulling manifests (<name> grammar): an uppercase name returns 400 NAME_INVALID or 404', async () => {
        const repo = `${ns}/UpperCase`;
        expectNameRejected(await c.request('POST', `/v2/${repo}/blobs/uploads/`, { headers: { 'content-length': '0' }, body: Buffer.alloc(0), redirect: 'manual' }));
        expectNameRejected(await c.request('GET', `/v2/${repo}/tags/list`, { redirect: 'manual' }));
        expectNameRejected(await c.request('GET', `/v2/${repo}/manifests/latest`, { redirect: 'manual' }));
      });

      check('§Pulling manifests (<name> grammar): a name with a ".." path component returns 400 NAME_INVALID or 404', async () => {
        await pushImage(`${ns}/dotdot-target`, 'latest');
        expectNameRejected(await c.raw('GET', `/v2/${ns}/x/../dotdot-target/tags/list`));
        expectNameRejected(await c.raw('GET', `/v2/${ns}/x/../dotdot-target/manifests/latest`, { accept: ACCEPT_MANIFESTS }));
        expectNameRejected(await c.raw('POST', `/v2/${ns}/../escape/blobs/uploads/`, { 'content-length': '0' }));
      });

      check('§Pulling manifests (<name> grammar): a name with a trailing slash or an empty component returns 400 NAME_INVALID or 404', async () => {
        await pushImage(`${ns}/slashy`, 'latest');
        expectNameRejected(await c.request('GET', `/v2/${ns}/slashy//tags/list`, { redirect: 'manual' }));
        expectNameRejected(await c.request('GET', `/v2/${ns}//slashy/manifests/latest`, { redirect: 'manual', headers: { accept: ACCEPT_MANIFESTS } }));
        expectNameRejected(
          await c.request('POST', `/v2/${ns}/slashy//blobs/uploads/`, { headers: { 'content-length': '0' }, body: Buffer.alloc(0), redirect: 'manual' }),
        );
      });

      check('§Pulling manifests (<name> grammar): components with misplaced separators (foo..bar, -foo, foo-, _foo) return 400 NAME_INVALID or 404', async () => {
        for (const comp of ['foo..bar', '-foo', 'foo-', '_foo', 'foo.-bar']) {
          const repo = `${ns}/${comp}`;
          expectNameRejected(await c.request('POST', `/v2/${repo}/blobs/uploads/`, { headers: { 'content-length': '0' }, body: Buffer.alloc(0), redirect: 'manual' }));
          expectNameRejected(await c.request('GET', `/v2/${repo}/tags/list`, { redirect: 'manual' }));
        }
      });

      check('end-8a §Listing Tags: tags/list of an unknown repository returns 404 NAME_UNKNOWN', async () => {
        expectError(await c.request('GET', `/v2/${ns}/does-not-exist/tags/list`), 404, 'NAME_UNKNOWN');
      });
    });

    // ---------------------------------------------------------------------------------------
    describe('Content discovery: listing tags (end-8a, end-8b)', () => {
      const repo = `${ns}/tags`;
      // Pushed in this (unsorted) order; lowercase so byte order and case-insensitive order agree.
      const TAGS = ['v1.10', 'latest', '0.1', 'v1.2', 'alpha', 'beta_2', 'v1.0'];
      const SORTED = [...TAGS].sort();
      before(async () => {
        const img = await pushImage(repo, TAGS[0]);
        for (const t of TAGS.slice(1)) expectStatus(await putManifest(repo, t, img.manifest), 201, `tag ${t}`);
      });

      const list = async (query: string) => {
        const res = await c.request('GET', `/v2/${repo}/tags/list${query}`);
        expectStatus(res, 200);
        const doc = parseJson(res);
        assert.equal(doc.name, repo, show(res));
        assert.ok(Array.isArray(doc.tags), `tags must be an array\n${show(res)}`);
        return { res, tags: doc.tags as string[] };
      };

      check('end-8a §Listing Tags: returns 200 {"name","tags"} with every tag in lexical order', async () => {
        const { tags } = await list('');
        assert.deepEqual(tags, SORTED);
      });

      check('end-8b §Listing Tags: ?n=<int> returns exactly n tags and a Link rel="next" header when more exist', async () => {
        const { res, tags } = await list('?n=2');
        assert.deepEqual(tags, SORTED.slice(0, 2));
        const link = nextLink(res);
        assert.ok(link, `expected a Link header on a truncated list\n${show(res)}`);
        const u = new URL(link, c.base);
        assert.equal(u.pathname, `/v2/${repo}/tags/list`, `Link must point at the tags list: ${link}`);
        assert.equal(u.searchParams.get('n'), '2', `Link keeps n: ${link}`);
        assert.equal(u.searchParams.get('last'), SORTED[1], `Link carries last=<last returned tag>: ${link}`);
      });

      check('end-8b §Listing Tags: following the Link headers pages through every tag exactly once, in order', async () => {
        const seen: string[] = [];
        let target: string | undefined = `/v2/${repo}/tags/list?n=3`;
        for (let page = 0; target && page < 10; page++) {
          const res = await c.request('GET', target);
          expectStatus(res, 200);
          const doc = parseJson(res);
          assert.ok(doc.tags.length <= 3, `page larger than n\n${show(res)}`);
          seen.push(...(doc.tags as string[]));
          target = nextLink(res);
        }
        assert.equal(target, undefined, 'pagination did not end');
        assert.deepEqual(seen, SORTED);
      });

      check('end-8b §Listing Tags: ?n=<int>&last=<tag> returns up to n tags strictly after <tag>', async () => {
        const { tags } = await list(`?n=2&last=${SORTED[2]}`);
        assert.deepEqual(tags, SORTED.slice(3, 5));
      });

      check('end-8b §Listing Tags: ?last=<tag> without n returns every tag after <tag>', async () => {
        const { res, tags } = await list(`?last=${SORTED[3]}`);
        assert.deepEqual(tags, SORTED.slice(4));
        assert.equal(nextLink(res), undefined, 'no Link when nothing is left');
      });

      check('end-8b §Listing Tags: ?n=0 returns an empty list and no Link header', async () => {
        const { res, tags } = await list('?n=0');
        assert.deepEqual(tags, []);
        assert.equal(res.headers.get('link'), null, `n=0 MUST NOT include a Link header\n${show(res)}`);
      });

      check('end-8b §Listing Tags: n larger than the number of tags returns them all without a Link header', async () => {
        const { res, tags } = await list('?n=100');
        assert.deepEqual(tags, SORTED);
        assert.equal(res.headers.get('link'), null, show(res));
      });
    });

    // ---------------------------------------------------------------------------------------
    describe('Content discovery: catalog (_catalog, Docker Registry HTTP API V2, apdx-1)', () => {
      const prefix = `catalog${randomBytes(3).toString('hex')}`;
      const REPOS = [`${prefix}/r3`, `${prefix}/r1`, `${prefix}/r2`];
      before(async () => {
        for (const r of REPOS) await pushImage(r, 'latest');
      });

      check('_catalog (apdx-1 Listing Repositories): GET /v2/_catalog lists repositories in lexical order', async () => {
        const res = await c.request('GET', '/v2/_catalog?n=1000');
        expectStatus(res, 200);
        const repos = parseJson(res).repositories as string[];
        assert.ok(Array.isArray(repos), show(res));
        for (const r of REPOS) assert.ok(repos.includes(r), `${r} missing from catalog`);
        assert.deepEqual(repos, [...repos].sort(), 'catalog must be in lexical order');
      });

      check('_catalog (apdx-1 Listing Repositories): n and last paginate with a Link rel="next" header', async () => {
        const res = await c.request('GET', `/v2/_catalog?n=2&last=${prefix}`);
        expectStatus(res, 200);
        assert.deepEqual(parseJson(res).repositories, [`${prefix}/r1`, `${prefix}/r2`]);
        const link = nextLink(res);
        assert.ok(link, `expected a Link header on a truncated catalog\n${show(res)}`);
        const u = new URL(link, c.base);
        assert.equal(u.pathname, '/v2/_catalog', link);
        assert.equal(u.searchParams.get('n'), '2', link);
        assert.equal(u.searchParams.get('last'), `${prefix}/r2`, link);
        const next = await c.request('GET', link);
        expectStatus(next, 200);
        assert.equal((parseJson(next).repositories as string[])[0], `${prefix}/r3`, show(next));
      });
    });

    // ---------------------------------------------------------------------------------------
    if (opts.expectReferrers) {
      describe('Content discovery: referrers (end-12a, end-12b)', () => {
        const repo = `${ns}/referrers`;
        const TYPE_A = 'application/vnd.nhl.peanut.butter.bagel';
        const TYPE_B = 'application/vnd.nba.strawberry.jam.croissant';
        const TYPE_INDEX = 'application/vnd.food.stand';
        const KEY = 'org.opencontainers.conformance.test';
        const refBlobA = blobOf('NHL Peanut Butter on my NHL bagel');
        const refBlobB = blobOf('NBA Strawberry Jam on my NBA croissant');

        let subject!: Manifest;
        const puts = new Map<string, Res>();
        const artifacts: { id: string; m: Manifest; artifactType?: string; annotation: string }[] = [];
        let orphanSubject!: Manifest;
        let orphan!: Manifest;
        let typelessIndexSubject!: Manifest;
        let typelessIndex!: Manifest;

        before(async () => {
          await pushBlob(repo, EMPTY_JSON);
          await pushBlob(repo, refBlobA);
          await pushBlob(repo, refBlobB);
          const img = await pushImage(repo, 'subject');
          subject = img.manifest;
          const subj = desc(MT.ociManifest, subject);
          const emptyDesc = desc(MT.ociEmpty, EMPTY_JSON);

          // As in conformance/setup.go: type from config.mediaType, and type from artifactType.
          const aConfig = ociManifest(desc(TYPE_A, refBlobA), [emptyDesc], { subject: subj, annotations: { [KEY]: 'test config a' } });
          const aLayer = ociManifest(emptyDesc, [desc(TYPE_A, refBlobA)], { artifactType: TYPE_A, subject: subj, annotations: { [KEY]: 'test layer a' } });
          const bConfig = ociManifest(desc(TYPE_B, refBlobB), [emptyDesc], { subject: subj, annotations: { [KEY]: 'test config b' } });
          const bLayer = ociManifest(emptyDesc, [desc(TYPE_B, refBlobB)], { artifactType: TYPE_B, subject: subj, annotations: { [KEY]: 'test layer b' } });
          const index = manifestOf(
            {
              schemaVersion: 2,
              mediaType: MT.ociIndex,
              artifactType: TYPE_INDEX,
              manifests: [desc(MT.ociManifest, aConfig), desc(MT.ociManifest, aLayer)],
              subject: subj,
              annotations: { [KEY]: 'test index' },
            },
            MT.ociIndex,
          );
          artifacts.push(
            { id: 'aConfig', m: aConfig, artifactType: TYPE_A, annotation: 'test config a' },
            { id: 'aLayer', m: aLayer, artifactType: TYPE_A, annotation: 'test layer a' },
            { id: 'index', m: index, artifactType: TYPE_INDEX, annotation: 'test index' },
            { id: 'bConfig', m: bConfig, artifactType: TYPE_B, annotation: 'test config b' },
            { id: 'bLayer', m: bLayer, artifactType: TYPE_B, annotation: 'test layer b' },
          );
          for (const a of artifacts) puts.set(a.id, await putManifest(repo, a.m.digest, a.m));

          // A referrer whose subject was never pushed (conformance refsManifestCLayerArtifact).
          orphanSubject = ociManifest(desc(MT.ociConfig, configBlob()), []);
          orphan = ociManifest(emptyDesc, [desc(TYPE_B, refBlobB)], { artifactType: TYPE_B, subject: desc(MT.ociManifest, orphanSubject) });
          puts.set('orphan', await putManifest(repo, orphan.digest, orphan));

          // An index referrer without artifactType: the descriptor MUST omit artifactType.
          typelessIndexSubject = ociManifest(desc(MT.ociConfig, configBlob()), []);
          typelessIndex = manifestOf(
            { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [], subject: desc(MT.ociManifest, typelessIndexSubject), annotations: { [KEY]: 'typeless' } },
            MT.ociIndex,
          );
          puts.set('typelessIndex', await putManifest(repo, typelessIndex.digest, typelessIndex));
        });

        const referrers = async (digest: string, query = '', r = repo) => {
          const res = await c.request('GET', `/v2/${r}/referrers/${digest}${query}`);
          expectStatus(res, 200);
          assert.equal(res.headers.get('content-type'), MT.ociIndex, show(res));
          const doc = parseJson(res);
          assert.equal(doc.schemaVersion, 2, show(res));
          if (doc.mediaType !== undefined) assert.equal(doc.mediaType, MT.ociIndex, show(res));
          assert.ok(Array.isArray(doc.manifests), `manifests must be an array\n${show(res)}`);
          return { res, manifests: doc.manifests as Descriptor[] };
        };

        const expectDescriptors = (got: Descriptor[], want: typeof artifacts) => {
          assert.deepEqual(got.map((d) => d.digest).sort(), want.map((a) => a.m.digest).sort(), 'referrer digests');
          for (const a of want) {
            const d = got.find((x) => x.digest === a.m.digest)!;
            assert.equal(d.mediaType, a.m.mediaType, `${a.id} mediaType`);
            assert.equal(d.size, a.m.size, `${a.id} size`);
            assert.equal(d.artifactType, a.artifactType, `${a.id} artifactType`);
            assert.deepEqual(d.annotations, { [KEY]: a.annotation }, `${a.id} annotations`);
          }
        };

        check('end-7 §Pushing Manifests with Subject: PUT of image manifests with a subject returns 201 and OCI-Subject: <subject digest>', async () => {
          for (const id of ['aConfig', 'aLayer', 'bConfig', 'bLayer']) {
            const res = puts.get(id)!;
            expectStatus(res, 201, id);
            assert.equal(res.headers.get('oci-subject'), subject.digest, `${id}: OCI-Subject\n${show(res)}`);
          }
        });

        check('end-7 §Pushing Manifests with Subject: PUT of an image index with a subject returns 201 and OCI-Subject', async () => {
          const res = puts.get('index')!;
          expectStatus(res, 201);
          assert.equal(res.headers.get('oci-subject'), subject.digest, show(res));
        });

        check('end-12a §Listing Referrers: GET /v2/<name>/referrers/<digest> returns 200 application/vnd.oci.image.index.v1+json listing every referrer with artifactType and annotations', async () => {
          const { manifests } = await referrers(subject.digest);
          expectDescriptors(manifests, artifacts);
        });

        check('end-12b §Listing Referrers: ?artifactType= returns only matching referrers and sets OCI-Filters-Applied: artifactType', async () => {
          const { res, manifests } = await referrers(subject.digest, `?artifactType=${encodeURIComponent(TYPE_A)}`);
          assert.equal(res.headers.get('oci-filters-applied'), 'artifactType', show(res));
          expectDescriptors(manifests, artifacts.filter((a) => a.artifactType === TYPE_A));
          const none = await referrers(subject.digest, `?artifactType=${encodeURIComponent('application/vnd.example.none')}`);
          assert.equal(none.res.headers.get('oci-filters-applied'), 'artifactType', show(none.res));
          assert.deepEqual(none.manifests, []);
        });

        check('end-12a §Listing Referrers: an unfiltered response carries no OCI-Filters-Applied header', async () => {
          const { res } = await referrers(subject.digest);
          assert.equal(res.headers.get('oci-filters-applied'), null, show(res));
        });

        check('end-12a §Listing Referrers: referrers of an unknown digest is 200 with an empty index (never 404)', async () => {
          const { manifests } = await referrers(unknownDigest());
          assert.deepEqual(manifests, []);
        });

        check('end-12a §Listing Referrers (conformance): a referrer pushed before its subject is listed (OCI-Subject set on its PUT)', async () => {
          const put = puts.get('orphan')!;
          expectStatus(put, 201);
          assert.equal(put.headers.get('oci-subject'), orphanSubject.digest, show(put));
          const { manifests } = await referrers(orphanSubject.digest);
          assert.deepEqual(manifests.map((d) => d.digest), [orphan.digest]);
          assert.equal(manifests[0]!.artifactType, TYPE_B);
        });

        check('end-12a §Listing Referrers: an index referrer without artifactType is listed without artifactType', async () => {
          expectStatus(puts.get('typelessIndex')!, 201);
          const { manifests } = await referrers(typelessIndexSubject.digest);
          assert.equal(manifests.length, 1, JSON.stringify(manifests));
          const d = manifests[0]!;
          assert.equal(d.digest, typelessIndex.digest);
          assert.equal(d.mediaType, MT.ociIndex);
          assert.equal(d.size, typelessIndex.size);
          assert.ok(!('artifactType' in d), `artifactType MUST be omitted: ${JSON.stringify(d)}`);
          assert.deepEqual(d.annotations, { [KEY]: 'typeless' });
        });

        check('end-12a §Listing Referrers: referrers are scoped to the repository', async () => {
          const other = `${ns}/referrers-other`;
          await pushImage(other, 'x');
          const { manifests } = await referrers(subject.digest, '', other);
          assert.deepEqual(manifests, []);
        });

        check('end-12a §Listing Referrers: a digest with invalid syntax returns 400', async () => {
          const res = await c.request('GET', `/v2/${repo}/referrers/sha256:xyz`);
          expectError(res, 400, 'DIGEST_INVALID');
        });

        check('end-9 §Deleting Manifests + end-12a: a deleted referrer is no longer listed', async () => {
          const gone = artifacts.find((a) => a.id === 'bLayer')!;
          expectStatus(await c.request('DELETE', `/v2/${repo}/manifests/${gone.m.digest}`), 202);
          const { manifests } = await referrers(subject.digest);
          expectDescriptors(manifests, artifacts.filter((a) => a !== gone));
        });
      });
    } else {
      describe('Backwards compatibility: no referrers API', () => {
        check('§Unavailable Referrers API: a registry without the referrers API answers 404 so clients fall back to the tag schema', async () => {
          const img = await pushImage(`${ns}/no-referrers`, 'x');
          expectStatus(await c.request('GET', `/v2/${ns}/no-referrers/referrers/${img.manifest.digest}`), 404);
        });
      });
    }

    // ---------------------------------------------------------------------------------------
    describe('Suite bookkeeping', () => {
      it('every knownFailures entry names a check of this suite', () => {
        const unknown = [...known.keys()].filter((k) => !registered.has(k));
        assert.deepEqual(unknown, [], `knownFailures entries that match no check: ${unknown.join(' | ')}`);
      });
    });
  });
}
