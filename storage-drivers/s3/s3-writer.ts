/**
 * The S3 writer: content streams into a multipart upload in `chunksize` parts, one part filling while the
 * previous one uploads (so at most about two parts are in memory), and is published by one
 * CompleteMultipartUpload (or one PutObject when it never filled a part). `close()` makes what was written
 * durable and resumable from any process through the upload state (upload-state.ts).
 */
import { Writable } from 'node:stream';
import type { DriverWriter } from '../../core/extensions/api';
import { MIN_PART } from './options';
import type { Objects, Part } from './objects';
import { discardState, discardTails, newTailPath, readState, statePath, type UploadState, writeState } from './upload-state';

type Phase = 'open' | 'closed' | 'committing' | 'committed' | 'cancelled';

export async function openS3Writer(objects: Objects, path: string, append: boolean): Promise<DriverWriter> {
  if (!append) return new S3Writer(objects, path);
  const state = await readState(objects, path);
  if (state) {
    const tail = state.tail ? await objects.getBytes(state.tail.path) : Buffer.alloc(0);
    if (tail.length !== (state.tail?.size ?? 0)) throw new Error(`${statePath(path)}: its tail holds ${tail.length} bytes, not ${state.tail?.size}`);
    return new S3Writer(objects, path, state, tail);
  }
  const committed = await objects.head(path);
  if (committed && committed.size > 0) {
    throw Object.assign(new Error(`${path} holds committed content: it cannot be appended to`), { code: 'EEXIST', path });
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
  /** Bytes written and not yet in a part (the resumed tail first). */
  #pending: Buffer[] = [];
  #pendingLength = 0;
  #inflight: { data: Buffer; done: Promise<void> } | undefined;
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
    if (tail && tail.length > 0) this.#keep(tail);
  }

  get size(): number {
    return this.#size;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#keep(chunk);
    this.#size += chunk.length;
    if (this.#pendingLength < this.#objects.chunkSize) return done();
    this.#busy = this.#cutParts();
    this.#busy.then(() => done(), done);
  }

  #keep(chunk: Buffer): void {
    this.#pending.push(chunk);
    this.#pendingLength += chunk.length;
  }

  /** The first `length` pending bytes, as one Buffer. */
  #take(length: number): Buffer {
    const all = this.#pending.length === 1 ? this.#pending[0] : Buffer.concat(this.#pending, this.#pendingLength);
    const data = all.subarray(0, length);
    const rest = all.subarray(length);
    this.#pending = rest.length > 0 ? [rest] : [];
    this.#pendingLength = rest.length;
    return data;
  }

  async #cutParts(): Promise<void> {
    while (this.#pendingLength >= this.#objects.chunkSize && this.#phase !== 'cancelled') {
      await this.#settle(); // before taking: a failed part goes back in front of what follows it
      this.#startPart(this.#take(this.#objects.chunkSize));
    }
  }

  #startPart(data: Buffer): void {
    const partNumber = this.#parts.length + 1;
    const done = (async () => {
      this.#uploadId ??= await this.#objects.createUpload(this.#path);
      const part = await this.#objects.uploadPart(this.#path, this.#uploadId, partNumber, data);
      this.#parts.push({ ...part, size: data.length });
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
    if (this.#pendingLength > 0) {
      tail = { path: newTailPath(this.#path), size: this.#pendingLength };
      await this.#objects.put(tail.path, Buffer.concat(this.#pending, this.#pendingLength));
    }
    const state: UploadState = { v: 1, size: this.#size, ...(this.#uploadId ? { uploadId: this.#uploadId } : {}), parts: [...this.#parts], ...(tail ? { tail } : {}) };
    await writeState(this.#objects, this.#path, state);
    // Only once the new state points at the new tail: the old tail, or another writer's abandoned upload.
    if (previous?.tail) await this.#objects.deleteOne(previous.tail.path);
    if (previous?.uploadId && previous.uploadId !== this.#uploadId) await this.#objects.abortUpload(this.#path, previous.uploadId);
    this.#state = state;
    this.#phase = 'closed';
  }

  async commit(): Promise<void> {
    if (this.#phase !== 'open' && this.#phase !== 'closed') throw new Error(`writer for ${this.#path} is ${this.#phase}: commit runs once`);
    this.#phase = 'committing';
    await this.#drain();
    if (this.errored) throw new Error(`writer for ${this.#path} failed: ${this.errored.message}`);
    await this.#settle();
    if (this.#uploadId === undefined && this.#parts.length === 0) {
      await this.#objects.put(this.#path, this.#take(this.#pendingLength));
    } else {
      await this.#cutParts();
      await this.#settle();
      if (this.#pendingLength > 0 || this.#parts.length === 0) {
        this.#startPart(this.#take(this.#pendingLength));
        await this.#settle();
      }
      await this.#objects.completeUpload(this.#path, this.#uploadId!, this.#parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })));
    }
    this.#phase = 'committed';
    if (this.#state?.tail) await this.#objects.deleteOne(this.#state.tail.path);
    // Also when this writer never closed: an earlier one may have died leaving a tail no state names.
    await discardTails(this.#objects, this.#path);
    if (this.#state) await this.#objects.deleteOne(statePath(this.#path));
    this.#state = undefined;
  }

  async cancel(): Promise<void> {
    if (this.#phase === 'cancelled') return;
    if (this.#phase === 'committing' || this.#phase === 'committed') throw new Error(`writer for ${this.#path} is ${this.#phase}: too late to cancel`);
    this.#phase = 'cancelled';
    if (!this.destroyed) this.destroy();
    await this.#busy.catch(() => undefined);
    await this.#settle().catch(() => undefined);
    this.#pending = [];
    this.#pendingLength = 0;
    if (this.#state) await discardState(this.#objects, this.#path, { ...this.#state, ...(this.#uploadId ? { uploadId: this.#uploadId } : {}) });
    else {
      if (this.#uploadId) await this.#objects.abortUpload(this.#path, this.#uploadId);
      await discardTails(this.#objects, this.#path);
    }
    this.#state = undefined;
  }
}
