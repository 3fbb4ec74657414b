/**
 * Contention loops the MetaStore conformance suite runs at once in the test process and in a peer process
 * (metastore-peer.ts) on the same store. Each returns what the suite needs to prove no update was lost.
 */
import type { MetaStore } from '../../core/extensions/api';

export type HammerTask =
  | { task: 'kv-increment'; ns: string; key: string; rounds: number }
  | { task: 'lease-counter'; lease: string; holder: string; ns: string; key: string; rounds: number }
  | { task: 'upload-advance'; id: string; rounds: number }
  | { task: 'bookkeeping'; digest: string; locations: string[]; repos: string[]; keyName: string; candidate: string };

type Outcome =
  | { task: 'kv-increment'; conflicts: number }
  | { task: 'lease-counter'; tokens: number[] }
  | { task: 'upload-advance'; sizes: number[] }
  | { task: 'bookkeeping'; added: number[]; key: string };

/** `span` is when the loop ran (ms since the epoch), so the suite can check that the two loops overlapped. */
export type HammerResult = Outcome & { span: [number, number] };

export async function runHammer(store: MetaStore, t: HammerTask): Promise<HammerResult> {
  const start = Date.now();
  const result = await hammer(store, t);
  return { ...result, span: [start, Date.now()] };
}

const encode = (n: number) => Buffer.from(String(n));
const decode = (b: Uint8Array | undefined) => (b ? Number(Buffer.from(b).toString()) : 0);
/**
 * Widens the window between a read and the write that depends on it to a millisecond or two, as a replica
 * doing real work in between would: without it the window is microseconds and a store without working
 * compare-and-set or leases could pass by luck.
 */
const think = () => new Promise<void>((r) => setTimeout(r, 1 + Math.random()));

async function hammer(store: MetaStore, t: HammerTask): Promise<Outcome> {
  switch (t.task) {
    case 'kv-increment': {
      // Read, add one, compare-and-set; a conflict means the other process won: read again.
      const kv = store.kv(t.ns);
      let conflicts = 0;
      for (let done = 0; done < t.rounds;) {
        const cur = await kv.get(t.key);
        await think();
        const res = await kv.compareAndSet(t.key, cur?.version, encode(decode(cur?.value) + 1));
        if (res.ok) done++;
        else conflicts++;
      }
      return { task: t.task, conflicts };
    }
    case 'lease-counter': {
      // A plain read-modify-write, made safe only by the lease: a lost increment means two holders at once.
      const kv = store.kv(t.ns);
      const tokens: number[] = [];
      while (tokens.length < t.rounds) {
        const lease = await store.leases.acquire(t.lease, t.holder, 30_000);
        if (!lease) {
          await think();
          continue;
        }
        const cur = await kv.get(t.key);
        await think();
        await kv.put(t.key, encode(decode(cur?.value) + 1));
        tokens.push(lease.token);
        if (!(await store.leases.release(t.lease, t.holder, lease.token))) throw new Error(`lease ${t.lease} was lost while held`);
      }
      return { task: t.task, tokens };
    }
    case 'upload-advance': {
      // Two replicas serving PATCHes of one upload: each advance is a CAS on the version it read.
      const sizes: number[] = [];
      while (sizes.length < t.rounds) {
        const s = await store.uploads.get(t.id);
        if (!s) throw new Error(`upload ${t.id} vanished`);
        await think();
        const res = await store.uploads.update(t.id, s.version, { size: s.size + 1, hashState: encode(s.size + 1) });
        if (res.ok) sizes.push(res.value.size);
      }
      return { task: t.task, sizes };
    }
    case 'bookkeeping': {
      const added: number[] = [];
      for (const [i, location] of t.locations.entries()) {
        added.push(await store.dedupe.add(t.digest, location));
        await store.catalog.add(t.repos[i % t.repos.length]);
      }
      for (const repo of t.repos) await store.catalog.add(repo);
      const key = await store.signingKeys.getOrCreate(t.keyName, Buffer.from(t.candidate));
      return { task: t.task, added, key: Buffer.from(key).toString() };
    }
  }
}
