// A generated root directory of many repositories for scale tests and benchmarks: each repository is only
// oci-layout and an empty index.json (what the catalog looks at), written with sync calls because that is the
// fastest way to make a hundred thousand tiny files.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const OCI_LAYOUT = '{"imageLayoutVersion":"1.0.0"}';
const EMPTY_INDEX = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}';

/** The name of generated repository `i`: nested two levels (`scale/g<group>/r<i>`), 1000 per group. */
export const generatedRepo = (i: number) => `scale/g${String(Math.floor(i / 1000)).padStart(3, '0')}/r${String(i).padStart(6, '0')}`;

/** Writes repositories 0..n-1 under `root`; returns their names, sorted. */
export function generateRepoRoot(root: string, n: number): { first: string; last: string } {
  for (let i = 0; i < n; i++) {
    const dir = join(root, generatedRepo(i));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'oci-layout'), OCI_LAYOUT);
    writeFileSync(join(dir, 'index.json'), EMPTY_INDEX);
  }
  return { first: generatedRepo(0), last: generatedRepo(n - 1) };
}
