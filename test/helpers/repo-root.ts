// Generated roots of many repositories for scale tests and benchmarks, written with sync calls because that is
// the fastest way to make a hundred thousand tiny files. Each repository is either only `oci-layout` and an
// empty `index.json` (what the catalog looks at), or holds one small real image tagged `latest`
// (generatedImage): the same content in Zot's layout here and in Distribution's (distribution-root.ts).
import { createHash } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './tools';

const OCI_LAYOUT = '{"imageLayoutVersion":"1.0.0"}';
const EMPTY_INDEX = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}';
export const GENERATED_TAG = 'latest';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Repositories per group directory (`scale/g<group>/`), which is also how many share one copy of a blob. */
export const GROUP = 1000;

/** The name of generated repository `i`: nested two levels (`scale/g<group>/r<i>`), GROUP per group. */
export const generatedRepo = (i: number) => `scale/g${String(Math.floor(i / GROUP)).padStart(3, '0')}/r${String(i).padStart(6, '0')}`;

/**
 * A fresh directory for a generated root, and its removal. It lies in BENCH_SCALE_DIR, else on tmpfs
 * (/dev/shm) when there is one: a server serves a just-written tree from the page cache either way, and
 * tmpfs saves generating and removing hundreds of thousands of files on the disk, which took minutes on this
 * shared machine's ext4 (10k repositories with images: 45 s to write, 66 s to remove, under others' load).
 * `rm -rf` removes them several times faster than Node's recursive rm.
 */
export async function generatedRootDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const base = process.env.BENCH_SCALE_DIR || (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
  const dir = await mkdtemp(join(base, `berth-${prefix}-`));
  return { dir, remove: async () => void (await run('rm', ['-rf', dir], { timeoutMs: 900_000 })) };
}

export interface Blob {
  digest: string;
  hex: string;
  bytes: Buffer;
}

const blobOf = (bytes: Buffer): Blob => {
  const hex = createHash('sha256').update(bytes).digest('hex');
  return { digest: `sha256:${hex}`, hex, bytes };
};

// An empty tar (two zero blocks) is a valid uncompressed layer whose diff id is its own digest, so the image
// is real: a client can pull and unpack it.
const LAYER = blobOf(Buffer.alloc(1024));
const CONFIG = blobOf(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [LAYER.digest] } })));

/** The layer and config every generated image shares, and its own manifest (it names the repository). */
export function generatedImage(repo: string): { config: Blob; layer: Blob; manifest: Blob } {
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: CONFIG.digest, size: CONFIG.bytes.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: LAYER.digest, size: LAYER.bytes.length }],
    annotations: { 'org.opencontainers.image.title': repo },
  };
  return { config: CONFIG, layer: LAYER, manifest: blobOf(Buffer.from(JSON.stringify(manifest))) };
}

/**
 * Writes repositories 0..n-1 under `root` in Zot's layout. With `image`, each holds its generated image; the
 * shared config and layer are hard links to one copy per group, as Zot's dedupe leaves them (one copy for all
 * would pass ext4's 65,000 links per inode).
 */
export function generateRepoRoot(root: string, n: number, opts: { image?: boolean } = {}): { first: string; last: string } {
  for (let i = 0; i < n; i++) {
    const repo = generatedRepo(i);
    const dir = join(root, repo);
    if (!opts.image) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'oci-layout'), OCI_LAYOUT);
      writeFileSync(join(dir, 'index.json'), EMPTY_INDEX);
      continue;
    }
    const blobs = join(dir, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    const { config, layer, manifest } = generatedImage(repo);
    const original = join(root, generatedRepo(i - (i % GROUP)), 'blobs', 'sha256');
    for (const shared of [config, layer]) {
      if (i % GROUP === 0) writeFileSync(join(blobs, shared.hex), shared.bytes);
      else linkSync(join(original, shared.hex), join(blobs, shared.hex));
    }
    writeFileSync(join(blobs, manifest.hex), manifest.bytes);
    writeFileSync(join(dir, 'oci-layout'), OCI_LAYOUT);
    const entry = { mediaType: OCI_MANIFEST, digest: manifest.digest, size: manifest.bytes.length, annotations: { 'org.opencontainers.image.ref.name': GENERATED_TAG } };
    writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [entry] }));
  }
  return { first: generatedRepo(0), last: generatedRepo(n - 1) };
}
