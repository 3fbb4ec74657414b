/**
 * The S3 writer: content streams into a multipart upload in `chunksize` parts, one part filling while the
 * previous one uploads, and is published by one CompleteMultipartUpload (or one PutObject when it never filled a
 * part). Incoming chunks are copied into one of two `chunksize` part buffers that the writer reuses, so its memory
 * is two parts whatever the blob's size and a socket's chunk is garbage as soon as it is copied (kept until a part
 * filled, chunks outlived young-generation GCs and piled up until a full one). `close()` makes what was written
 * durable and resumable from any process through the upload state (upload-state.ts).
 */
import { Writable } from 'node:stream';
import type { DriverWriter } from '../../core/extensions/api';
import { MIN_PART } from './options';
import type { Objects, Part } from './objects';
import { discardState, discardTails, newTailPath, readState, statePath, type UploadState, writeState } from './upload-state';

type Phase = 'open' | 'closed' | 'committing' | 'committed' | 'cancelled';

/** `length` bytes at the start of `buf`; a part buffer when `buf` is `chunksize` long. */
interface Segment {
  buf: Buffer;
  length: number;
}

export async function openS3Writer(objects: Objects, path: string, append: boolean): Promise<DriverWriter> {
  if (!append) return new S3Writer(objects, path);
  const [found, committed] = await Promise.allSettled([readState(objects, path), objects.head(path)]);
  if (committed.status === 'rejected') throw committed.reason;
  if (committed.value && committed.value.size > 0) {
    // A commit publishes the content before it removes the state and tails: a state beside committed content is
    // what a commit killed in between left, and the content it published is the upload's. Its cleanup is done here.
    await discardState(objects, path, found.status === 'fulfilled' ? found.value : undefined);
    throw Object.assign(new Error(`${path} holds committed content: it cannot be appended to`), { code: 'EEXIST', path });
  }
  if (found.status === 'rejected') throw found.reason;
  const state = found.value;
  if (state) {
    const tail = state.tail ? await objects.getBytes(state.tail.path) : Buffer.alloc(0);
    if (tail.length !== (state.tail?.size ?? 0)) throw new Error(`${statePath(path)}: its tail holds ${tail.length} bytes, not ${state.tail?.size}`);
    return new S3Writer(objects, path, state, tail);
  }
  return new S3Writer(objects, path);
}

class S3Writer extends Writable implements DriverWriter {
  readonly #objects: Objects;
  readonly #path: string;
  #phase: Phase = 'open';
  #size: number;
  #uploadId: string | undefined;
  readonly #parts: Array<Part & { size: number }>;
  /** Bytes written and not yet in a part, in order (the resumed tail first); the last one may be filling. */
  #pending: Segment[] = [];
  #pendingLength = 0;
  /** A part buffer whose upload finished, for the next part to fill. */
  #spare: Buffer | undefined;
  /** Every part buffer this writer allocated (two, unless a part failed), freed at commit or cancel. */
  readonly #allocated: Buffer[] = [];
  #inflight: { data: Segment; done: Promise<void> } | undefined;
  /** The `_write` still cutting parts, which cancel and close wait for. */
  #busy: Promise<void> = Promise.resolve();
  /** The state object this writer resumed or wrote; undefined while none exists for it. */
  #state: UploadState | undefined;

  constructor(objects: Objects, path: string, state?: UploadState, tail?: Buffer) {
    super({ decodeStrings: true });
    this.#objects = objects;
    this.#path = path;
    this.#state = state;
    this.#size = state?.size ?? 0;
    this.#uploadId = state?.uploadId;
    this.#parts = state ? [...state.parts] : [];
    // A tail is shorter than MIN_PART (close() sends anything longer as a part), so it fits in the first part buffer.
    if (tail && tail.length > 0) this.#keep(tail);
  }

  get size(): number {
    return this.#size;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#size += chunk.length;
    const rest = this.#keep(chunk);
    if (rest === chunk.length) return done();
    this.#busy = this.#keepAll(chunk, rest);
    this.#busy.then(() => done(), done);
  }

