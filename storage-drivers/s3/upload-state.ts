/**
 * What makes closed, uncommitted content resumable from any process: a small JSON object beside the target,
 * `.<name>.open` (the name the filesystem driver gives its marker, which core's upload sweep already judges
 * idleness by), holding the multipart upload id, its parts, and the name of the tail object that keeps the
 * bytes after the last part (under S3's 5 MiB part minimum, so they cannot be a part yet). The doubles used in
 * tests and several S3-compatible servers have no ListParts or ListMultipartUploads, so nothing here relies
 * on asking S3 what an upload holds.
 */
import { randomBytes } from 'node:crypto';
import { isMissingKey, type Objects, type Part } from './objects';

export interface UploadState {
  v: 1;
  /** Bytes of content so far: the parts plus the tail. */
  size: number;
  uploadId?: string;
  parts: Array<Part & { size: number }>;
  /** The tail object's path and size, when bytes follow the last part. */
  tail?: { path: string; size: number };
}

export function statePath(path: string): string {
  const slash = path.lastIndexOf('/');
  return `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}.open`;
}

/** A fresh tail name per close, so the state never points at a tail a later close is overwriting. */
export function newTailPath(path: string): string {
  return `${statePath(path)}.tail-${randomBytes(6).toString('hex')}`;
}

export async function readState(objects: Objects, path: string): Promise<UploadState | undefined> {
  let raw: Buffer;
  try {
    raw = await objects.getBytes(statePath(path));
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT' || isMissingKey(err)) return undefined;
    throw err;
  }
  const state = JSON.parse(raw.toString()) as UploadState;
  if (state.v !== 1 || !Number.isSafeInteger(state.size) || !Array.isArray(state.parts)) {
    throw new Error(`${statePath(path)}: not an upload state this driver wrote`);
  }
  return state;
}

export async function writeState(objects: Objects, path: string, state: UploadState): Promise<void> {
  await objects.put(statePath(path), Buffer.from(JSON.stringify(state)));
}

/** Aborts the state's multipart upload and removes its tails and the state itself. */
export async function discardState(objects: Objects, path: string, state: UploadState | undefined): Promise<void> {
  if (state?.uploadId) await objects.abortUpload(path, state.uploadId);
  if (state?.tail) await objects.deleteOne(state.tail.path);
  await discardTails(objects, path);
  await objects.deleteOne(statePath(path));
}

/**
 * Removes every tail object of `path`'s upload, also those no state names: a process killed between putting
 * a new tail and writing the state that points at it (or before deleting the tail it replaced) leaves one,
 * and nothing else ever finds it. Only for an upload no writer is using any more (committed or discarded).
 */
export async function discardTails(objects: Objects, path: string): Promise<void> {
  const keys: string[] = [];
  for await (const page of objects.list(objects.key(`${statePath(path)}.tail-`))) {
    for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
  }
  for (let i = 0; i < keys.length; i += 1000) await objects.deleteKeys(keys.slice(i, i + 1000));
}
