/** Byte and tree helpers of the driver conformance suite (conformance.ts): writes, patterns, digests, walks. */
import assert from 'node:assert/strict';
import { createHash, type Hash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FileInfo, StorageDriver } from '../../core/extensions/api';

export const MiB = 1024 * 1024;

export const text = async (d: StorageDriver, path: string) => (await d.getContent(path)).toString();

export function write(w: Writable, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => w.write(data, (err) => (err ? reject(err) : resolve())));
}

/** Writes `data` in 1 MiB pieces, each awaited (a writer's size counts what has landed). */
export async function writeBuffer(w: Writable, data: Buffer): Promise<void> {
  for (let i = 0; i < data.length; i += MiB) await write(w, data.subarray(i, i + MiB));
}

/** `length` bytes that differ with `seed`, so segments written out of order would show. */
export function pattern(length: number, seed: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i * 31 + seed * 97 + (i >> 8)) % 251));
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function sha256(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(stream, hash);
  return hash.digest('hex');
}

/** `total` pseudo-random bytes (xorshift32 from `seed`), made a MiB at a time and fed to `hash` as they go. */
export async function* seededBytes(seed: number, total: number, hash: Hash): AsyncGenerator<Buffer> {
  let x = seed | 0 || 1;
  for (let made = 0; made < total; made += MiB) {
    const words = new Uint32Array(Math.min(MiB, total - made) / 4);
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[i] = x;
    }
    const chunk = Buffer.from(words.buffer);
    hash.update(chunk);
    yield chunk;
  }
}

export async function walked(d: StorageDriver, dir: string, decide?: (f: FileInfo) => 'skip' | undefined): Promise<FileInfo[]> {
  const seen: FileInfo[] = [];
  await d.walk(dir, (f) => {
    seen.push(f);
    return decide?.(f);
  });
  return seen;
}

// Depth first: everything below a directory comes right after it, before anything that is not below it.
export function assertDepthFirst(order: string[]): void {
  order.forEach((dir, i) => {
    const below = order.map((p, j) => (p.startsWith(`${dir}/`) ? j : -1)).filter((j) => j >= 0);
    below.forEach((j, k) => assert.equal(j, i + 1 + k, `${order[j]} is not visited right after ${dir}`));
  });
}
