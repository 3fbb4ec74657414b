// Real OCI images built with umoci into OCI layouts, ready for `skopeo copy oci:<dir>:<tag> ...`.
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import assert from 'node:assert/strict';
import { hex, sha256 } from './digests.js';
import { skopeoCopy } from './skopeo.js';
import { ensureTools, run, tempDir } from './tools.js';

// The brief names images.ts as the home of the skopeo wrappers; they live in skopeo.ts to keep files small.
export { skopeoCopy, skopeoInspect, skopeoListTags, skopeoDelete, skopeoRef } from './skopeo.js';
export { pushArtifactWithSubject, pushBlob, headManifest } from './artifact-push.js';

export type LayerSpec =
  | { files: Record<string, string | Buffer> }
  /** `seed` makes the bytes (and so the layer digest) repeatable; without it every build differs. */
  | { randomBytes: number; seed?: number; path?: string };

export interface BuildImageOptions {
  layers: LayerSpec[];
  tag?: string;
  config?: { labels?: Record<string, string>; env?: Record<string, string> };
  /** OCI names (amd64, arm64); default: umoci's, i.e. this machine's. */
  arch?: string;
  os?: string;
  /** Manifest annotations. */
  annotations?: Record<string, string>;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
  artifactType?: string;
}

export interface BuiltImage {
  layoutDir: string;
  tag: string;
  /** `oci:<dir>:<tag>` for skopeo. */
  ref: string;
  /** The tag's entry in index.json (manifest or index). */
  descriptor: Descriptor;
}

const REF_NAME = 'org.opencontainers.image.ref.name';
// Fixed times make the same inputs give the same layer digests (dedupe tests need that).
const EPOCH = new Date('2020-01-01T00:00:00Z');
const EPOCH_ISO = EPOCH.toISOString();

/**
 * Builds `dir:<tag>` (default `latest`) with one layer per spec. Uses unpack/repack rather than
 * `umoci insert`: Debian's umoci 0.4.7 insert writes tars without end padding, which GNU tar rejects.
 */
