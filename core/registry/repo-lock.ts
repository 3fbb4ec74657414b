import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Lease, Leases } from '../metastore/meta-store';
import { RegistryError } from './errors';

/**
 * What the work under a lock is given: `confirm()` right before the write that publishes its result. It
 * renews the lease with its fencing token and throws {@link lockLost} when the lease is no longer ours (this
 * process paused past the TTL and another holder may have written since), so a stale holder never commits.
 */
export interface HeldLock {
  confirm(): Promise<void>;
}

/**
 * Serializes read-modify-write cycles of one repository's index.json (and of one upload). The default
 * implementation ({@link createLeasedLocks}) holds across processes through MetaStore leases; callers that
 * publish shared state call `held.confirm()` just before they do.
 */
export interface RepoLocks {
  withLock<T>(key: string, fn: (held: HeldLock) => Promise<T>): Promise<T>;
}

/** The lock could not be taken in time: another process holds it (or held it and died, until its lease lapses). */
export function lockBusy(key: string, waitedMs: number, retryAfterSeconds: number): RegistryError {
  return new RegistryError('UNAVAILABLE', 503, `the repository is locked by another request or replica; try again`,
    { lock: key, waitedMs }, { 'Retry-After': String(retryAfterSeconds) });
}

/** The lease lapsed while the work ran (a pause longer than the TTL): nothing was published. */
export function lockLost(key: string): RegistryError {
  return new RegistryError('UNAVAILABLE', 503, 'the repository lock was lost before the change was written; nothing was changed, try again',
    { lock: key }, { 'Retry-After': '1' });
}

/** In-process only: a queue per key. In front of the leases, and on its own for single-process tests. */
export function createLocalLocks(): RepoLocks {
  const tails = new Map<string, Promise<unknown>>();
  const held: HeldLock = { confirm: async () => undefined };
  return {
    async withLock<T>(key: string, fn: (held: HeldLock) => Promise<T>): Promise<T> {
      const previous = tails.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((r) => (release = r));
      const tail = previous.then(() => mine);
      tails.set(key, tail);
      await previous.catch(() => undefined);
      try {
        return await fn(held);
      } finally {
        release();
        if (tails.get(key) === tail) tails.delete(key);
      }
    },
  };
}

export interface LeasedLockOptions {
  /**
   * How long a lease lives without renewal: how long a holder that died (kill -9, node lost) blocks the
   * others at most.
   */
  ttlMs: number;
  /** How long acquire polls before giving up with 503 + Retry-After. */
  acquireTimeoutMs: number;
  /** The first poll interval; it doubles up to `maxBackoffMs`, with jitter so waiters do not march in step. */
  minBackoffMs: number;
  maxBackoffMs: number;
  /** This process's holder id; unique per process. */
  holder: string;
}

/**
 * A holder that dies (or a berth restarted after kill -9: it is a new holder) blocks the repository for at
 * most 10 s; a live one renews every 3.3 s (a third of the TTL, so a missed renewal still leaves it held).
 * 30 s of waiting is far longer than any index.json write takes.
 */
export const LEASE_DEFAULTS: Omit<LeasedLockOptions, 'holder'> = { ttlMs: 10_000, acquireTimeoutMs: 30_000, minBackoffMs: 5, maxBackoffMs: 200 };

export function processHolderId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`;
}

/**
 * Locks that hold across every process sharing the MetaStore (two berth on one volume during a rolling
 * update): an in-process queue first, so a process never polls the store against itself, then the lease
 * `lock:<key>` for the work's duration, renewed while it runs and released at the end.
 */
export function createLeasedLocks(leases: Leases, logger: Logger, options: Partial<LeasedLockOptions> = {}): RepoLocks {
  const opts: LeasedLockOptions = { ...LEASE_DEFAULTS, holder: processHolderId(), ...options };
  const local = createLocalLocks();

  /** Polls until `deadline` (the same bound covers the wait in the in-process queue before it). */
  const acquire = async (name: string, deadline: number): Promise<Lease> => {
    const started = Date.now();
    let backoff = opts.minBackoffMs;
    for (;;) {
      const lease = await leases.acquire(name, opts.holder, opts.ttlMs);
      if (lease) return lease;
      const left = deadline - Date.now();
      if (left <= 0) {
        const current = await leases.get(name);
        const retryAfter = Math.max(1, Math.ceil(((current?.expiresAt ?? Date.now()) - Date.now()) / 1000));
        throw lockBusy(name, Date.now() - started, retryAfter);
      }
      await new Promise((r) => setTimeout(r, Math.min(backoff * (0.5 + Math.random()), left)));
      backoff = Math.min(backoff * 2, opts.maxBackoffMs);
    }
  };

  const underLease = async <T>(key: string, fn: (held: HeldLock) => Promise<T>, deadline: number): Promise<T> => {
    const name = `lock:${key}`;
    const lease = await acquire(name, deadline);
    let lost = false;
    let renewing: Promise<void> = Promise.resolve();
    const renew = async (): Promise<void> => {
      if (lost) return;
      if (!(await leases.renew(name, opts.holder, lease.token, opts.ttlMs))) lost = true;
    };
    const timer = setInterval(() => {
      renewing = renewing.then(renew).catch((err: unknown) => logger.warn({ err, lock: name }, 'lease renewal failed'));
    }, Math.max(1, Math.floor(opts.ttlMs / 3)));
    timer.unref();
    const held: HeldLock = {
      async confirm() {
        await renewing;
        await renew();
        if (lost) throw lockLost(key);
      },
    };
    try {
      return await fn(held);
    } finally {
      clearInterval(timer);
      await renewing;
      if (!lost) {
        await leases.release(name, opts.holder, lease.token).catch((err: unknown) => logger.warn({ err, lock: name }, 'lease release failed; it lapses at its TTL'));
      } else {
        logger.warn({ lock: name, token: lease.token }, 'the lease lapsed while its work ran (paused past its TTL?)');
      }
    }
  };

  return {
    withLock<T>(key: string, fn: (held: HeldLock) => Promise<T>): Promise<T> {
      const entered = Date.now();
      const deadline = entered + opts.acquireTimeoutMs;
      // A request still queued in this process at the deadline gives up there; once its turn came it is bounded
      // by the lease poll, and a give-up never races work that already started.
      let state: 'queued' | 'running' | 'gave-up' = 'queued';
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          if (state !== 'queued') return;
          state = 'gave-up';
          reject(lockBusy(`lock:${key}`, Date.now() - entered, 1));
        }, opts.acquireTimeoutMs);
        local.withLock(key, async () => {
          if (state === 'gave-up') return;
          state = 'running';
          clearTimeout(timer);
          try {
            resolve(await underLease(key, fn, deadline));
          } catch (err) {
            reject(err);
          }
        }).catch(reject);
      });
    },
  };
}
