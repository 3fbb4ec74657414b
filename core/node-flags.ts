/**
 * The V8 flags berth runs with. A young generation capped at 4 MiB semi-spaces keeps the resident set of a
 * long-running registry near its working set (bench/: the 16 × 1 GiB download peak fell from 153-156 MB to
 * 120 MB) at no measured cost in blob or manifest throughput. bin/berth.js's shebang and the `start` script in
 * package.json pass the same flags (test/cli checks they agree); spawners of bin/berth.js use this list.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
