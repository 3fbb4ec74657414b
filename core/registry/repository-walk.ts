import type { StorageDriver } from '../storage/driver';
import { LAYOUT_ENTRIES } from './layout';

/**
 * Directories listed ahead of the walk, at most (the walk is latency-bound: one list per entry). In each
 * directory the window starts at one and grows with the steps taken there, so a page that stops early lists
 * little it does not use: never 32 group directories of 1000 entries ahead of the one it reads.
 */
const WALK_AHEAD = 32;

/**
 * One place of a directory entry in catalog order: its own name (`path`, a repository or not), or its subtree
 * (`path + '/'`: every name below it starts so, and any other name compares with all of them as with that key).
 */
interface Step {
  key: string;
  path: string;
  subtree: boolean;
  /** No later step of this entry needs its listing (the subtree step, or a name step whose subtree is skipped). */
  lastOfPath: boolean;
}

/**
 * The repositories below the root that sort after `after` (all without it), in exact `_catalog` order (byte
 * order, as the index and Distribution sort), walking only what the order reaches: a page of n after `last`
 * costs the listings of the directories on the path down to `last` and about n repository checks, not a walk
 * of the whole root. Stopping early (a `break`, `stop()` turning true) lists nothing more.
 *
 * Why it is exact: every name below an entry `e` starts with `e/`, and a string without that prefix compares
 * with each of them as it compares with `e/` (they first differ within `e/`, or it is a prefix of `e/`). So
 * sorting the keys `e` (its own name) and `e/` (its subtree) of all entries of a directory, and expanding a
 * subtree when its key comes up, yields names in order; the same comparison says which subtrees lie wholly
 * before `after` (skipped unlisted) and which one holds it (entered with the same bound).
 *
 * A repository is a directory holding index.json and oci-layout (as Zot); layout entries, names beginning with
 * '.' (driver bookkeeping, .uploads) and with '_' (`_berth`, Zot's `_trivy`) are never entered. Memory: the
 * sorted keys of one directory per level, and up to WALK_AHEAD listings ahead per level.
 */
export async function* repositoriesInOrder(storage: StorageDriver, after?: string, opts: WalkOptions = {}): AsyncGenerator<string> {
  yield* walkDirectory(storage, '', await storage.list(''), after, opts);
}

export interface WalkOptions {
  /** Checked before each step: true ends the walk. */
  stop?: () => boolean;
  /** Awaited, when it returns a promise, before each step lists more: a background walk gives way to requests. */
  yieldTo?: () => Promise<void> | undefined;
}

async function* walkDirectory(storage: StorageDriver, dir: string, names: string[], after: string | undefined, opts: WalkOptions): AsyncGenerator<string> {
  const steps = stepsOf(dir, names, after);
  // Listings started ahead of the walk, by path; an entry's name step and subtree step share one.
  const listings = new Map<string, Promise<string[]>>();
  let ahead = 0;
  for (let i = 0; i < steps.length && !opts.stop?.(); i++) {
    const busy = opts.yieldTo?.();
    if (busy) await busy;
    for (const window = Math.min(WALK_AHEAD, Math.max(1, i)); ahead < steps.length && ahead < i + window; ahead++) {
      const path = steps[ahead]!.path;
      if (listings.has(path)) continue;
      // None for a file, or a directory deleted since its parent was listed (the driver's contract for list).
      const listing = storage.list(path);
      // Awaited below when the walk gets there; an abandoned walk must not leave an unhandled rejection.
      listing.catch(() => undefined);
      listings.set(path, listing);
    }
    const step = steps[i]!;
    const listing = await listings.get(step.path)!;
    if (step.lastOfPath) listings.delete(step.path);
    if (!step.subtree) {
      if (isRepository(listing)) yield step.path;
    } else {
      yield* walkDirectory(storage, step.path, listing, after, opts);
    }
  }
}

/** The entries of `dir` the walk may enter, as their two keys sorted, without those wholly before `after`. */
function stepsOf(dir: string, names: string[], after: string | undefined): Step[] {
  const steps: Step[] = [];
  for (const name of names) {
    if (LAYOUT_ENTRIES.has(name) || name.startsWith('.') || name.startsWith('_')) continue;
    const path = dir ? `${dir}/${name}` : name;
    const subtree = `${path}/`;
    const entered = after === undefined || subtree > after || after.startsWith(subtree);
    // `path` sorts before `path/`, so its subtree step, when there is one, is the last to need the listing.
    if (after === undefined || path > after) steps.push({ key: path, path, subtree: false, lastOfPath: !entered });
    if (entered) steps.push({ key: subtree, path, subtree: true, lastOfPath: true });
  }
  // Byte order: names are ASCII (the distribution-spec grammar), where UTF-16 code-unit order is byte order.
  steps.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return steps;
}

function isRepository(names: string[]): boolean {
  return names.includes('index.json') && names.includes('oci-layout');
}
