// The generated repositories of repo-root.ts in CNCF Distribution's filesystem layout, written directly on disk
// (pushing 100k images through HTTP would take hours), so Distribution serves the same content berth does.
// The layout, as Distribution's registry/storage/paths.go lays it out:
//   <root>/docker/registry/v2/blobs/sha256/<hex[0:2]>/<hex>/data                 the bytes, once per digest
//   <root>/docker/registry/v2/repositories/<name>/_layers/sha256/<hex>/link      a blob linked into the repository
//   .../<name>/_manifests/revisions/sha256/<hex>/link                            a manifest of the repository
//   .../<name>/_manifests/tags/<tag>/current/link                                what the tag points at
//   .../<name>/_manifests/tags/<tag>/index/sha256/<hex>/link                     every manifest the tag held
// Each link file holds the digest (`sha256:<hex>`, no newline). A directory holding `_layers` is a repository
// to Distribution's catalog walk (registry/storage/catalog.go).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GENERATED_TAG, generatedImage, generatedRepo, type Blob } from './repo-root';

/** mkdir of a directory whose parent exists; a shared one may exist already. */
function mkdir(dir: string, shared = false): string {
  try {
    mkdirSync(dir);
  } catch (err) {
    if (!shared || (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return dir;
}

/** `<dir>/sha256/<hex>/link` (mkdir one level at a time: recursive mkdir costs failed calls per level). */
function writeLink(dir: string, blob: Blob, sharedDir = false): void {
  const hexDir = mkdir(join(mkdir(dir, sharedDir), 'sha256'), sharedDir);
  writeFileSync(join(mkdir(join(hexDir, blob.hex)), 'link'), blob.digest);
}

/** Writes repositories 0..n-1 (each with its generated image) below `storageRoot`, Distribution's rootdirectory. */
export function generateDistributionRoot(storageRoot: string, n: number): void {
  const v2 = join(storageRoot, 'docker', 'registry', 'v2');
  const blobs = join(v2, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const writeBlob = (blob: Blob) => {
    const dir = mkdir(join(mkdir(join(blobs, blob.hex.slice(0, 2)), true), blob.hex));
    writeFileSync(join(dir, 'data'), blob.bytes);
  };
  for (let i = 0; i < n; i++) {
    const repo = generatedRepo(i);
    const { config, layer, manifest } = generatedImage(repo);
    if (i === 0) [config, layer].forEach(writeBlob);
    writeBlob(manifest);
    const dir = join(v2, 'repositories', repo);
    mkdirSync(dir, { recursive: true });
    const layers = mkdir(join(dir, '_layers'));
    for (const blob of [config, layer]) writeLink(layers, blob, true);
    const manifests = mkdir(join(dir, '_manifests'));
    writeLink(join(manifests, 'revisions'), manifest);
    const tag = mkdir(join(mkdir(join(manifests, 'tags')), GENERATED_TAG));
    writeFileSync(join(mkdir(join(tag, 'current')), 'link'), manifest.digest);
    writeLink(join(tag, 'index'), manifest);
  }
}
