'use strict';
const { randomUUID } = require('node:crypto');

/**
 * Messages not yet delivered, in the MetaStore's key-value space: shared by every berth on it and kept across
 * restarts. An entry is claimed before it is sent (a compare-and-set that moves its `claimedUntil` on), so two
 * replicas retrying at once never both send it; a claim a crashed replica left expires.
 */
class Outbox {
  /** @param {import('berth/extension').KeyValueSpace} kv  @param {number} claimMs how long a claim holds */
  constructor(kv, claimMs) {
    this.kv = kv;
    this.claimMs = claimMs * 2;
  }

  /** Stores a new message, claimed by the caller, who attempts it at once. */
  async add(message) {
    // Keys sort by creation time, so retries go oldest first.
    const key = `outbox/${String(Date.now()).padStart(15, '0')}-${randomUUID()}`;
    const value = { message, attempts: 0, claimedUntil: Date.now() + this.claimMs };
    const version = await this.kv.put(key, encode(value));
    return { key, version, ...value };
  }

  /** Entries whose claim expired, each claimed for the caller; one another replica claimed first is skipped. */
  async *claimDue() {
    for (const entry of await this.list()) {
      if (entry.claimedUntil > Date.now()) continue;
      const claimed = { ...entry, claimedUntil: Date.now() + this.claimMs };
      const { key, version: _v, ...value } = claimed;
      const result = await this.kv.compareAndSet(key, entry.version, encode(value));
      if (result.ok) yield { ...claimed, version: result.value.version };
    }
  }

  /** Delivered (or given up): removed, unless another replica holds it now. */
  async done(entry) {
    await this.kv.delete(entry.key, entry.version);
  }

  /** A failed attempt: counted, the error kept, and the claim released for the next retry. */
  async failed(entry, lastError) {
    const value = { message: entry.message, attempts: entry.attempts + 1, lastError, claimedUntil: 0 };
    await this.kv.compareAndSet(entry.key, entry.version, encode(value));
  }

  /** Every entry, oldest first. */
  async list() {
    const entries = [];
    for (let after; ;) {
      const page = await this.kv.list('outbox/', { after, limit: 100 });
      for (const e of page) entries.push({ key: e.key, version: e.version, ...JSON.parse(Buffer.from(e.value).toString('utf8')) });
      if (page.length < 100) return entries;
      after = page[page.length - 1].key;
    }
  }
}

const encode = (value) => Buffer.from(JSON.stringify(value));

module.exports = { Outbox };
