// Raw distribution-spec pushes with fetch, for what skopeo 1.9 cannot send (OCI 1.1 `subject` referrers).
import { createHash } from 'node:crypto';
import type { Descriptor } from './images.js';

export interface PushAuth {
  /** `user:password` for HTTP basic auth (docker-registry's htpasswd). */
  creds?: string;
}

function headers(auth: PushAuth, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { ...extra };
  if (auth.creds) h.authorization = `Basic ${Buffer.from(auth.creds).toString('base64')}`;
  return h;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function expectStatus(res: Response, want: number, what: string): Promise<void> {
  if (res.status !== want) throw new Error(`${what}: HTTP ${res.status} (want ${want}): ${await res.text()}`);
}

/** Monolithic upload: POST to open a session, PUT the bytes with `?digest=`. */
export async function pushBlob(registryUrl: string, repo: string, data: Buffer, auth: PushAuth = {}): Promise<string> {
  const digest = sha256(data);
  const post = await fetch(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: headers(auth) });
  await expectStatus(post, 202, `POST ${repo} blob upload`);
  // Location may be absolute or relative and may already carry a query (_state=...).
  const location = new URL(post.headers.get('location') ?? '', registryUrl);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: headers(auth, { 'content-type': 'application/octet-stream' }),
    body: data,
  });
  await expectStatus(put, 201, `PUT ${repo} blob ${digest}`);
  return digest;
}

/** The descriptor of a manifest as the registry serves it (HEAD), e.g. to use as a `subject`. */
export async function headManifest(registryUrl: string, repo: string, reference: string, auth: PushAuth = {}): Promise<Descriptor> {
  const accept = [
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
  ].join(', ');
  const res = await fetch(`${registryUrl}/v2/${repo}/manifests/${reference}`, {
    method: 'HEAD',
    headers: headers(auth, { accept }),
  });
  await expectStatus(res, 200, `HEAD ${repo} manifest ${reference}`);
  return {
    mediaType: res.headers.get('content-type') ?? '',
    digest: res.headers.get('docker-content-digest') ?? '',
    size: Number(res.headers.get('content-length')),
  };
}

const EMPTY_JSON = Buffer.from('{}');
const EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';

export interface ArtifactOptions extends PushAuth {
  /** The artifact's single layer; default a small text blob naming the artifact type. */
  payload?: Buffer;
  payloadMediaType?: string;
  annotations?: Record<string, string>;
  /** Also tag the artifact; by default it is pushed by digest only, as referrers usually are. */
  tag?: string;
}

export interface PushedArtifact {
  descriptor: Descriptor;
  /** Exact bytes PUT, whose sha256 is the digest. */
  bytes: Buffer;
}

/** Pushes an OCI 1.1 artifact manifest (empty config, one layer) whose `subject` is `subject`. */
export async function pushArtifactWithSubject(
  registryUrl: string,
  repo: string,
  subject: Descriptor,
  artifactType: string,
  opts: ArtifactOptions = {},
): Promise<PushedArtifact> {
  const payload = opts.payload ?? Buffer.from(`berth test artifact ${artifactType}\n`);
  const payloadMediaType = opts.payloadMediaType ?? 'application/vnd.berth.test.payload';
  await pushBlob(registryUrl, repo, EMPTY_JSON, opts);
  const layerDigest = await pushBlob(registryUrl, repo, payload, opts);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType,
    config: { mediaType: EMPTY_MEDIA_TYPE, digest: sha256(EMPTY_JSON), size: EMPTY_JSON.length },
    layers: [{ mediaType: payloadMediaType, digest: layerDigest, size: payload.length }],
    // Bare descriptor: one from an OCI layout carries its layout-local ref.name annotation.
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = sha256(bytes);
  const res = await fetch(`${registryUrl}/v2/${repo}/manifests/${opts.tag ?? digest}`, {
    method: 'PUT',
    headers: headers(opts, { 'content-type': manifest.mediaType }),
    body: bytes,
  });
  await expectStatus(res, 201, `PUT ${repo} artifact manifest`);
  return {
    descriptor: { mediaType: manifest.mediaType, digest, size: bytes.length, artifactType, annotations: opts.annotations },
    bytes,
  };
}
