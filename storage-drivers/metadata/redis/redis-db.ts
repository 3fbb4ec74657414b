import { createHash } from 'node:crypto';
import { Cluster, Redis, ReplyError } from 'ioredis';
import { RegistryError } from '../../../core/extensions/api';
import type { RedisTarget } from './redis-options';

type Arg = string | number | Buffer;

/** A Lua script, run with EVALSHA (EVAL once after a server restart flushed the script cache). */
export interface LuaScript {
  readonly name: string;
  readonly lua: string;
}

/**
 * Helpers every script starts with. Numbers are written with `%d`: Lua's own number-to-string keeps 14
 * digits, and versions and tokens have 16.
 * - `nextId(key)`: the next number of a counter. A missing counter starts at the server's time in
 *   microseconds, so if Redis ever loses its data (no persistence, a failover to a lagging replica) the
 *   counters restart above every number handed out before: versions are never reused, fencing tokens only grow.
 * - `nowMs()`: the server's clock, which judges lease expiry (never the caller's).
 */
const PRELUDE = `
local function s(n) return string.format('%d', n) end
local function nextId(key)
  if redis.call('EXISTS', key) == 0 then
    local t = redis.call('TIME')
    redis.call('SET', key, t[1] .. string.format('%06d', tonumber(t[2])))
  end
  return redis.call('INCR', key)
end
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

export function lua(body: string): LuaScript {
  const text = PRELUDE + body;
  return { name: `berth_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`, lua: text };
}

/** Script errors berth raises on purpose start with this; anything else is the store failing. */
export const REFUSED = 'BERTH_REFUSED';

/**
 * One connection (or cluster client) and the key layout. Every key lives under one hash tag,
 * `{<keyprefix>:berth}`, so on a Redis Cluster all of them share a slot and each script may touch any of
 * them atomically; berth's metadata is small, so one slot is not a capacity limit.
 */
export class RedisDb {
  private readonly defined = new Set<string>();
  private closed = false;

  constructor(readonly client: Redis | Cluster, readonly target: RedisTarget, private readonly base: string) {}

  /** A key: the base and a kind tag (`kv.v:`, `up:`...) that ends in ':' before any caller-chosen part. */
  key(kind: string, rest = ''): string {
    return `${this.base}${kind}:${rest}`;
  }

  /** Runs a script atomically on the server. Replies come back with bulk strings as Buffers. */
  async run(script: LuaScript, keys: string[], args: Arg[]): Promise<unknown> {
    if (this.closed) throw new Error('the redis metadata store is closed');
    if (!this.defined.has(script.name)) {
      this.client.defineCommand(script.name, { lua: script.lua });
      this.defined.add(script.name);
    }
    const call = (this.client as unknown as Record<string, (...a: Arg[]) => Promise<unknown>>)[`${script.name}Buffer`];
    try {
      return await call.call(this.client, keys.length, ...keys, ...args);
    } catch (err) {
      throw this.failure(err);
    }
  }

  /** A plain command (reads of one key), with the same error mapping. */
  async call(command: string, ...args: Arg[]): Promise<unknown> {
    if (this.closed) throw new Error('the redis metadata store is closed');
    try {
      return await this.client.callBuffer(command, ...args);
    } catch (err) {
      throw this.failure(err);
    }
  }

  /**
   * A refusal a script raised is the caller's error; anything else (unreachable, timed out, out of memory,
   * a replica that cannot write) means the store failed: UNAVAILABLE (503 with Retry-After), so the client
   * retries and a replica that lost Redis answers like one that lost its disk, without a 500.
   */
  private failure(err: unknown): Error {
    if (this.closed) return new Error('the redis metadata store is closed');
    const message = (err as Error).message ?? String(err);
    if (err instanceof ReplyError && message.includes(REFUSED)) return new Error(message.slice(message.indexOf(REFUSED) + REFUSED.length + 1).trim());
    // While disconnected ioredis refuses calls with "Stream isn't writeable...": say what it means.
    const why = this.client.status === 'ready' ? message : `not connected (${this.client.status})`;
    return new RegistryError('UNAVAILABLE', 503, `the metadata store (storage.cacheDriver redis at ${this.target.where}) failed: ${why}`, undefined, { 'Retry-After': '1' });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // quit waits for the replies of calls already sent; later calls reject.
    this.closed = true;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}

/** Decodes a reply's bulk string. */
export const str = (b: unknown): string => (Buffer.isBuffer(b) ? b.toString('utf8') : String(b));
export const num = (b: unknown): number => Number(str(b));
