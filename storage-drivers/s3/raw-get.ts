/**
 * GetObject bodies written into a destination from a few buffers each connection reuses, for the driver's
 * `sendTo` (blob GETs). Through node:http every socket read is a fresh 64 KiB Buffer, and 16 clients pulling
 * from S3 kept 30 to 56 MB of dead ones resident between full GCs (docs/benchmarks.md); here the socket reads
 * straight into the connection's buffers (raw-connection.ts), each written to the destination and read into
 * again once the destination has handed it to the kernel.
 *
 * Only the transfer is ours: the SDK still builds, signs and retries the request, resolves the endpoint and
 * parses errors. {@link RawGetHandler} wraps the SDK's handler and takes the GETs sent with the {@link RAW_GET}
 * option; the response's body is a RawBody. A 2xx answer must carry Content-Length (S3's GetObject always
 * does): one without makes the handler throw RawGetUnsupported, and the caller reads the SDK's way instead.
 */
import { connect as netConnect, isIP } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import type { NodeHttpHandler } from '@smithy/node-http-handler';
import { Connection } from './raw-connection';

export { RawBody, RawGetUnsupported } from './raw-connection';

/** The option (`client.send(command, { [RAW_GET]: true })`) that sends a GET through {@link RawGetHandler}. */
export const RAW_GET = 'berthRawGet';

type HttpRequest = Parameters<NodeHttpHandler['handle']>[0];
type HandlerOptions = NonNullable<Parameters<NodeHttpHandler['handle']>[1]>;
type HandlerResult = Awaited<ReturnType<NodeHttpHandler['handle']>>;

export interface RawGetOptions {
  connectTimeoutMs: number;
  /** Until the response head, and for each wait on S3 for more of the body. */
  responseTimeoutMs: number;
  tls: { rejectUnauthorized: boolean; ca?: Buffer };
}

/** Connections open at once, as the SDK's agents allow (`maxSockets`); GETs beyond wait for one. */
const MAX_CONNECTIONS = 128;
/** Idle kept-alive connections per endpoint, and how long one waits to be reused (S3 closes its own after ~20 s). */
const MAX_IDLE = 8;
const IDLE_MS = 4_000;

export class RawGetHandler {
  readonly #idle = new Map<string, Connection[]>();
  #open = 0;
  readonly #waiting: Array<() => void> = [];
  #destroyed = false;

  constructor(
    private readonly inner: NodeHttpHandler,
    private readonly opts: RawGetOptions,
  ) {}

  get metadata(): NodeHttpHandler['metadata'] {
    return this.inner.metadata;
  }

  handle(request: HttpRequest, options?: HandlerOptions): Promise<HandlerResult> {
    if (!(options as Record<string, unknown> | undefined)?.[RAW_GET] || request.method !== 'GET') return this.inner.handle(request, options);
    return this.#raw(request, options?.abortSignal as AbortSignal | undefined);
  }

  updateHttpClientConfig(key: Parameters<NodeHttpHandler['updateHttpClientConfig']>[0], value: Parameters<NodeHttpHandler['updateHttpClientConfig']>[1]): void {
    this.inner.updateHttpClientConfig(key, value);
  }

  httpHandlerConfigs(): ReturnType<NodeHttpHandler['httpHandlerConfigs']> {
    return this.inner.httpHandlerConfigs();
  }

  destroy(): void {
    this.#destroyed = true;
    for (const list of this.#idle.values()) for (const conn of list.splice(0)) conn.socket.destroy();
    this.inner.destroy();
  }

  async #raw(request: HttpRequest, signal: AbortSignal | undefined): Promise<HandlerResult> {
    const origin = `${request.protocol}//${request.hostname}:${request.port ?? ''}`;
    const head = requestHead(request);
    for (;;) {
      const { conn, reused } = await this.#acquire(origin, request, signal);
      try {
        const response = await conn.exchange(head, this.opts.responseTimeoutMs, signal, () => this.#release(origin, conn));
        return { response: response as HandlerResult['response'] };
      } catch (err) {
        // A kept-alive connection S3 closed meanwhile fails before any byte: the request goes again, once per idle one.
        const code = (err as { code?: string }).code;
        if (reused && (err as { beforeResponse?: boolean }).beforeResponse && (code === 'ECONNRESET' || code === 'EPIPE')) continue;
        throw err;
      }
    }
  }

  #takeIdle(origin: string): Connection | undefined {
    const list = this.#idle.get(origin);
    while (list?.length) {
      const conn = list.pop()!;
      conn.unidle();
      if (!conn.socket.destroyed) return conn;
    }
    return undefined;
  }

