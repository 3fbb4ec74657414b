/**
 * One connection of raw-get.ts: a socket created with `onread`, so every read lands in a buffer it names, and
 * one GET on it at a time. Reads of a body fill a slot (one of SLOTS buffers of SLOT_SIZE); what a slot holds
 * is written to the destination when the slot is full, when the body is complete, or at the end of the event
 * loop turn (TLS hands over 16 KiB records, several per turn). A slot is read into again only once every write
 * of it is acknowledged and the socket no longer targets it. With no slot free, reading pauses and the next
 * read lands in `landing`, from which it is copied into the first slot to come back; TLS may deliver what it
 * had decrypted after a pause, so nothing relies on a pause being immediate.
 */
import type { Socket } from 'node:net';
import { Readable, type Writable } from 'node:stream';
import { dechunk, parseResponseHead } from './raw-http';

export const SLOT_SIZE = 64 * 1024;
const SLOTS = 6;
const MAX_HEAD = 64 * 1024;
/** Error bodies are XML of a few hundred bytes; more is not read, and the connection is not reused. */
const MAX_ERROR_BODY = 1024 * 1024;

/** The response the SDK receives: status, lower-cased headers, and a body stream. */
export interface RawResponse {
  statusCode: number;
  reason?: string;
  headers: Record<string, string>;
  body: Readable;
}

export class RawGetUnsupported extends Error {
  constructor(why: string) {
    super(`S3 answered a GET in a form the direct transfer does not read (${why})`);
    this.name = 'RawGetUnsupported';
  }
}

type Phase = 'idle' | 'head' | 'body' | 'error-body' | 'done';
interface Slot {
  buf: Buffer;
  /** Writes of it not yet acknowledged. */
  writes: number;
}

/** The slot reads land in: `flushed`..`filled` are read and not queued for the destination yet. */
interface Fill {
  slot: Slot;
  flushed: number;
  filled: number;
}

export class Connection {
  readonly #landing = Buffer.allocUnsafeSlow(SLOT_SIZE);
  #slots: Slot[] = [];
  #free: Slot[] = [];
  #fill: Fill | undefined;
  #flushScheduled = false;
  #phase: Phase = 'idle';
  #head = Buffer.alloc(0);
  #status = 0;
  #reason: string | undefined;
  #headers: Record<string, string> = {};
  #length = 0;
  #received = 0;
  #reusable = false;
  #chunked = false;
  #errorBody: Buffer[] = [];
  #errorBytes = 0;
  #queue: Array<{ bytes: Buffer; slot?: Slot }> = [];
  #unacked = 0;
  #sink: { dest: Writable; done: (err?: Error) => void } | undefined;
  #sent = false;
  #paused = false;
  #pendingError: Error | undefined;
  #onHead: ((res: RawResponse) => void) | undefined;
  #onFail: ((err: Error) => void) | undefined;
  #release: (() => void) | undefined;
  /** Times waits on S3 (the head, more of a body while the client keeps up); waits on the client are not timed. */
  #timer: NodeJS.Timeout | undefined;
  #waiting = false;
  #timeoutMs = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #idleGone: (() => void) | undefined;
  socket!: Socket;

