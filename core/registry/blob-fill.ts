import { once } from 'node:events';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { StorageDriver } from '../storage/driver';
import { newHash, type ParsedDigest } from './digest';
import { DigestInvalid, SizeInvalid } from './errors';
import { noteStreamed } from './young-gc';

/** Where a fill writes and how it recovers; given by the pull-through service. */
export interface FillTarget {
  /**
   * The local driver the spool is on: followers read its bytes while they grow, which an object store (an
   * open multipart upload) could not serve.
   */
  spool: StorageDriver;
  /** A scratch path on `spool` for an appending writer. */
  spoolPath: string;
  /** Removes the spool and whatever its driver kept beside it; called once the fill ended, whatever the outcome. */
  discard(): Promise<void>;
  /** The final store's driver and the blob's path there, read once the blob is committed. */
  storage: StorageDriver;
  finalPath: string;
  /**
   * Puts the verified, committed spool at `finalPath`: a move on the same driver, else a streamed copy
   * committed on the final driver. Followers keep reading the spool until it resolves.
   */
  adopt(spoolPath: string): Promise<void>;
  /** A fresh upstream stream positioned at `start`, for readers once the spool cannot be written (ENOSPC). */
  reopen(start: number): Promise<Readable>;
  /** Told of each chunk received from the upstream (for metrics), as it arrives. */
  received?(bytes: number): void;
  logger: Logger;
}

// Followers are many (32 nodes × several layers) and paced by their clients: small chunks keep each one's
// buffers, and so the process's memory, bounded.
const FOLLOW_CHUNK = 64 * 1024;

type FillState = 'filling' | 'committed' | 'failed' | 'uncached';

/**
 * One upstream download of a blob into a spool that every client follows while it grows: the first client
 * and the 31 that join it all read the file, so the upstream is read once and no client's pace (or hang-up)
 * steers the fill. The copy commits only when size and digest verify. The last byte is held back until they
 * do, so no client ever receives a whole blob that failed verification.
 */
export class BlobFill {
  #state: FillState = 'filling';
  #error: Error | undefined;
  #written = 0;
  #verified = false;
  #waiter: { promise: Promise<void>; resolve: () => void } | undefined;
  /** Resolves when the fill has ended, whatever the outcome (never rejects). */
  readonly settled: Promise<void>;

  constructor(
    readonly digest: ParsedDigest,
    readonly size: number | undefined,
    private readonly target: FillTarget,
    upstream: Readable,
  ) {
    this.settled = this.#pump(upstream);
  }

  get state(): FillState {
    return this.#state;
  }

  /** A client's view of the blob (or a range of it), served as the bytes land. */
  open(range?: { start: number; end: number }): Readable {
    const gen = this.#follow(range?.start ?? 0, range ? range.end + 1 : undefined);
    // A small buffer per client: 32 nodes × several layers each must not add up to hundreds of MB.
    return Readable.from(gen, { objectMode: false, highWaterMark: 64 << 10 });
  }

