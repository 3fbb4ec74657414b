import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Replaces a small local file atomically and durably: a temp file beside it (same filesystem), fsync,
 * rename over the target, fsync of the directory so the rename itself survives a crash. A crash leaves the
 * old content or the new, never a mix. For berth's own records under the root (`_berth/`), not for blobs,
 * which go through the storage driver.
 */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(temp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(temp, { force: true });
    throw err;
  }
  await fh.close();
  await renameDurably(temp, file);
}

/** Renames within a directory, then fsyncs the directory so the rename survives a power loss. */
export async function renameDurably(from: string, to: string): Promise<void> {
  await rename(from, to);
  const dir = await open(dirname(to), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