export async function buildOciImage(dir: string, opts: BuildImageOptions): Promise<BuiltImage> {
  await ensureTools(['umoci']);
  const layoutDir = resolve(dir);
  const tag = opts.tag ?? 'latest';
  const image = `${layoutDir}:${tag}`;
  if (!existsSync(join(layoutDir, 'oci-layout'))) {
    await mkdir(dirname(layoutDir), { recursive: true });
    await run('umoci', ['init', '--layout', layoutDir]);
  }
  await run('umoci', ['new', '--image', image]);
  const work = await tempDir('umoci-bundle');
  const bundle = join(work, 'bundle');
  try {
    await run('umoci', ['unpack', '--image', image, bundle]);
    const rootfs = join(bundle, 'rootfs');
    for (const [i, layer] of opts.layers.entries()) {
      const written =
        'files' in layer
          ? await writeFiles(rootfs, layer.files)
          : [await writeRandomFile(rootfs, layer.path ?? `/random-${i}.bin`, layer.randomBytes, layer.seed)];
      await pinTimes(rootfs, written);
      // --refresh-bundle records the packed state, so the next repack holds only the next layer's files.
      await run('umoci', ['repack', '--refresh-bundle', '--image', image,
        '--history.created', EPOCH_ISO, '--history.created_by', `berth test layer ${i}`, bundle], { timeoutMs: 600_000 });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const args = ['config', '--image', image, '--no-history', '--created', EPOCH_ISO];
  if (opts.arch) args.push('--architecture', opts.arch);
  if (opts.os) args.push('--os', opts.os);
  for (const [k, v] of Object.entries(opts.config?.labels ?? {})) args.push('--config.label', `${k}=${v}`);
  for (const [k, v] of Object.entries(opts.config?.env ?? {})) args.push('--config.env', `${k}=${v}`);
  for (const [k, v] of Object.entries(opts.annotations ?? {})) args.push('--manifest.annotation', `${k}=${v}`);
  await run('umoci', args);
  return { layoutDir, tag, ref: `oci:${layoutDir}:${tag}`, descriptor: await tagDescriptor(layoutDir, tag) };
}

function insideRoot(rootfs: string, path: string): string {
  const abs = resolve(rootfs, '.' + resolve('/', path));
  if (relative(rootfs, abs).startsWith('..')) throw new Error(`layer path escapes rootfs: ${path}`);
  return abs;
}

async function writeFiles(rootfs: string, files: Record<string, string | Buffer>): Promise<string[]> {
  const written: string[] = [];
  for (const [path, content] of Object.entries(files)) {
    const abs = insideRoot(rootfs, path);
    await mkdir(dirname(abs), { recursive: true });
    await writeFile(abs, content);
    written.push(abs);
  }
  return written;
}

const CHUNK = 1 << 20;

/** Streams `size` bytes to disk in 1 MiB chunks so a 200 MB layer never sits in memory. */
async function writeRandomFile(rootfs: string, path: string, size: number, seed?: number): Promise<string> {
  const abs = insideRoot(rootfs, path);
  await mkdir(dirname(abs), { recursive: true });
  // AES-CTR over zeros is a fast keyed stream: same seed, same bytes.
  const key = createHash('sha256').update(`berth-test-seed:${seed}`).digest();
  const cipher = seed === undefined ? undefined : createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(CHUNK);
  async function* chunks() {
    for (let left = size; left > 0; left -= CHUNK) {
      const n = Math.min(CHUNK, left);
      yield cipher ? cipher.update(zeros.subarray(0, n)) : randomBytes(n);
    }
  }
  await pipeline(Readable.from(chunks()), createWriteStream(abs));
  return abs;
}

/** Sets written files and every directory above them to EPOCH, so tar headers do not carry "now". */
async function pinTimes(rootfs: string, files: string[]): Promise<void> {
  const paths = new Set<string>([rootfs]);
  for (const f of files) for (let p = f; p.startsWith(rootfs); p = dirname(p)) paths.add(p);
  for (const p of paths) await utimes(p, EPOCH, EPOCH);
}

interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

async function readIndex(layoutDir: string): Promise<OciIndex> {
  return JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as OciIndex;
}

async function tagDescriptor(layoutDir: string, tag: string): Promise<Descriptor> {
  const found = (await readIndex(layoutDir)).manifests.find((m) => m.annotations?.[REF_NAME] === tag);
  if (!found) throw new Error(`${layoutDir}: no tag ${tag} in index.json`);
  return found;
}

export interface MultiArchOptions {
  tag?: string;
  /** Default linux/amd64 and linux/arm64. */
  platforms?: Array<{ os: string; architecture: string }>;
  /** Layers per platform; default one small layer naming the platform, so each manifest differs. */
  layers?: (platform: { os: string; architecture: string }) => LayerSpec[];
}

export interface BuiltIndex extends BuiltImage {
  manifests: Descriptor[];
}

/**
 * An OCI layout whose `<tag>` is an image index over one image per platform; the platform images
 * also stay tagged `<tag>-<arch>`. Push it with `skopeoCopy(ref, dst, { all: true })`.
 */
export async function buildMultiArchIndex(dir: string, opts: MultiArchOptions = {}): Promise<BuiltIndex> {
  const tag = opts.tag ?? 'multi';
  const platforms = opts.platforms ?? [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64' },
  ];
  const manifests: Descriptor[] = [];
  let layoutDir = resolve(dir);
  for (const p of platforms) {
    const layers = opts.layers?.(p) ?? [{ files: { '/etc/platform': `${p.os}/${p.architecture}\n` } }];
    const img = await buildOciImage(dir, { layers, tag: `${tag}-${p.architecture}`, arch: p.architecture, os: p.os });
    layoutDir = img.layoutDir;
    const { mediaType, digest, size } = img.descriptor;
    manifests.push({ mediaType, digest, size, platform: { architecture: p.architecture, os: p.os } });
  }
  const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests };
  const bytes = Buffer.from(JSON.stringify(index));
  const hex = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(layoutDir, 'blobs', 'sha256', hex), bytes);
  const descriptor: Descriptor = {
    mediaType: index.mediaType,
    digest: `sha256:${hex}`,
    size: bytes.length,
    annotations: { [REF_NAME]: tag },
  };
  const top = await readIndex(layoutDir);
  top.manifests = [...top.manifests.filter((m) => m.annotations?.[REF_NAME] !== tag), descriptor];
  await writeFile(join(layoutDir, 'index.json'), JSON.stringify(top));
  return { layoutDir, tag, ref: `oci:${layoutDir}:${tag}`, descriptor, manifests };
}

/** Layer digests of a `dir:` copy (skopeo's dir transport writes manifest.json there). */
export async function layerDigests(dirTransportPath: string): Promise<string[]> {
  const m = JSON.parse(await readFile(join(dirTransportPath, 'manifest.json'), 'utf8')) as { layers?: Descriptor[] };
  return (m.layers ?? []).map((l) => l.digest);
}

/** Pulls `ref` into a `dir:` copy with skopeo; its manifest and every blob must be `image`'s bytes. */
export async function assertPullsIdentical(ref: string, image: BuiltImage): Promise<void> {
  const out = await tempDir('pull-identical');
  await skopeoCopy(ref, `dir:${out}`);
  const manifest = await readFile(join(out, 'manifest.json'));
  assert.equal(sha256(manifest), image.descriptor.digest, `${ref}: manifest bytes`);
  const m = JSON.parse(manifest.toString()) as { config?: Descriptor; layers?: Descriptor[] };
  for (const d of [m.config!.digest, ...(m.layers ?? []).map((l) => l.digest)]) {
    assert.equal(sha256(await readFile(join(out, hex(d)))), d, `${ref}: blob ${d}`);
  }
}
