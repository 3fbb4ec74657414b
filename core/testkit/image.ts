import { createHash } from 'node:crypto';

/** Credentials for a registry that requires them. */
export interface PushAuth {
  /** `user:password`, sent as HTTP basic auth. */
  creds?: string;
}

/** A push the registry refused: its HTTP status and the body it answered (OCI error JSON). */
export class PushError extends Error {
  constructor(readonly status: number, readonly body: string, what: string) {
    super(`${what}: HTTP ${status}: ${body}`);
    this.name = 'PushError';
  }
}

export interface ImageOptions {
  /** Files of the image's single layer (path → content); default one small file. */
  files?: Record<string, string | Buffer>;
  /** The manifest's annotations. */
  annotations?: Record<string, string>;
  /** The image config's labels (`config.Labels`). */
  labels?: Record<string, string>;
  architecture?: string;
  os?: string;
}

/** An OCI image built in memory: config, one uncompressed tar layer and the manifest naming them. */
export interface TestImage {
  mediaType: string;
  /** The manifest's exact bytes; their sha256 is {@link digest}. */
  manifest: Buffer;
  digest: string;
  config: Buffer;
  layer: Buffer;
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A small, valid OCI image (its layer unpacks with umoci or any runtime). */
export function buildImage(opts: ImageOptions = {}): TestImage {
  const layer = tar(opts.files ?? { 'hello.txt': 'hello from berth/testkit\n' });
  const config = Buffer.from(JSON.stringify({
    architecture: opts.architecture ?? 'amd64',
    os: opts.os ?? 'linux',
    config: opts.labels ? { Labels: opts.labels } : {},
    rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  }));
  return { mediaType: OCI_MANIFEST, manifest, digest: sha256(manifest), config, layer };
}

/** Pushes `image` (default {@link buildImage}()) over the Distribution API: its blobs, then its manifest. */
export async function pushImage(
  registryUrl: string,
  repo: string,
  reference: string,
  opts: PushAuth & { image?: TestImage } = {},
): Promise<TestImage> {
  const image = opts.image ?? buildImage();
  await pushBlob(registryUrl, repo, image.config, opts);
  await pushBlob(registryUrl, repo, image.layer, opts);
  await pushManifest(registryUrl, repo, reference, image.mediaType, image.manifest, opts);
  return image;
}

/** Monolithic upload: POST to open a session, PUT the bytes with `?digest=`; returns the digest. */
export async function pushBlob(registryUrl: string, repo: string, data: Buffer, auth: PushAuth = {}): Promise<string> {
  const digest = sha256(data);
  const post = await fetch(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: headers(auth) });
  await expectStatus(post, 202, `POST ${repo} blob upload`);
  // Location may be absolute or relative and may already carry a query (_state=...).
  const location = new URL(post.headers.get('location') ?? '', registryUrl);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', headers: headers(auth, { 'content-type': 'application/octet-stream' }), body: data });
  await expectStatus(put, 201, `PUT ${repo} blob ${digest}`);
  return digest;
}

/** PUTs a manifest's bytes under `reference` (a tag or its digest); rejects with a {@link PushError} unless 201. */
export async function pushManifest(
  registryUrl: string,
  repo: string,
  reference: string,
  mediaType: string,
  bytes: Buffer,
  auth: PushAuth = {},
): Promise<void> {
  const res = await fetch(`${registryUrl}/v2/${repo}/manifests/${reference}`, { method: 'PUT', headers: headers(auth, { 'content-type': mediaType }), body: bytes });
  await expectStatus(res, 201, `PUT ${repo} manifest ${reference}`);
}

function headers(auth: PushAuth, extra: Record<string, string> = {}): Record<string, string> {
  return auth.creds ? { ...extra, authorization: `Basic ${Buffer.from(auth.creds).toString('base64')}` } : extra;
}

async function expectStatus(res: Response, want: number, what: string): Promise<void> {
  if (res.status !== want) throw new PushError(res.status, await res.text(), `${what} (want ${want})`);
  await res.body?.cancel();
}

/** A ustar archive of regular files (mode 0644, owned by root, mtime 0: the same files give the same bytes). */
function tar(files: Record<string, string | Buffer>): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content);
    if (Buffer.byteLength(name) > 100) throw new Error(`tar: file name longer than 100 bytes: ${name}`);
    const header = Buffer.alloc(512);
    header.write(name, 0);
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148); // the checksum counts its own field as spaces
    header.write('0', 156);
    header.write('ustar\0' + '00', 257);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
