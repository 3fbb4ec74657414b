import { readBody, type UpstreamClient } from './upstream-client';

// Artifact types of signatures pushed as OCI referrers: cosign (new and bundle formats) and notation.
export const SIGNATURE_ARTIFACT_TYPES = new Set([
  'application/vnd.dev.cosign.artifact.sig.v1+json',
  'application/vnd.dev.sigstore.bundle.v0.3+json',
  'application/vnd.cncf.notary.signature',
]);

/** cosign's legacy tag for a manifest's signature: `sha256-<hex>.sig`. */
export function cosignTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

/**
 * `onlySigned`: the upstream holds a cosign signature (legacy tag) or a cosign/notation referrer for the
 * digest. Zot's check is the same; verifying the signature itself is the trust extension's job.
 */
export async function isSigned(client: Pick<UpstreamClient, 'request'>, repo: string, digest: string): Promise<boolean> {
  const head = await client.request('HEAD', { repo, path: `manifests/${cosignTag(digest)}` }, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
  });
  head.resume();
  if (head.statusCode === 200) return true;
  const res = await client.request('GET', { repo, path: `referrers/${digest}` }, { headers: { accept: 'application/vnd.oci.image.index.v1+json' } });
  if (res.statusCode !== 200) {
    res.resume();
    return false;
  }
  try {
    const index = JSON.parse((await readBody(res, 4 << 20)).toString('utf8')) as { manifests?: Array<{ artifactType?: string }> };
    return (index.manifests ?? []).some((m) => m.artifactType !== undefined && SIGNATURE_ARTIFACT_TYPES.has(m.artifactType));
  } catch {
    return false;
  }
}
