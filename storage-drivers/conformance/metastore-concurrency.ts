/**
 * The cross-process half of the MetaStore conformance suite: a peer process (metastore-peer.ts) opens the
 * same store and runs a contention loop while this process runs the same loop, both released at once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { MetaStore } from '../../core/extensions/api';
import { runHammer, type HammerResult, type HammerTask } from './metastore-hammer';
import type { MetaCheck } from './metastore-conformance';

/** How the peer process opens the store under test: `require(module)[export](options)`. */
export interface PeerSpec {
  module: string;
  export: string;
  /** JSON-serializable: it reaches the peer on its command line. */
  options: unknown;
}

const ROUNDS = 100;

export function concurrencyTests(check: MetaCheck): void {
  check('kv compare-and-set: increments from two processes lose none', async (store, env) => {
    const task: HammerTask = { task: 'kv-increment', ns: 'race', key: 'counter', rounds: ROUNDS };
    await together(store, env.peer, task, task);
    assert.equal(Buffer.from((await store.kv('race').get('counter'))!.value).toString(), String(2 * ROUNDS));
  });

  check('leases: two processes never hold one at once; fencing tokens are all distinct and grow', async (store, env) => {
    const task = (holder: string): HammerTask => ({ task: 'lease-counter', lease: 'repo:shared', holder, ns: 'race', key: 'locked', rounds: ROUNDS });
    const [mine, theirs] = await together(store, env.peer, task('here'), task('peer'));
    assert.ok(mine.task === 'lease-counter' && theirs.task === 'lease-counter');
    // The counter is a plain read-modify-write: only mutual exclusion keeps every increment.
    assert.equal(Buffer.from((await store.kv('race').get('locked'))!.value).toString(), String(2 * ROUNDS));
    for (const tokens of [mine.tokens, theirs.tokens]) {
      for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i] > tokens[i - 1], 'each holder sees its tokens grow');
    }
    assert.equal(new Set([...mine.tokens, ...theirs.tokens]).size, 2 * ROUNDS, 'no token handed out twice');
  });

  check('uploads: two processes advancing one upload never both win from the same version', async (store, env) => {
    await store.uploads.create({ id: 'shared', repo: 'r', path: 'r/.uploads/shared', size: 0, createdAt: Date.now() });
    const task: HammerTask = { task: 'upload-advance', id: 'shared', rounds: ROUNDS };
    const [mine, theirs] = await together(store, env.peer, task, task);
    assert.ok(mine.task === 'upload-advance' && theirs.task === 'upload-advance');
    const sizes = [...mine.sizes, ...theirs.sizes].sort((a, b) => a - b);
    assert.deepEqual(sizes, Array.from({ length: 2 * ROUNDS }, (_, i) => i + 1), 'every size reached exactly once');
    const final = await store.uploads.get('shared');
    assert.equal(final?.size, 2 * ROUNDS);
    assert.equal(Buffer.from(final!.hashState!).toString(), String(2 * ROUNDS), 'size and hash state moved together');
  });

  check('dedupe, catalog and signing key: concurrent writers agree', async (store, env) => {
    const digest = 'sha256:' + 'c'.repeat(64);
    const task = (side: string): HammerTask => ({
      task: 'bookkeeping',
      digest,
      locations: Array.from({ length: 60 }, (_, i) => `${side}${i}/blobs/sha256/cc`),
      repos: Array.from({ length: 40 }, (_, i) => `repo${i % 30}`).concat(`only-${side}`),
      keyName: 'token',
      candidate: `key-from-${side}`,
    });
    const [mine, theirs] = await together(store, env.peer, task('a'), task('b'));
    assert.ok(mine.task === 'bookkeeping' && theirs.task === 'bookkeeping');
    assert.equal(await store.dedupe.count(digest), 120);
    assert.equal(new Set([...mine.added, ...theirs.added]).size, 120, 'each add saw a distinct count');
    assert.equal(await store.catalog.count(), 32);
    assert.equal(mine.key, theirs.key, 'both got the same signing key');
    assert.ok(['key-from-a', 'key-from-b'].includes(mine.key));
  });
}

/** Starts the peer on `theirs`, waits until it has opened the store, then releases both loops at once. */
async function together(store: MetaStore, peer: PeerSpec, mine: HammerTask, theirs: HammerTask): Promise<[HammerResult, HammerResult]> {
  const args = JSON.stringify({ module: peer.module, export: peer.export, options: peer.options, work: theirs });
  const child = spawn(process.execPath, [join(__dirname, 'metastore-peer.js'), args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  const lines = createInterface({ input: child.stdout });
  const output: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => {
      if (line === 'ready') resolve();
      else output.push(line);
    });
    void exited.then((code) => reject(new Error(`peer exited (${code}) before it was ready: ${Buffer.concat(stderr).toString()}`)));
  });
  try {
    await ready;
    child.stdin.write('go\n');
    const [here, code] = await Promise.all([runHammer(store, mine), exited]);
    assert.equal(code, 0, `peer failed: ${Buffer.concat(stderr).toString()}`);
    const there = JSON.parse(output.at(-1) ?? 'null') as HammerResult;
    // Both loops must have run at the same time, or the test proved nothing about contention.
    assert.ok(here.span[0] < there.span[1] && there.span[0] < here.span[1], `the two processes overlapped (${here.span} vs ${there.span})`);
    return [here, there];
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