  #release(origin: string, conn: Connection): void {
    const list = this.#idle.get(origin) ?? [];
    if (this.#destroyed || list.length >= MAX_IDLE) return void conn.socket.destroy();
    this.#idle.set(origin, list);
    list.push(conn);
    conn.idle(IDLE_MS, () => {
      const at = list.indexOf(conn);
      if (at >= 0) list.splice(at, 1);
    });
    this.#waiting.shift()?.(); // a GET waiting for a connection takes this one
  }

  /**
   * An idle connection to `origin`, else a new one while fewer than MAX_CONNECTIONS are open (closing one idle
   * to another endpoint to make room), else the first to be released or closed.
   */
  async #acquire(origin: string, request: HttpRequest, signal: AbortSignal | undefined): Promise<{ conn: Connection; reused: boolean }> {
    for (;;) {
      if (signal?.aborted) throw Object.assign(new Error('the request was aborted'), { name: 'AbortError' });
      const idle = this.#takeIdle(origin);
      if (idle) return { conn: idle, reused: true };
      if (this.#open < MAX_CONNECTIONS) return { conn: await this.#connect(request), reused: false };
      const other = [...this.#idle.values()].find((list) => list.length > 0)?.shift();
      if (other) {
        other.unidle();
        other.socket.destroy();
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve)); // a release, or a close (that one's too)
    }
  }

  #connect(request: HttpRequest): Promise<Connection> {
    const host = request.hostname.replace(/^\[|\]$/g, '');
    const secure = request.protocol === 'https:';
    const port = request.port ?? (secure ? 443 : 80);
    const conn = new Connection();
    this.#open++;
    return new Promise<Connection>((resolve, reject) => {
      const { onread } = conn;
      const socket = secure
        ? // @types/node lacks tls.connect's onread, which Node has had since 13.
          tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), rejectUnauthorized: this.opts.tls.rejectUnauthorized, ...(this.opts.tls.ca ? { ca: this.opts.tls.ca } : {}), ALPNProtocols: ['http/1.1'], onread } as ConnectionOptions)
        : netConnect({ host, port, onread });
      socket.once('close', () => {
        this.#open--;
        this.#waiting.shift()?.();
      });
      const timer = setTimeout(() => socket.destroy(Object.assign(new Error(`connecting to ${host}:${port} timed out`), { name: 'TimeoutError' })), this.opts.connectTimeoutMs);
      const failed = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      socket.once('error', failed);
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', failed);
        socket.setNoDelay(true);
        conn.attach(socket);
        resolve(conn);
      });
    });
  }
}

/** The request line and headers, as node:http would send them for the signed request. */
function requestHead(request: HttpRequest): string {
  const query = Object.entries(request.query ?? {}).flatMap(([k, v]) => {
    if (v === null || v === undefined) return [escape(k)];
    return (Array.isArray(v) ? v : [v]).map((one) => `${escape(k)}=${escape(one)}`);
  });
  const target = `${request.path}${query.length ? `?${query.join('&')}` : ''}`;
  const headers = { ...request.headers };
  if (!Object.keys(headers).some((k) => k.toLowerCase() === 'host')) headers.host = request.port ? `${request.hostname}:${request.port}` : request.hostname;
  let head = `GET ${target} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(String(value))) throw new Error(`request header ${name} holds a line break`);
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

const escape = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

