import type { ManifestWrite } from '../../core/extensions/api';

// Zot lints OCI image manifests only, but it refuses Docker schema 2 unless `compat` allows it; berth takes
// Docker schema 2 by default, and clients refused an OCI manifest retry in that format (skopeo does, with
// the same image converted), so those image manifests are linted too (they carry labels, not annotations).
const IMAGE_MANIFESTS = new Set(['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json']);
// Signatures are never linted (Zot's IsSignature): cosign's legacy tag, cosign's and notation's artifact types.
const SIGNATURE_ARTIFACT_TYPES = new Set([
  'application/vnd.dev.cosign.artifact.sig.v1+json',
  'application/vnd.dev.sigstore.bundle.v0.3+json',
  'application/vnd.cncf.notary.signature',
]);

/** Whether Zot's linter judges this write: image manifests, not indexes, signatures excepted. */
export function linted(write: ManifestWrite): boolean {
  if (!IMAGE_MANIFESTS.has(write.mediaType)) return false;
  if (write.tag?.startsWith('sha256-') && write.tag.endsWith('sig')) return false;
  return !SIGNATURE_ARTIFACT_TYPES.has(write.artifactType ?? '');
}

/**
 * The `mandatory` keys neither in the manifest's annotations nor in its config's labels, in the order the
 * config lists them. The config is read only when the annotations alone do not satisfy every key.
 */
export async function missingAnnotations(write: ManifestWrite, mandatory: readonly string[]): Promise<string[]> {
  const annotations = write.manifest.annotations ?? {};
  let missing = mandatory.filter((key) => !Object.hasOwn(annotations, key));
  if (missing.length === 0) return missing;
  const labels = labelsOf(await write.readConfig());
  missing = missing.filter((key) => !Object.hasOwn(labels, key));
  return missing;
}

function labelsOf(config: unknown): Record<string, unknown> {
  const labels = (config as { config?: { Labels?: unknown } } | undefined)?.config?.Labels;
  return labels && typeof labels === 'object' ? (labels as Record<string, unknown>) : {};
}
