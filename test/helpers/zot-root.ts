// A root directory as Zot writes it, for tests of berth on a Zot root (layout, dedupe, its cache.db left alone).
import { chmod, copyFile, link, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Descriptor } from './images.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const REF_NAME = 'org.opencontainers.image.ref.name';

/** A descriptor as Zot writes it into index.json: mediaType, digest, size, and the tag if there is one. */
export function zotEntry(d: Descriptor, tag?: string): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size, ...(tag ? { annotations: { [REF_NAME]: tag } } : {}) };
}

/**
 * Writes `<root>/<repo>` the way Zot does: `oci-layout`, `index.json` (schemaVersion 2, index mediaType),
 * `blobs/sha256/<hex>`, an empty `.uploads/`, files 0600 and dirs 0700. Blobs already present in
 * `dedupeFrom` become hard links, as Zot's local dedupe leaves them.
 */
export async function placeZotRepo(root: string, repo: string, layoutDir: string, entries: Descriptor[], dedupeFrom?: string): Promise<void> {
  const dir = join(root, repo);
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true, mode: 0o700 });
  await mkdir(join(dir, '.uploads'), { mode: 0o700 });
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}', { mode: 0o600 });
  const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index), { mode: 0o600 });
  for (const name of await readdir(join(layoutDir, 'blobs', 'sha256'))) {
    const twin = dedupeFrom && join(root, dedupeFrom, 'blobs', 'sha256', name);
    if (twin && (await stat(twin).catch(() => undefined))) await link(twin, join(blobs, name));
    else await copyFile(join(layoutDir, 'blobs', 'sha256', name), join(blobs, name));
    await chmod(join(blobs, name), 0o600);
  }
  // mkdir's mode is filtered by the umask and `recursive` only applies it to the last level.
  for (let p = dir; p !== root; p = join(p, '..')) await chmod(p, 0o700);
  for (const d of ['blobs', 'blobs/sha256', '.uploads']) await chmod(join(dir, d), 0o700);
}

