import type { ParsedDigest } from './digest';

/**
 * Zot's on-disk layout (an OCI image layout per repository), so a root directory written by Zot is served
 * as it is and Zot can read what berth writes:
 *   <repo>/oci-layout, <repo>/index.json, <repo>/blobs/<alg>/<hex>, <repo>/.uploads/<uuid>
 */
export const layout = {
  ociLayout: (repo: string) => `${repo}/oci-layout`,
  index: (repo: string) => `${repo}/index.json`,
  blobsDir: (repo: string) => `${repo}/blobs`,
  blob: (repo: string, d: ParsedDigest) => `${repo}/blobs/${d.algorithm}/${d.hex}`,
  uploadsDir: (repo: string) => `${repo}/.uploads`,
  upload: (repo: string, id: string) => `${repo}/.uploads/${id}`,
  /** Zot's on-demand staging directory `<repo>/.sync/<uuid>` (berth spools under `_berth/spool`): leftovers GC removes. */
  syncDir: (repo: string) => `${repo}/.sync`,
};

export const OCI_LAYOUT_CONTENT = Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }));

/** Directory names inside a repository that are layout, never nested repositories. */
export const LAYOUT_ENTRIES = new Set(['blobs', '.uploads', '.sync', 'index.json', 'oci-layout']);