  readonly onread = { buffer: () => this.#nextBuffer(), callback: (n: number, buf: Uint8Array) => this.#onData(n, buf) };

  attach(socket: Socket): void {
    this.socket = socket;
    socket.on('error', (err) => this.#socketGone(err));
    socket.on('end', () => {
      if (this.#phase === 'error-body' && !this.#chunked && this.#length === Infinity) this.#finishErrorBody(); // delimited by the close
      else this.#socketGone(Object.assign(new Error('S3 closed the connection before the response was complete'), { code: 'ECONNRESET' }));
    });
    socket.on('close', () => this.#socketGone(Object.assign(new Error('the connection to S3 closed before the response was complete'), { code: 'ECONNRESET' })));
  }

  /** Kept alive in the pool: bytes or an end from S3 now mean the connection is gone. */
  idle(ms: number, gone: () => void): void {
    this.#phase = 'idle';
    this.#idleGone = gone;
    this.#idleTimer = setTimeout(() => this.socket.destroy(), ms).unref();
    if (this.#paused) this.#resume();
  }

  unidle(): void {
    clearTimeout(this.#idleTimer);
    this.#idleGone = undefined;
  }

  /** Sends the request; resolves with the response once its head (and, for an error, its body) arrived. */
  exchange(head: string, timeoutMs: number, signal: AbortSignal | undefined, release: () => void): Promise<RawResponse> {
    this.#phase = 'head';
    this.#timeoutMs = timeoutMs;
    this.#head = Buffer.alloc(0);
    this.#release = release;
    this.#sink = undefined;
    this.#sent = false;
    this.#pendingError = undefined;
    return new Promise((resolve, reject) => {
      // Aborting counts until the response is handed over: the connection may serve another GET after it.
      const abort = () => this.socket.destroy(Object.assign(new Error('the request was aborted'), { name: 'AbortError' }));
      this.#onHead = (res) => {
        signal?.removeEventListener('abort', abort);
        resolve(res);
      };
      this.#onFail = (err) => {
        signal?.removeEventListener('abort', abort);
        reject(Object.assign(err, { beforeResponse: this.#head.length === 0 }));
      };
      if (signal?.aborted) return abort();
      signal?.addEventListener('abort', abort, { once: true });
      this.#arm();
      this.socket.write(head);
      if (this.#paused) this.#resume();
    });
  }

  /** Writes the body into `dest`; resolves with its length once `dest` has acknowledged every byte. */
  sendTo(dest: Writable): Promise<number> {
    if (this.#sent) return Promise.reject(new Error('a GET body is sent once'));
    this.#sent = true;
    if (this.#pendingError) return Promise.reject(this.#pendingError);
    return new Promise<number>((resolve, reject) => {
      const closed = () => this.#fail(new Error('destination closed before the object was sent'));
      dest.once('close', closed);
      const length = this.#length;
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

  /** The body will not be sent: the connection, out of step now, closes. */
  abandon(): void {
    if (!this.#sent && this.#phase !== 'idle') this.socket.destroy();
  }

  #nextBuffer(): Uint8Array {
    if (this.#phase !== 'body') return this.#landing;
    const fill = this.#fillWithRoom();
    return fill ? fill.slot.buf.subarray(fill.filled) : this.#landing;
  }

  /** The fill slot, a free slot made the fill when the last one is full, or undefined when none is free. */
  #fillWithRoom(): Fill | undefined {
    if (this.#fill && this.#fill.filled === SLOT_SIZE) this.#retireFill();
    if (!this.#fill) {
      const slot = this.#free.pop();
      if (slot) this.#fill = { slot, flushed: 0, filled: 0 };
    }
    return this.#fill;
  }

  #onData(nread: number, buf: Uint8Array): boolean {
    if (this.#phase === 'idle') {
      this.socket.destroy(); // bytes nobody asked for: the connection is out of step
      return false;
    }
    if (this.#waiting) this.#timer?.refresh();
    const landed = buf === this.#landing;
    if (this.#phase === 'head') return this.#onHeadBytes(Buffer.from(buf.buffer, buf.byteOffset, nread));
    if (this.#phase === 'error-body') {
      this.#onErrorBytes(Buffer.from(buf.buffer, buf.byteOffset, nread));
      return true;
    }
    if (this.#phase === 'done') {
      this.#reusable = false; // bytes after the body: out of step
      return true;
    }
    if (landed) this.#acceptCopy(this.#landing.subarray(0, nread));
    else this.#acceptInPlace(nread);
    this.#pump();
    if (this.#phase === 'body' && !this.#hasRoom()) {
      this.#paused = true;
      this.#waiting = false; // now waiting on the client
      return false;
    }
    return true;
  }

  #hasRoom(): boolean {
    return (this.#fill !== undefined && this.#fill.filled < SLOT_SIZE) || this.#free.length > 0;
  }

  /** A read that landed in the fill slot. */
  #acceptInPlace(nread: number): void {
    const fill = this.#fill!;
    const take = Math.min(nread, this.#length - this.#received);
    if (take < nread) this.#reusable = false;
    fill.filled += take;
    this.#received += take;
    this.#afterBodyBytes();
  }

  /** Bytes that could not land in a slot (after the head, or while no slot was free): copied into slots. */
  #acceptCopy(bytes: Buffer): void {
    if (bytes.length > this.#length - this.#received) {
      this.#reusable = false;
      bytes = bytes.subarray(0, this.#length - this.#received);
    }
    this.#received += bytes.length;
    while (bytes.length > 0) {
      const fill = this.#fillWithRoom();
      if (!fill) {
        this.#queue.push({ bytes: Buffer.from(bytes) }); // a copy of its own: only after a pause, and rare
        break;
      }
      const n = bytes.copy(fill.slot.buf, fill.filled);
      fill.filled += n;
      bytes = bytes.subarray(n);
    }
    this.#afterBodyBytes();
  }

  #afterBodyBytes(): void {
    if (this.#received === this.#length) {
      this.#flush();
      this.#phase = 'done';
      this.#waiting = false;
    } else if (this.#fill && this.#fill.filled === SLOT_SIZE) this.#flush();
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        if (this.#phase !== 'body') return;
        this.#flush();
        this.#pump();
      });
    }
  }

  /** Queues what the fill slot holds beyond what was queued; the slot stays the fill while it has room. */
  #flush(): void {
    const fill = this.#fill;
    if (!fill || fill.filled === fill.flushed) return;
    this.#queue.push({ bytes: fill.slot.buf.subarray(fill.flushed, fill.filled), slot: fill.slot });
    fill.slot.writes++;
    fill.flushed = fill.filled;
  }

  /** A full fill slot: once flushed it is no longer read into, and comes back when its writes are acknowledged. */
  #retireFill(): void {
    this.#flush();
    const slot = this.#fill!.slot;
    this.#fill = undefined;
    if (slot.writes === 0) this.#free.push(slot);
  }

  #pump(): void {
    const sink = this.#sink;
    if (sink) {
      while (this.#queue.length > 0) {
        const { bytes, slot } = this.#queue.shift()!;
        this.#unacked++;
        sink.dest.write(bytes, (err) => this.#acked(slot, err ?? undefined));
      }
    }
    this.#maybeDone();
  }

  #acked(slot: Slot | undefined, err: Error | undefined): void {
    this.#unacked--;
    if (err) return this.#fail(err);
    if (slot && --slot.writes === 0 && this.#fill?.slot !== slot) this.#free.push(slot);
    if (this.#paused && this.#phase === 'body' && this.#hasRoom()) this.#resume();
    this.#maybeDone();
  }

  #maybeDone(): void {
    if (this.#phase !== 'done' || !this.#sink || this.#unacked > 0 || this.#queue.length > 0) return;
    const sink = this.#sink;
    if (this.#reusable) this.#release!();
    else this.socket.destroy();
    sink.done();
  }

  #resume(): void {
    this.#paused = false;
    if (this.#phase === 'head' || this.#phase === 'body' || this.#phase === 'error-body') this.#arm();
    this.socket.resume();
  }

  #arm(): void {
    this.#waiting = true;
    if (this.#timer) this.#timer.refresh();
    else {
      this.#timer = setTimeout(() => {
        if (!this.#waiting) return; // fired while waiting on the client, or after the response: not S3's silence
        this.socket.destroy(Object.assign(new Error(`S3 sent nothing for ${this.#timeoutMs} ms`), { name: 'TimeoutError' }));
      }, this.#timeoutMs).unref();
    }
  }

  #onHeadBytes(bytes: Buffer): boolean {
    this.#head = Buffer.concat([this.#head, bytes]); // copied: a head is a few hundred bytes
    for (;;) {
      const end = this.#head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.#head.length > MAX_HEAD) this.#fail(new Error(`S3's response head is larger than ${MAX_HEAD} bytes`));
        return true;
      }
      const rest = this.#head.subarray(end + 4);
      try {
        this.#parseHead(this.#head.subarray(0, end).toString('latin1'));
      } catch (err) {
        this.#fail(err as Error);
        return false;
      }
      if (this.#status >= 100 && this.#status < 200) {
        this.#head = Buffer.from(rest); // an interim answer (100 Continue, 103 Early Hints): the real one follows
        continue;
      }
      return this.#startBody(rest);
    }
  }

  #parseHead(text: string): void {
    const head = parseResponseHead(text);
    this.#status = head.status;
    this.#reason = head.reason;
    this.#headers = head.headers;
    this.#chunked = head.chunked;
    this.#length = head.length;
    this.#reusable = head.keepAlive;
  }

  #startBody(rest: Buffer): boolean {
    const respond = (body: Readable) => {
      const onHead = this.#onHead!;
      this.#onHead = undefined;
      onHead({ statusCode: this.#status, reason: this.#reason, headers: this.#headers, body });
    };
    if (this.#status >= 200 && this.#status < 300) {
      if (this.#length === Infinity) {
        this.#fail(new RawGetUnsupported(this.#chunked ? 'chunked transfer encoding' : 'no Content-Length'));
        return false;
      }
      if (this.#slots.length === 0) this.#slots = Array.from({ length: SLOTS }, () => ({ buf: Buffer.allocUnsafeSlow(SLOT_SIZE), writes: 0 }));
      // A new GET: every slot of the last one was acknowledged before the connection was reused.
      this.#free = [...this.#slots];
      this.#fill = undefined;
      this.#queue = [];
      this.#received = 0;
      this.#phase = 'body';
      respond(new RawBody(this));
      if (this.#length === 0) this.#afterBodyBytes();
      else if (rest.length > 0) this.#acceptCopy(rest);
      return true;
    }
    // An error: its XML body is read whole, and the SDK parses it.
    this.#phase = 'error-body';
    this.#errorBody = [];
    this.#errorBytes = 0;
    if (this.#length === 0) this.#finishErrorBody();
    else if (rest.length > 0) this.#onErrorBytes(rest);
    return true;
  }

  #onErrorBytes(bytes: Buffer): void {
    this.#errorBody.push(Buffer.from(bytes));
    this.#errorBytes += bytes.length;
    if (this.#errorBytes > MAX_ERROR_BODY) return this.#finishErrorBody();
    if (this.#chunked ? dechunk(Buffer.concat(this.#errorBody)) !== undefined : this.#errorBytes >= this.#length) this.#finishErrorBody();
  }

  #finishErrorBody(): void {
    if (this.#phase !== 'error-body') return;
    this.#phase = 'done';
    this.#waiting = false;
    const raw = Buffer.concat(this.#errorBody);
    this.#errorBody = [];
    const complete = this.#chunked ? dechunk(raw) : raw.length === this.#length ? raw : undefined;
    const body = complete ?? raw.subarray(0, Math.min(raw.length, MAX_ERROR_BODY));
    if (complete && this.#reusable) this.#release!();
    else this.socket.destroy();
    const onHead = this.#onHead!;
    this.#onHead = undefined;
    onHead({ statusCode: this.#status, reason: this.#reason, headers: this.#headers, body: Readable.from([body]) });
  }

  /** The connection failed or closed: the GET fails, unless S3 had sent all of it. */
  #socketGone(err: Error): void {
    if (this.#phase === 'idle') {
      this.#idleGone?.();
      this.#idleGone = undefined;
      this.socket.destroy();
      return;
    }
    if (this.#phase === 'done') {
      this.#reusable = false; // what may be left is the destination acknowledging the last writes
      return;
    }
    this.#fail(err);
  }

  #fail(err: Error): void {
    if (this.#phase === 'idle') return;
    const wasDone = this.#phase === 'done';
    this.#phase = 'done';
    this.#waiting = false;
    this.#reusable = false;
    this.#queue = [];
    this.socket.destroy();
    if (this.#onHead) {
      this.#onHead = undefined;
      this.#onFail!(err);
    } else if (this.#sink) this.#sink.done(err);
    else if (!wasDone || this.#unacked > 0) this.#pendingError = err;
  }
}

/**
 * A 2xx GET's body, read only through {@link RawBody.sendTo}. It is a Readable because the SDK wants one; read
 * as a stream, it fails (nothing in the driver does). Destroying it unsent closes the connection.
 */
export class RawBody extends Readable {
  constructor(private readonly conn: Connection) {
    super();
  }

  sendTo(dest: Writable): Promise<number> {
    return this.conn.sendTo(dest);
  }

  override _read(): void {
    this.destroy(new Error('a raw GET body is read with sendTo'));
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.conn.abandon();
    callback(err);
  }
}