  async #pump(upstream: Readable): Promise<void> {
    const { spool, spoolPath, logger } = this.target;
    const hash = newHash(this.digest.algorithm);
    let received = 0;
    let writer: Awaited<ReturnType<StorageDriver['writer']>> | undefined;
    try {
      writer = await spool.writer(spoolPath, { append: true });
    } catch (err) {
      upstream.destroy();
      await this.target.discard().catch(() => undefined);
      return this.#uncache(err);
    }
    writer.on('error', () => undefined); // failures arrive through each write's callback; an unheard 'error' would crash
    const w = writer;
    let writeError: unknown;
    let lastWrite: Promise<void> = Promise.resolve();
    // Writes are queued, not awaited one by one (the driver coalesces them); `#written` advances only as
    // each lands, so readers never see bytes that are not in the file yet.
    const write = (chunk: Buffer) => {
      let ok = true;
      lastWrite = new Promise<void>((resolve) => {
        ok = w.write(chunk, (err) => {
          if (err) writeError ??= err;
          else if (!writeError) {
            this.#written += chunk.length;
            this.#notify();
          }
          resolve();
        });
      });
      return ok;
    };
    const spoolLost = async () => {
      upstream.destroy();
      await w.cancel().catch(() => undefined);
      await this.target.discard().catch(() => undefined);
      this.#uncache(writeError);
    };
    try {
      for await (const chunk of upstream as AsyncIterable<Buffer>) {
        hash.update(chunk);
        received += chunk.length;
        noteStreamed(chunk.length); // each upstream chunk is a fresh Buffer (young-gc.ts)
        this.target.received?.(chunk.length);
        if (this.size !== undefined && received > this.size) throw SizeInvalid({ expected: this.size, actual: received });
        if (!write(chunk)) await Promise.race([once(w, 'drain'), once(w, 'close')]).catch(() => undefined); // 'error': see writeError
        if (writeError) return spoolLost();
      }
      await lastWrite;
      if (writeError) return spoolLost();
      const actual = `${this.digest.algorithm}:${hash.digest('hex')}`;
      if (actual !== this.digest.digest) throw DigestInvalid({ expected: this.digest.digest, actual });
      if (this.size !== undefined && received !== this.size) throw SizeInvalid({ expected: this.size, actual: received });
      // Verified: clients get the last byte now, while the copy is made durable (fsync, rename) behind them.
      this.#verified = true;
      this.#notify();
      await writer.commit();
      await this.target.adopt(spoolPath);
      this.#state = 'committed';
      this.#notify(); // readers turn to the final copy before the spool goes
      await this.target.discard().catch((err: unknown) => logger.warn({ digest: this.digest.digest, err }, 'failed to remove a pull-through spool'));
    } catch (err) {
      logger.warn({ digest: this.digest.digest, received, err }, 'failed to fill blob from upstream');
      await writer.cancel().catch(() => undefined);
      await this.target.discard().catch(() => undefined);
      this.#error = err instanceof Error ? err : new Error(String(err));
      // Verified bytes that could not be kept (fsync or rename failed): readers finish from the upstream.
      this.#state = this.#verified ? 'uncached' : 'failed';
    }
    this.#notify();
  }

  // A full disk must not fail the pull: readers switch to their own upstream stream, nothing is kept.
  #uncache(err: unknown): void {
    this.target.logger.warn({ digest: this.digest.digest, err }, 'failed to write blob cache, streaming without caching');
    this.#state = 'uncached';
    this.#notify();
  }

  async *#follow(start: number, stopAt: number | undefined): AsyncGenerator<Buffer> {
    let pos = start;
    for (;;) {
      const total = this.#state === 'committed' || this.#verified ? this.#written : this.size;
      const stop = stopAt ?? total;
      if (stop !== undefined && pos >= stop) return;
      if (this.#state === 'failed') throw this.#error;
      if (this.#state === 'uncached') {
        yield* this.#direct(pos, stop);
        return;
      }
      const readable = this.#state === 'committed' || this.#verified ? this.#written : this.#written - 1;
      const upto = stop === undefined ? readable : Math.min(readable, stop);
      if (upto > pos) {
        const committed = this.#state === 'committed';
        const [driver, path] = committed ? [this.target.storage, this.target.finalPath] : [this.target.spool, this.target.spoolPath];
        let reader: Readable;
        try {
          reader = await driver.reader(path, { start: pos, end: upto - 1, chunkSize: FOLLOW_CHUNK });
        } catch (err) {
          if (committed) throw err;
          if (this.#state === 'filling') await this.#changed(); // the spool is being moved into place
          continue;
        }
        for await (const chunk of reader as AsyncIterable<Buffer>) {
          pos += chunk.length;
          yield chunk;
        }
        continue;
      }
      await this.#changed(); // no await between the checks above and here, so no wake-up is missed
    }
  }

  async *#direct(start: number, stop: number | undefined): AsyncGenerator<Buffer> {
    let pos = start;
    const stream = await this.target.reopen(start);
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        const part = stop !== undefined && pos + chunk.length > stop ? chunk.subarray(0, stop - pos) : chunk;
        pos += part.length;
        yield part;
        if (stop !== undefined && pos >= stop) return;
      }
    } finally {
      stream.destroy();
    }
  }

  #changed(): Promise<void> {
    if (!this.#waiter) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#waiter = { promise, resolve };
    }
    return this.#waiter.promise;
  }

  #notify(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }
}

/** Drops the first `count` bytes of a stream (an upstream that ignored a Range request). */
export async function* skipBytes(stream: Readable, count: number): AsyncGenerator<Buffer> {
  let left = count;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (left >= chunk.length) {
      left -= chunk.length;
      continue;
    }
    yield left > 0 ? chunk.subarray(left) : chunk;
    left = 0;
  }
}
