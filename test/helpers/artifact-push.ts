// Raw distribution-spec pushes with fetch, for what skopeo 1.9 cannot send (OCI 1.1 `subject` referrers).
import { pushBlob, pushManifest, sha256, type PushAuth } from '../../core/testkit';
import type { Descriptor } from './images.js';

export { pushBlob, type PushAuth } from '../../core/testkit';

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
    headers: auth.creds ? { accept, authorization: `Basic ${Buffer.from(auth.creds).toString('base64')}` } : { accept },
  });
  if (res.status !== 200) throw new Error(`HEAD ${repo} manifest ${reference}: HTTP ${res.status} (want 200)`);
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
  await pushManifest(registryUrl, repo, opts.tag ?? digest, manifest.mediaType, bytes, opts);
  return {
    descriptor: { mediaType: manifest.mediaType, digest, size: bytes.length, artifactType, annotations: opts.annotations },
    bytes,
  };
}
