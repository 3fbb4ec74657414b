import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { basicAuth, parseChallenge, tokenUrl, TokenCache, type Challenge, type Credentials } from './upstream-auth';
import { isDockerHub, parseUpstreamUrl, repositoryAt, requestUrl, type RequestTarget, type UpstreamUrl } from './upstream-url';

/** The upstream could not be asked (unreachable, timed out, 5xx): the core serves its cache. */
export class UpstreamUnavailable extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'UpstreamUnavailable';
  }
}

export interface UpstreamClientOptions {
  /**
   * `urls[0]` is the upstream, the rest its mirrors, tried in order when one cannot be reached. A URL's path
   * is a namespace there (`https://docker.io/library`): repository names are asked below it.
   */
  urls: string[];
  tlsVerify: boolean;
  certDir?: string;
  credentials?: Credentials;
  maxIdleConnsPerHost: number;
  logger: Logger;
  /** Called per response, for metrics. */
  onResponse?: (method: string, status: number) => void;
}

export interface RequestOptions {
  /**
   * The repository (relative to the URL's namespace) a string target belongs to, for the token scope
   * `repository:<repo>:pull`; a `{ repo, path }` target names its own.
   */
  repo?: string;
  headers?: OutgoingHttpHeaders;
  /** Deadline for the response headers (a tag HEAD must not hang a pull). */
  headersTimeoutMs?: number;
  /** Socket idle limit while the body streams (large blobs take long; a stalled one must not hang forever). */
  idleTimeoutMs?: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const DEFAULT_HEADERS_TIMEOUT_MS = 30_000;
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/**
 * A Distribution API client on node:http/https: streams bodies, keeps connections alive, speaks Basic and
 * the Docker token flow (401 → token endpoint → retry with a bearer token, cached until it expires), and
 * follows blob redirects (CDNs, presigned S3) without credentials.
 */
export class UpstreamClient {
  readonly host: string;
  readonly #urls: UpstreamUrl[];
  readonly #dockerHub: boolean;
  readonly #tls: Pick<https.AgentOptions, 'rejectUnauthorized' | 'ca' | 'cert' | 'key'>;
  readonly #agents: { http: http.Agent; https: https.Agent };
  readonly #tokens = new TokenCache();
  #challenge: Challenge | undefined;

  constructor(private readonly opts: UpstreamClientOptions) {
    this.#urls = opts.urls.map(parseUpstreamUrl);
    this.host = this.#urls[0]!.host;
    this.#dockerHub = isDockerHub(this.host);
    this.#tls = { rejectUnauthorized: opts.tlsVerify, ...readCertDir(opts.certDir) };
    const agentOpts = { keepAlive: true, maxFreeSockets: opts.maxIdleConnsPerHost, maxSockets: 256 };
    this.#agents = { http: new http.Agent(agentOpts), https: new https.Agent({ ...agentOpts, ...this.#tls }) };
  }

