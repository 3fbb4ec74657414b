/**
 * GetObject bodies written into a destination from a few buffers each connection reuses, for the driver's
 * `sendTo` (blob GETs). Through node:http every socket read is a fresh 64 KiB Buffer, and 16 clients pulling
 * from S3 kept 30 to 56 MB of dead ones resident between full GCs (docs/benchmarks.md); here the socket reads
 * straight into the connection's buffers (net.Socket `onread`), each is written to the destination, and it
 * is read into again once the destination has handed it to the kernel. Reading pauses while all are out.
 *
 * Only the transfer is ours: the SDK still builds, signs and retries the request, resolves the endpoint and
 * parses errors. {@link RawGetHandler} wraps the SDK's handler and takes the requests sent with the
 * {@link RAW_GET} option; the response's body is a {@link RawBody}. A 2xx answer must carry Content-Length
 * (S3's GetObject always does): one without makes the handler throw {@link RawGetUnsupported}, and the caller
 * reads the object the SDK's way from then on.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { Readable, type Writable } from 'node:stream';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import type { NodeHttpHandler } from '@smithy/node-http-handler';

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

/** Each connection's read buffers: SLOTS × SLOT_SIZE, the most a transfer holds whatever the client's pace. */
const SLOT_SIZE = 64 * 1024;
const SLOTS = 6;
const MAX_HEAD = 64 * 1024;
/** Error bodies are XML of a few hundred bytes; more is not read. */
const MAX_ERROR_BODY = 1024 * 1024;
/** Idle kept-alive connections per endpoint, and how long one waits to be reused (S3 closes its own after ~20 s). */
const MAX_IDLE = 8;
const IDLE_MS = 4_000;

export class RawGetUnsupported extends Error {
  constructor(why: string) {
    super(`S3 answered a GET in a form the direct transfer does not read (${why})`);
    this.name = 'RawGetUnsupported';
  }
}

export class RawGetHandler {
  readonly #idle = new Map<string, Connection[]>();

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
    for (const list of this.#idle.values()) for (const conn of list.splice(0)) conn.socket.destroy();
    this.inner.destroy();
  }

