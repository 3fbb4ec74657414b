/**
 * The peer process of the MetaStore conformance suite: opens the store under test through the module and
 * export the suite was given, prints "ready", waits for "go" on stdin, runs one contention loop and prints
 * its result as one JSON line. Usage: node metastore-peer.js '<json>'.
 */
import { createInterface } from 'node:readline';
import type { MetaStore } from '../../core/extensions/api';
import { runHammer, type HammerTask } from './metastore-hammer';

interface PeerArgs {
  module: string;
  export: string;
  options: unknown;
  work: HammerTask;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '') as PeerArgs;
  const loaded = require(args.module) as Record<string, (options: unknown) => MetaStore | Promise<MetaStore>>;
  const open = loaded[args.export];
  if (typeof open !== 'function') throw new Error(`${args.module} has no function export ${args.export}`);
  const store = await open(args.options);
  try {
    const lines = createInterface({ input: process.stdin });
    const go = new Promise<void>((resolve) => lines.once('line', () => resolve()));
    process.stdout.write('ready\n');
    await go;
    lines.close();
    const result = await runHammer(store, args.work);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await store.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
