// Seeded, position-addressable blob content: any byte range of a multi-GiB blob can be produced on demand,
// so uploads stream from the generator and nothing ever holds a whole blob in memory.
import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';

const BLOCK = 1 << 20; // one pseudo-random 1 MiB pattern per seed, stamped with the block number
const bases = new Map<number, Buffer>();

function base(seed: number): Buffer {
  let b = bases.get(seed);
  if (!b) {
    b = Buffer.allocUnsafe(BLOCK);
    let x = (seed * 2654435761) >>> 0 || 0x9e3779b9; // xorshift32, never zero
    for (let i = 0; i < BLOCK; i += 4) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      b.writeUInt32LE(x, i);
    }
    bases.set(seed, b);
  }
  return b;
}

/** Bytes [pos, pos+len) of the blob identified by `seed`. */
export function generate(seed: number, pos: number, len: number): Buffer {
  const src = base(seed);
  const out = Buffer.allocUnsafe(len);
  const header = Buffer.allocUnsafe(8);
  const end = pos + len;
  let p = pos;
  while (p < end) {
    const block = Math.floor(p / BLOCK);
    const off = p % BLOCK;
    const n = Math.min(BLOCK - off, end - p);
    src.copy(out, p - pos, off, off + n);
    if (off < 8) {
      // Every block differs, so no two MiB of a blob (or of two seeds) are identical.
      header.writeUInt32LE(block >>> 0, 0);
      header.writeUInt32LE(seed >>> 0, 4);
      header.copy(out, p - pos, off, Math.min(8, off + n));
    }
    p += n;
  }
  return out;
}

/** Streams bytes [pos, pos+len) of the blob into `sink` in 1 MiB writes, honouring backpressure. */
export async function writeRange(sink: Writable, seed: number, pos: number, len: number): Promise<void> {
  const end = pos + len;
  for (let p = pos; p < end; ) {
    const n = Math.min(BLOCK - (p % BLOCK), end - p);
    const ok = sink.write(generate(seed, p, n));
    p += n;
    if (!ok) {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          sink.off('drain', onDrain);
          sink.off('error', done);
          sink.off('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onDrain = () => done();
        const onClose = () => done(new Error('stream closed while writing'));
        sink.once('drain', onDrain);
        sink.once('error', done);
        sink.once('close', onClose);
      });
    }
  }
}

const digests = new Map<string, string>();

/** `sha256:<hex>` of a whole generated blob (computed in 1 MiB pieces, cached per seed and size). */
export function digestOf(seed: number, size: number): string {
  const key = `${seed}/${size}`;
  let d = digests.get(key);
  if (!d) {
    const h = createHash('sha256');
    for (let p = 0; p < size; p += BLOCK) h.update(generate(seed, p, Math.min(BLOCK, size - p)));
    d = `sha256:${h.digest('hex')}`;
    digests.set(key, d);
  }
  return d;
}
