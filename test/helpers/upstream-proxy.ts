// An HTTP proxy written for the tests, in front of a real upstream registry: throttles blob bodies, flips a
// byte in them, or demands the Docker token flow; it records what it forwarded and when each body finished.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface ProxyOptions {
  /** Throttle response bodies of blob GETs to about this many bytes per second. */
  bytesPerSecond?: number;
  /** Flip one byte in the middle of every blob GET body. */
  corrupt?: boolean;
  /** Require `Authorization: Bearer` issued by the proxy's own /token endpoint for these credentials. */
  token?: { user: string; password: string; expiresIn: number };
}

export interface ProxyRequest {
  method: string;
  path: string;
  status: number;
  /** When the proxy finished sending the body (ms since epoch). */
  finishedAt?: number;
  /** Body bytes sent to the client. */
  bytes: number;
}

export interface UpstreamProxy {
  url: string;
  host: string;
  requests: ProxyRequest[];
  tokenRequests: number;
  stop(): Promise<void>;
}

const isBlobGet = (method: string, path: string) => method === 'GET' && /\/blobs\/sha256:/.test(path);

function throttle(bytesPerSecond: number): Transform {
  const started = Date.now();
  let sent = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      sent += chunk.length;
      const due = started + (sent / bytesPerSecond) * 1000;
      setTimeout(() => done(null, chunk), Math.max(0, due - Date.now()));
    },
  });
}

function flipOnce(at: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      if (seen <= at && at < seen + chunk.length) {
        const copy = Buffer.from(chunk);
        copy[at - seen] ^= 0xff;
        chunk = copy;
      }
      seen += chunk.length;
      done(null, chunk);
    },
  });
}

export async function startUpstreamProxy(upstreamUrl: string, opts: ProxyOptions = {}): Promise<UpstreamProxy> {
  const target = new URL(upstreamUrl);
  const requests: ProxyRequest[] = [];
  const issued = new Set<string>();
  const state = { tokenRequests: 0 };
  const server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    if (opts.token && path.startsWith('/token')) {
      state.tokenRequests++;
      const want = `Basic ${Buffer.from(`${opts.token.user}:${opts.token.password}`).toString('base64')}`;
      if (req.headers.authorization !== want) {
        res.writeHead(401).end();
        return;
      }
      const token = `t${state.tokenRequests}-${Math.random().toString(36).slice(2)}`;
      issued.add(token);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: opts.token.expiresIn }));
      return;
    }
    if (opts.token) {
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!bearer || !issued.has(bearer)) {
        const repo = /^\/v2\/(.+)\/(manifests|blobs|tags)\//.exec(path)?.[1];
        const scope = repo ? `,scope="repository:${repo}:pull"` : '';
        res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${req.headers.host}/token",service="proxy"${scope}` }).end();
        requests.push({ method, path, status: 401, bytes: 0 });
        return;
      }
    }
    const { authorization: _a, host: _h, ...headers } = req.headers;
    const up = http.request({ host: target.hostname, port: target.port, method, path, headers }, async (upRes) => {
      const entry: ProxyRequest = { method, path, status: upRes.statusCode ?? 0, bytes: 0 };
      requests.push(entry);
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      const stages: Transform[] = [];
      if (isBlobGet(method, path) && opts.bytesPerSecond) stages.push(throttle(opts.bytesPerSecond));
      const length = Number(upRes.headers['content-length'] ?? 0);
      if (isBlobGet(method, path) && opts.corrupt && length > 0) stages.push(flipOnce(Math.floor(length / 2)));
      upRes.on('data', (chunk: Buffer) => (entry.bytes += chunk.length));
      try {
        let body: Readable = upRes;
        for (const stage of stages) body = body.pipe(stage);
        await pipeline(body, res);
      } catch {
        // The client went away; nothing to record.
      }
      entry.finishedAt = Date.now();
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    get tokenRequests() {
      return state.tokenRequests;
    },
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
