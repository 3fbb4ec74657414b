import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';

// A few buffers per download, reused: a fresh buffer per read made the GC, not the disk or the socket, the
// bottleneck of blob GETs (bench/: ~35 collections per GB served, 2-3x Distribution's CPU per GB).
const DEPTH = 4;
// Few downloads at once get large chunks (fewer syscalls per GB); many get small ones, so memory stays
// bounded: 16 concurrent 1 GiB downloads must fit in berth's 150 MB budget.
const LARGE_CHUNK = 1024 * 1024;
const SMALL_CHUNK = 256 * 1024;
const LARGE_CHUNK_MAX_SENDS = 2;

/** Counts a driver's downloads in flight, to size each one's buffers. */
export class SendBudget {
  #active = 0;

  async run<T>(send: (chunk: number) => Promise<T>): Promise<T> {
    this.#active++;
    try {
      return await send(this.#active <= LARGE_CHUNK_MAX_SENDS ? LARGE_CHUNK : SMALL_CHUNK);
    } finally {
      this.#active--;
    }
  }
}

/**
 * Writes bytes `start`..`end` (inclusive) of an open file into `dest`, reading ahead into a ring of DEPTH
 * buffers of `chunk` bytes. A buffer is refilled only after `dest` has reported its previous write done (for a socket: handed
 * to the kernel), so memory per download is DEPTH × chunk whatever the client's pace, and bytes are copied
 * once. Rejects if `dest` closes first (the client went away).
 */
export async function sendFileRange(fh: FileHandle, dest: Writable, start: number, end: number, chunk: number): Promise<number> {
  const size = Math.min(chunk, end - start + 1);
  const ring = Array.from({ length: Math.min(DEPTH, Math.ceil((end - start + 1) / size)) }, () => Buffer.allocUnsafeSlow(size));
  const inFlight: Array<Promise<void> | undefined> = new Array(ring.length);
  let onClose!: (err: Error) => void;
  const closed = new Promise<never>((_, reject) => (onClose = reject));
  closed.catch(() => undefined);
  const whenClosed = () => onClose(new Error('destination closed before the file was sent'));
  dest.once('close', whenClosed);
  try {
    let pos = start;
    for (let i = 0; pos <= end; i++) {
      const slot = i % ring.length;
      if (inFlight[slot]) await Promise.race([inFlight[slot], closed]);
      if (dest.destroyed) throw new Error('destination closed before the file was sent');
      const buf = ring[slot];
      const { bytesRead } = await fh.read(buf, 0, Math.min(size, end - pos + 1), pos);
      if (bytesRead === 0) throw new Error(`file ended at ${pos}, before ${end + 1}`);
      pos += bytesRead;
      inFlight[slot] = new Promise<void>((resolve, reject) => {
        dest.write(buf.subarray(0, bytesRead), (err) => (err ? reject(err) : resolve()));
      });
      inFlight[slot]!.catch(() => undefined); // observed by the race above or the final wait
    }
    await Promise.race([Promise.all(inFlight.filter(Boolean)), closed]);
    return end - start + 1;
  } finally {
    dest.off('close', whenClosed);
  }
}