  async #raw(request: HttpRequest, signal: AbortSignal | undefined): Promise<HandlerResult> {
    const origin = `${request.protocol}//${request.hostname}:${request.port ?? ''}`;
    const head = requestHead(request);
    for (;;) {
      const reused = this.#takeIdle(origin);
      const conn = reused ?? (await this.#connect(request));
      try {
        const response = await conn.exchange(head, this.opts.responseTimeoutMs, signal, () => this.#release(origin, conn));
        return { response };
      } catch (err) {
        // A kept-alive connection the server closed meanwhile fails before any byte: the request goes again.
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
    if (list.length >= MAX_IDLE) return void conn.socket.destroy();
    this.#idle.set(origin, list);
    list.push(conn);
    conn.idle(IDLE_MS, () => {
      const at = list.indexOf(conn);
      if (at >= 0) list.splice(at, 1);
    });
  }

  #connect(request: HttpRequest): Promise<Connection> {
    const host = request.hostname.replace(/^\[|\]$/g, '');
    const secure = request.protocol === 'https:';
    const port = request.port ?? (secure ? 443 : 80);
    return new Promise<Connection>((resolve, reject) => {
      const conn = new Connection();
      const onread = { buffer: () => conn.nextBuffer(), callback: (n: number, buf: Uint8Array) => conn.onData(n, buf) };
      const socket = secure
        ? // @types/node lacks tls.connect's onread, which Node has had since 13.
          tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), rejectUnauthorized: this.opts.tls.rejectUnauthorized, ...(this.opts.tls.ca ? { ca: this.opts.tls.ca } : {}), ALPNProtocols: ['http/1.1'], onread } as ConnectionOptions)
        : netConnect({ host, port, onread });
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

type Phase = 'idle' | 'head' | 'body' | 'error-body' | 'done';
type Sink = { dest: Writable; done: (err?: Error) => void };

/**
 * One socket and its buffers, running one exchange at a time. Every read lands in a free slot, handed out by
 * `nextBuffer`; when none is free (all written out and not yet acknowledged) it lands in `landing` and reading
 * pauses, and the next read is copied into the first slot to come back. TLS may deliver what it had decrypted
 * after a pause: that is why a read is never given a slot in use.
 */
class Connection {
  socket!: Socket;
  readonly #landing = Buffer.allocUnsafeSlow(SLOT_SIZE);
  #slots: Buffer[] = [];
  #free: Buffer[] = [];
  /** The slot the next read lands in, when it is not `landing`. */
  #target: Buffer | undefined;
  #phase: Phase = 'idle';
  #head: Buffer[] = [];
  #headLength = 0;
  #status = 0;
  #remaining = 0;
  #reusable = false;
  /** Body bytes read and not yet given to the sink, in order, each with its slot (undefined: a copy). */
  #queue: Array<{ bytes: Buffer; slot?: Buffer }> = [];
  #unacked = 0;
  #sink: Sink | undefined;
  #paused = false;
  #timer: NodeJS.Timeout | undefined;
  #onHead: ((res: HandlerResult['response']) => void) | undefined;
  #onFail: ((err: Error) => void) | undefined;
  #release: (() => void) | undefined;
  #idleGone: (() => void) | undefined;
  #errorBody: Buffer[] = [];
  #errorHeaders: Record<string, string> = {};
  #chunked = false;
  #timeoutMs = 0;

  attach(socket: Socket): void {
    this.socket = socket;
    socket.on('error', (err) => this.#socketGone(err));
    socket.on('end', () => {
      // An error body without a length ends with the connection.
      if (this.#phase === 'error-body' && this.#remaining === Infinity) this.#finishErrorBody();
      else this.#socketGone(Object.assign(new Error('S3 closed the connection before the response was complete'), { code: 'ECONNRESET' }));
    });
    socket.on('close', () => this.#socketGone(Object.assign(new Error('the connection to S3 closed before the response was complete'), { code: 'ECONNRESET' })));
  }

  /** The connection failed or closed: the exchange fails unless S3 had sent all of it. */
  #socketGone(err: Error): void {
    if (this.#phase === 'done') {
      this.#reusable = false; // what is left is the destination acknowledging the last writes
      return;
    }
    this.#fail(err);
  }

  nextBuffer(): Uint8Array {
    if (this.#phase === 'body' && !this.#target) this.#target = this.#free.pop();
    return this.#target ?? this.#landing;
  }

  idle(ms: number, gone: () => void): void {
    this.#phase = 'idle';
    this.#idleGone = gone;
    this.#timer = setTimeout(() => this.socket.destroy(), ms).unref();
    if (this.#paused) this.#resume();
  }

  unidle(): void {
    clearTimeout(this.#timer);
    this.#idleGone = undefined;
  }

  exchange(head: string, timeoutMs: number, signal: AbortSignal | undefined, release: () => void): Promise<HandlerResult['response']> {
    this.#phase = 'head';
    this.#timeoutMs = timeoutMs;
    this.#head = [];
    this.#headLength = 0;
    this.#release = release;
    return new Promise((resolve, reject) => {
      // Aborting counts until the response is handed over; the connection may serve another request after.
      const abort = () => this.socket.destroy(abortError());
      this.#onHead = (res) => {
        signal?.removeEventListener('abort', abort);
        resolve(res);
      };
      this.#onFail = (err) => {
        signal?.removeEventListener('abort', abort);
        reject(Object.assign(err, { beforeResponse: this.#headLength === 0 }));
      };
      if (signal?.aborted) return abort();
      signal?.addEventListener('abort', abort, { once: true });
      this.#arm();
      this.socket.write(head);
      if (this.#paused) this.#resume();
    });
  }

  /** Writes the body into `dest`; resolves with its length once `dest` has accepted every byte. */
  sendTo(dest: Writable, length: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const closed = () => this.#fail(new Error('destination closed before the object was sent'));
      dest.once('close', closed);
      this.#sink = {
        dest,
        done: (err) => {
          dest.off('close', closed);
          this.#sink = undefined;
          if (err) reject(err);
          else resolve(length);
        },
      };
      if (dest.destroyed) return closed();
      this.#pump();
    });
  }

  abandon(): void {
    if (this.#phase !== 'done' && this.#phase !== 'idle') this.socket.destroy();
  }

  onData(nread: number, buf: Uint8Array): boolean {
    if (this.#phase === 'idle') {
      this.socket.destroy(); // bytes nobody asked for: the connection is out of step
      return false;
    }
    this.#arm();
    const landed = buf === this.#landing;
    if (!landed) this.#target = undefined;
    let bytes = Buffer.from(buf.buffer, buf.byteOffset, nread);
    if (this.#phase === 'head') {
      this.#head.push(Buffer.from(bytes)); // copied: the head is a few hundred bytes
      this.#headLength += nread;
      const all = Buffer.concat(this.#head);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.#headLength > MAX_HEAD) this.#fail(new Error(`S3's response head is larger than ${MAX_HEAD} bytes`));
        if (!landed) this.#free.push(buf as Buffer);
        return true;
      }
      if (!landed) this.#free.push(buf as Buffer);
      let next: 'body' | 'error-body';
      try {
        next = this.#parseHead(all.subarray(0, end).toString('latin1'));
      } catch (err) {
        this.#fail(err as Error);
        return false;
      }
      bytes = all.subarray(end + 4);
      if (next === 'body') {
        this.#take(bytes, undefined);
        this.#paused = true; // until sendTo: the SDK deserialises the head first
        return false;
      }
      if ((this.#phase as Phase) === 'done') return true; // an empty error body, handed over already
    }
    if (this.#phase === 'error-body') {
      if (!landed) this.#free.push(buf as Buffer);
      this.#errorBody.push(Buffer.from(bytes));
      this.#remaining -= bytes.length;
      const read = Buffer.concat(this.#errorBody);
      const lastChunk = this.#chunked && (read.equals(Buffer.from('0\r\n\r\n')) || read.subarray(-7).equals(Buffer.from('\r\n0\r\n\r\n')));
      if (this.#remaining <= 0 || lastChunk || read.length > MAX_ERROR_BODY) this.#finishErrorBody();
      return true;
    }
    if (landed) {
      const slot = this.#free.pop();
      if (slot) {
        bytes.copy(slot);
        this.#take(slot.subarray(0, nread), slot);
      } else this.#take(Buffer.from(bytes), undefined);
    } else this.#take(bytes, buf as Buffer);
    this.#pump();
    if (this.#phase === 'body' && this.#free.length === 0) {
      this.#paused = true;
      clearTimeout(this.#timer); // waiting on the client, not on S3
      return false;
    }
    return true;
  }

  /** Parses the response head and hands the response over (a 2xx at once, an error once its body is read). */
  #parseHead(text: string): 'body' | 'error-body' {
    const [statusLine, ...lines] = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(statusLine ?? '');
    if (!m) throw new Error(`S3 answered something other than HTTP/1.x: ${JSON.stringify(statusLine?.slice(0, 100))}`);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    this.#status = Number(m[2]);
    const length = headers['content-length'] !== undefined && /^\d+$/.test(headers['content-length']) ? Number(headers['content-length']) : undefined;
    const chunked = /chunked/i.test(headers['transfer-encoding'] ?? '');
    this.#reusable = m[1] === '1' && !/close/i.test(headers.connection ?? '') && length !== undefined && !chunked;
    const respond = (body: Readable) => {
      const onHead = this.#onHead!;
      this.#onHead = undefined;
      onHead({ statusCode: this.#status, reason: m[3], headers, body } as HandlerResult['response']);
    };
    if (this.#status >= 200 && this.#status < 300) {
      if (length === undefined || chunked) throw new RawGetUnsupported(chunked ? 'chunked transfer encoding' : 'no Content-Length');
      if (this.#slots.length === 0) this.#slots = Array.from({ length: SLOTS }, () => Buffer.allocUnsafeSlow(SLOT_SIZE));
      this.#free = [...this.#slots]; // a new exchange: every slot of the last one was acknowledged
      this.#target = undefined;
      this.#phase = 'body';
      this.#remaining = length;
      respond(new RawBody(this, length));
      if (length === 0) this.#complete();
      return 'body';
    }
    // An error: its XML body is read whole and the SDK parses it. Without a length, it ends with the connection.
    this.#errorHeaders = headers;
    this.#errorBody = [];
    this.#remaining = length === undefined || chunked ? Infinity : length;
    this.#chunked = chunked;
    this.#phase = 'error-body';
    if (this.#remaining === 0) this.#finishErrorBody();
    return 'error-body';
  }

  #finishErrorBody(): void {
    this.#phase = 'done';
    clearTimeout(this.#timer);
    let body: Buffer = Buffer.concat(this.#errorBody);
    if (this.#chunked) body = dechunk(body);
    if (this.#remaining !== 0) this.#reusable = false; // cut short, or delimited by the connection's end
    this.#errorBody = [];
    const onHead = this.#onHead!;
    this.#onHead = undefined;
    if (this.#reusable) this.#release!();
    else this.socket.destroy();
    onHead({ statusCode: this.#status, headers: this.#errorHeaders, body: Readable.from([body]) } as HandlerResult['response']);
  }

  #take(bytes: Buffer, slot: Buffer | undefined): void {
    if (bytes.length > this.#remaining) {
      this.#reusable = false; // more than Content-Length: the connection is out of step
      bytes = bytes.subarray(0, this.#remaining);
    }
    this.#remaining -= bytes.length;
    if (bytes.length) this.#queue.push({ bytes, slot });
    else if (slot) this.#free.push(slot);
  }

  #pump(): void {
    const sink = this.#sink;
    if (!sink) return;
    while (this.#queue.length) {
      const { bytes, slot } = this.#queue.shift()!;
      this.#unacked++;
      sink.dest.write(bytes, (err) => {
        this.#unacked--;
        if (err) return this.#fail(err);
        if (slot) this.#free.push(slot);
        if (this.#phase === 'body' && this.#paused && this.#free.length > 0) this.#resume();
        this.#maybeDone();
      });
    }
    if (this.#remaining === 0) this.#complete();
    else if (this.#paused && this.#free.length > 0 && this.#phase === 'body') this.#resume();
    this.#maybeDone();
  }

  #complete(): void {
    if (this.#phase !== 'body') return;
    this.#phase = 'done';
    clearTimeout(this.#timer);
    this.#maybeDone();
  }

  #maybeDone(): void {
    if (this.#phase !== 'done' || this.#unacked > 0 || this.#queue.length > 0 || !this.#sink) return;
    const sink = this.#sink;
    if (this.#reusable) this.#release!();
    else this.socket.destroy();
    sink.done();
  }

  #resume(): void {
    this.#paused = false;
    if (this.#phase !== 'idle') this.#arm();
    this.socket.resume();
  }

  /** A wait on S3: for the head, or for more of the body while the client keeps up. */
  #arm(): void {
    clearTimeout(this.#timer);
    if (this.#phase === 'idle' || this.#phase === 'done') return;
    this.#timer = setTimeout(() => {
      this.socket.destroy(Object.assign(new Error(`S3 sent nothing for ${this.#timeoutMs} ms`), { name: 'TimeoutError' }));
    }, this.#timeoutMs).unref();
  }

  #fail(err: Error): void {
    clearTimeout(this.#timer);
    if (this.#phase === 'idle') {
      this.#idleGone?.();
      this.#idleGone = undefined;
      this.socket.destroy();
      return;
    }
    if (this.#phase === 'done' && !this.#sink && !this.#onHead) return; // complete; the socket closing is its end
    this.#phase = 'done';
    this.#reusable = false;
    this.#queue = [];
    this.socket.destroy();
    if (this.#onHead) {
      const fail = this.#onFail!;
      this.#onHead = undefined;
      fail(err);
    } else if (this.#sink) this.#sink.done(err);
    else this.#pendingError = err;
  }

  #pendingError: Error | undefined;

  /** An error that came before sendTo (S3 reset the connection while the SDK read the head). */
  takeError(): Error | undefined {
    const err = this.#pendingError;
    this.#pendingError = undefined;
    return err;
  }
}

const abortError = () => Object.assign(new Error('the request was aborted'), { name: 'AbortError' });

/** A chunked body's data: for error bodies only, read whole. */
function dechunk(raw: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = parseInt(raw.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(raw.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/**
 * A 2xx GET's body, read only through {@link RawBody.sendTo}. It is a Readable because the SDK wants one; read
 * as a stream, it fails (nothing in the driver does). Destroying it unread closes the connection.
 */
export class RawBody extends Readable {
  #sent = false;

  constructor(
    private readonly conn: Connection,
    readonly length: number,
  ) {
    super();
  }

  sendTo(dest: Writable): Promise<number> {
    if (this.#sent) throw new Error('a raw GET body is sent once');
    this.#sent = true;
    const early = this.conn.takeError();
    if (early) return Promise.reject(early);
    return this.conn.sendTo(dest, this.length);
  }

  override _read(): void {
    this.destroy(new Error('a raw GET body is read with sendTo'));
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (!this.#sent) this.conn.abandon();
    callback(err);
  }
}
