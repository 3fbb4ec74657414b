import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Hash } from 'node:crypto';
import type { DriverWriter } from '../storage/driver';
import { noteStreamed } from './young-gc';

/** A pass-through that feeds every chunk to a hash (and counts bytes, also for young-gc.ts) on its way to storage. */
export function hashingTransform(hash: { update(chunk: Buffer): unknown }, counter: { bytes: number }): Transform {
  return new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      counter.bytes += chunk.length;
      noteStreamed(chunk.length);
      done(null, chunk);
    },
  });
}

/** Streams `body` into `writer`, hashing on the way; the caller decides to commit or cancel. */
export async function streamHashed(body: Readable, writer: DriverWriter, hash: Hash): Promise<number> {
  const counter = { bytes: 0 };
  try {
    await pipeline(body, hashingTransform(hash, counter), writer);
  } catch (err) {
    await writer.cancel().catch(() => undefined);
    throw err;
  }
  return counter.bytes;
}