  close(): void {
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  /** A response (any status; the caller reads or drains the body). Rejects with UpstreamUnavailable when no URL answers. */
  async request(method: 'GET' | 'HEAD', target: RequestTarget, o: RequestOptions = {}): Promise<IncomingMessage> {
    let last: unknown;
    const repo = typeof target === 'string' ? o.repo : target.repo;
    for (const url of this.#urls) {
      try {
        const scoped = { ...o, repo: repo === undefined ? undefined : repositoryAt(url, repo, this.#dockerHub) };
        return await this.#authorized(requestUrl(url, target, this.#dockerHub), method, scoped);
      } catch (err) {
        last = err;
      }
    }
    throw last instanceof UpstreamUnavailable ? last : new UpstreamUnavailable(`upstream ${this.host} unreachable: ${(last as Error)?.message}`);
  }

  async #authorized(url: string, method: string, o: RequestOptions): Promise<IncomingMessage> {
    const scope = o.repo ? `repository:${o.repo}:pull` : undefined;
    const headers = { ...o.headers };
    const pre = await this.#preemptive(scope);
    if (pre) headers.authorization = pre;
    let res = await this.#send(url, method, headers, o);
    if (res.statusCode === 401) {
      const challenge = parseChallenge(res.headers['www-authenticate'] as string | undefined);
      const auth = challenge && (await this.#authorize(challenge, scope));
      if (auth && auth !== pre) {
        res.resume();
        res = await this.#send(url, method, { ...headers, authorization: auth }, o);
      }
    }
    for (let hops = 0; REDIRECTS.has(res.statusCode ?? 0) && res.headers.location && hops < 5; hops++) {
      const next = new URL(res.headers.location, url);
      res.resume();
      const sameOrigin = next.origin === new URL(url).origin;
      const { authorization: _drop, ...rest } = headers;
      res = await this.#send(next.toString(), method, sameOrigin ? headers : rest, o);
      url = next.toString();
    }
    this.opts.onResponse?.(method, res.statusCode ?? 0);
    if ((res.statusCode ?? 0) >= 500) {
      res.resume();
      throw new UpstreamUnavailable(`upstream ${this.host} answered ${res.statusCode}`, res.statusCode);
    }
    return res;
  }

  // Once the upstream has said how it authenticates, later requests carry credentials up front: no 401 each time.
  async #preemptive(scope: string | undefined): Promise<string | undefined> {
    const c = this.#challenge;
    if (!c) return undefined;
    if (c.scheme === 'basic') return this.opts.credentials && basicAuth(this.opts.credentials);
    if (c.scheme === 'bearer') return this.#authorize(c, scope);
    return undefined;
  }

  async #authorize(challenge: Challenge, scope: string | undefined): Promise<string | undefined> {
    this.#challenge = challenge;
    if (challenge.scheme === 'basic') return this.opts.credentials && basicAuth(this.opts.credentials);
    if (challenge.scheme !== 'bearer' || !challenge.params.realm) return undefined;
    const url = tokenUrl(challenge, scope);
    const token = this.#tokens.get(url) ?? (await this.#tokens.fetch(url, () => this.#fetchToken(url)));
    return `Bearer ${token}`;
  }

  async #fetchToken(url: string): Promise<{ token: string; expiresIn?: number }> {
    const headers: OutgoingHttpHeaders = { accept: 'application/json' };
    if (this.opts.credentials) headers.authorization = basicAuth(this.opts.credentials);
    const res = await this.#send(url, 'GET', headers, {});
    const body = await readBody(res, 1 << 20);
    if (res.statusCode !== 200) throw new UpstreamUnavailable(`upstream ${this.host} token endpoint ${new URL(url).host} answered ${res.statusCode}`, res.statusCode);
    const json = JSON.parse(body.toString('utf8')) as { token?: string; access_token?: string; expires_in?: number };
    const token = json.token ?? json.access_token;
    if (!token) throw new UpstreamUnavailable(`upstream ${this.host} token endpoint ${new URL(url).host} returned no token`);
    return { token, expiresIn: json.expires_in };
  }

  #send(url: string, method: string, headers: OutgoingHttpHeaders, o: RequestOptions): Promise<IncomingMessage> {
    const u = new URL(url);
    const secure = u.protocol === 'https:';
    const lib = secure ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(u, {
        method,
        headers: { 'user-agent': 'berth-sync', ...headers },
        agent: secure ? this.#agents.https : this.#agents.http,
        ...(secure ? this.#tls : {}),
      });
      const deadline = setTimeout(() => req.destroy(new UpstreamUnavailable(`upstream ${u.host} did not answer in time`)), o.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS);
      req.setTimeout(o.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, () => req.destroy(new UpstreamUnavailable(`upstream ${u.host} stalled`)));
      req.once('response', (res) => {
        clearTimeout(deadline);
        resolve(res);
      });
      req.once('error', (err) => {
        clearTimeout(deadline);
        reject(err instanceof UpstreamUnavailable ? err : new UpstreamUnavailable(`upstream ${u.host} unreachable: ${err.message}`));
      });
      req.end();
    });
  }
}

/** Reads a small body whole (manifests, JSON), refusing more than `limit` bytes. */
export async function readBody(res: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      res.destroy();
      throw new Error(`upstream body exceeds ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Zot's certDir (Docker's convention): `*.crt` are CAs, `*.cert` + `*.key` the client pair. */
function readCertDir(dir: string | undefined): Pick<https.AgentOptions, 'ca' | 'cert' | 'key'> {
  if (!dir) return {};
  const names = readdirSync(dir);
  const read = (n: string) => readFileSync(join(dir, n));
  const ca = names.filter((n) => n.endsWith('.crt')).map(read);
  const cert = names.find((n) => n.endsWith('.cert'));
  const key = names.find((n) => n.endsWith('.key'));
  return { ...(ca.length ? { ca } : {}), ...(cert && key ? { cert: read(cert), key: read(key) } : {}) };
}