  /** Copies into the filling part buffer what fits of `chunk` from `offset`; returns the offset reached. */
  #keep(chunk: Buffer, offset = 0): number {
    const size = this.#objects.chunkSize;
    let last = this.#pending.at(-1);
    if (!last || last.buf.length !== size || last.length === size) {
      if (this.#pendingLength >= size) return offset; // a whole part waits for the one in flight
      last = { buf: this.#spare ?? this.#allocate(size), length: 0 };
      this.#spare = undefined;
      this.#pending.push(last);
    }
    const n = chunk.copy(last.buf, last.length, offset);
    last.length += n;
    this.#pendingLength += n;
    return offset + n;
  }

  #keepSegment(buf: Buffer): void {
    this.#pending.push({ buf, length: buf.length });
    this.#pendingLength += buf.length;
  }

  #allocate(size: number): Buffer {
    const buf = Buffer.allocUnsafeSlow(size); // its own ArrayBuffer, never a slice of the shared pool
    this.#allocated.push(buf);
    return buf;
  }

  /** Keeps the rest of `chunk` from `offset`, sending each part buffer it fills. */
  async #keepAll(chunk: Buffer, offset: number): Promise<void> {
    for (;;) {
      await this.#cutParts();
      if (offset === chunk.length || this.#phase === 'cancelled') return;
      offset = this.#keep(chunk, offset);
    }
  }

  /** The first `length` pending bytes, as one segment: a whole part buffer as it is, else a copy. */
  #take(length: number): Segment {
    const first = this.#pending[0];
    if (first && first.length === length) {
      this.#pending.shift();
      this.#pendingLength -= length;
      return first;
    }
    const all = this.#pendingCopy();
    const rest = all.subarray(length);
    this.#pending = rest.length > 0 ? [{ buf: rest, length: rest.length }] : [];
    this.#pendingLength = rest.length;
    return { buf: all, length };
  }

  /** The pending bytes copied into one new Buffer, which outlives the part buffers. */
  #pendingCopy(): Buffer {
    return Buffer.concat(this.#pending.map((s) => s.buf.subarray(0, s.length)), this.#pendingLength);
  }

  /** The pending bytes as one Buffer (for a PutObject). */
  #takeAll(): Buffer {
    const { buf, length } = this.#take(this.#pendingLength);
    return buf.subarray(0, length);
  }

  async #cutParts(): Promise<void> {
    while (this.#pendingLength >= this.#objects.chunkSize && this.#phase !== 'cancelled') {
      await this.#settle(); // before taking: a failed part goes back in front of what follows it
      this.#startPart(this.#take(this.#objects.chunkSize));
    }
  }

  #startPart(data: Segment): void {
    const partNumber = this.#parts.length + 1;
    const done = (async () => {
      this.#uploadId ??= await this.#objects.createUpload(this.#path);
      const part = await this.#objects.uploadPart(this.#path, this.#uploadId, partNumber, data.buf.subarray(0, data.length));
      this.#parts.push({ ...part, size: data.length });
      if (data.buf.length === this.#objects.chunkSize) this.#spare = data.buf;
    })();
    done.catch(() => undefined); // read by #settle
    this.#inflight = { data, done };
  }

  /** Waits for the part in flight; if it failed, its bytes are pending again and the error is thrown. */
  async #settle(): Promise<void> {
    const inflight = this.#inflight;
    if (!inflight) return;
    try {
      await inflight.done;
    } catch (err) {
      this.#pending.unshift(inflight.data);
      this.#pendingLength += inflight.data.length;
      // A failed request may still be writing from it: never freed early, left to the GC.
      const i = this.#allocated.indexOf(inflight.data.buf);
      if (i >= 0) this.#allocated.splice(i, 1);
      throw err;
    } finally {
      this.#inflight = undefined;
    }
  }

  /** Ends the stream and waits for every write, whether the stream finished or failed. */
  async #drain(): Promise<void> {
    if (!this.destroyed && !this.writableFinished) {
      await new Promise<void>((resolve) => {
        this.once('finish', resolve);
        this.once('close', resolve);
        this.once('error', () => resolve());
        if (!this.writableEnded) this.end();
      });
    }
    await this.#busy.catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.#phase === 'closed') return;
    if (this.#phase !== 'open') throw new Error(`writer for ${this.#path} is ${this.#phase}`);
    // After a failed source, what landed is kept: a failed part's bytes are pending again.
    await this.#drain();
    await this.#settle().catch(() => undefined);
    await this.#cutParts();
    await this.#settle();
    if (this.#pendingLength >= MIN_PART) {
      this.#startPart(this.#take(this.#pendingLength));
      await this.#settle();
    }
    const previous = this.#state ?? (await readState(this.#objects, this.#path));
    let tail: UploadState['tail'];
    let tailBytes: Buffer | undefined;
    if (this.#pendingLength > 0) {
      tail = { path: newTailPath(this.#path), size: this.#pendingLength };
      tailBytes = this.#pendingCopy();
      await this.#objects.put(tail.path, tailBytes);
    }
    const state: UploadState = { v: 1, size: this.#size, ...(this.#uploadId ? { uploadId: this.#uploadId } : {}), parts: [...this.#parts], ...(tail ? { tail } : {}) };
    await writeState(this.#objects, this.#path, state);
    // Only once the new state points at the new tail: the old tail, or another writer's abandoned upload.
    if (previous?.tail) await this.#objects.deleteOne(previous.tail.path);
    if (previous?.uploadId && previous.uploadId !== this.#uploadId) await this.#objects.abortUpload(this.#path, previous.uploadId);
    this.#state = state;
    this.#phase = 'closed';
    // What a commit after this close would still send is the tail, which has its own copy.
    this.#releaseBuffers();
    if (tailBytes) this.#keepSegment(tailBytes);
  }

  async commit(): Promise<void> {
    if (this.#phase !== 'open' && this.#phase !== 'closed') throw new Error(`writer for ${this.#path} is ${this.#phase}: commit runs once`);
    this.#phase = 'committing';
    try {
      await this.#publish();
    } finally {
      await this.#settle().catch(() => undefined); // a failed commit may leave a part in flight
      this.#releaseBuffers(); // a commit runs once, whether it succeeded or not
    }
    this.#phase = 'committed';
    if (this.#state?.tail) await this.#objects.deleteOne(this.#state.tail.path);
    // Also when this writer never closed: an earlier one may have died leaving a tail no state names.
    await discardTails(this.#objects, this.#path);
    if (this.#state) await this.#objects.deleteOne(statePath(this.#path));
    this.#state = undefined;
  }

  /** Sends what is pending and completes the upload (or puts the object when no part was ever sent). */
  async #publish(): Promise<void> {
    await this.#drain();
    if (this.errored) throw new Error(`writer for ${this.#path} failed: ${this.errored.message}`);
    await this.#settle();
    if (this.#uploadId === undefined && this.#parts.length === 0) {
      await this.#objects.put(this.#path, this.#takeAll());
    } else {
      await this.#cutParts();
      await this.#settle();
      if (this.#pendingLength > 0 || this.#parts.length === 0) {
        this.#startPart(this.#take(this.#pendingLength));
        await this.#settle();
      }
      await this.#objects.completeUpload(this.#path, this.#uploadId!, this.#parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })));
    }
  }

  /**
   * Frees the part buffers now; called with no part in flight. A writer lives long enough for them to reach V8's
   * old generation, where only a full GC would free them, and a registry's small heap rarely needs one: 20 MB per
   * finished upload stayed resident. Transferring an ArrayBuffer hands its memory to a new, young one that the
   * next scavenge frees. A buffer a failed request used is not in `#allocated` (see #settle).
   */
  #releaseBuffers(): void {
    this.#pending = [];
    this.#pendingLength = 0;
    this.#spare = undefined;
    for (const buf of this.#allocated.splice(0)) structuredClone(buf.buffer, { transfer: [buf.buffer as ArrayBuffer] });
  }

  async cancel(): Promise<void> {
    if (this.#phase === 'cancelled') return;
    if (this.#phase === 'committing' || this.#phase === 'committed') throw new Error(`writer for ${this.#path} is ${this.#phase}: too late to cancel`);
    this.#phase = 'cancelled';
    if (!this.destroyed) this.destroy();
    await this.#busy.catch(() => undefined);
    await this.#settle().catch(() => undefined);
    this.#releaseBuffers();
    if (this.#state) await discardState(this.#objects, this.#path, { ...this.#state, ...(this.#uploadId ? { uploadId: this.#uploadId } : {}) });
    else {
      if (this.#uploadId) await this.#objects.abortUpload(this.#path, this.#uploadId);
      await discardTails(this.#objects, this.#path);
    }
    this.#state = undefined;
  }
}
