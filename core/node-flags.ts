/**
 * The V8 flags berth runs with (bench/ measures both):
 * - `--max-semi-space-size=1`: a young generation of 1 MiB semi-spaces is collected often, so the short-lived
 *   socket chunks of blob traffic are freed soon after use. With 4 MiB the 16 × 1 GiB download peak had fallen
 *   from 153-156 MB (V8's default) to 120 MB on local disk; on S3, 1 MiB took the 2 GiB push peak from 157-164 MB
 *   to 144-148 MB.
 * - `--initial-old-space-size=64`: without it V8 shrinks the old generation's limit to about 12 MB above the live
 *   heap, and after concurrent S3 pushes berth ran a full GC every 70 ms while serving blobs (2 to 4 CPU-s per GB
 *   instead of 1.2). The live heap is about 22 MB; the limit only decides when a full GC runs.
 * bin/berth.js's shebang and the `start` script in package.json pass the same flags (test/cli checks they
 * agree); spawners of bin/berth.js use this list.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--initial-old-space-size=64'];
