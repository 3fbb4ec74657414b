'use strict';
// berth-extension-webhook: a message to a webhook (Slack's incoming webhooks, or any HTTP receiver) for every
// image pushed. docs/extensions.md builds this file step by step.
const { defineExtension, zot } = require('berth/extension');
const { z } = require('zod');
const { Outbox } = require('./outbox');

const configSchema = z.object({
  /** Where to POST. */
  url: z.url({ protocol: /^https?$/ }),
  /** Extra request headers (an Authorization for the receiver, say); never logged. */
  headers: z.record(z.string(), z.string()).default({}),
  /** Repository prefixes to notify for; empty: every repository. */
  repositories: zot.strList.default([]),
  /** Which writers' manifests: `push` (clients), `pull-through`, `sync`, or another extension's name. */
  writers: zot.strList.default(['push']),
  /** How long one delivery may take, as Zot writes durations ("5s"); parsed to milliseconds. */
  timeout: zot.duration.pipe(z.number().positive()).default(5000),
  /** How often failed deliveries are retried ("30s"). */
  retryEvery: zot.duration.pipe(z.number().positive()).default(30_000),
  /** Attempts before a message is dropped (and logged). */
  maxAttempts: zot.int.pipe(z.number().positive()).default(10),
});

module.exports = defineExtension({
  name: 'webhook',
  apiVersion: 1,
  configSchema,
  register(ctx) {
    const { config, logger } = ctx;
    // A Slack webhook URL carries its secret in the path: logs name the receiver's origin only.
    const receiver = new URL(config.url).origin;
    // Shutdown aborts deliveries in flight; what they carried stays in the outbox for the next start.
    const stopping = new AbortController();
    // The MetaStore opens after register: onStart (phase two) is where the extension takes its key-value space.
    let outbox;
    ctx.onStart(({ metaStore }) => {
      outbox = new Outbox(metaStore.kv('webhook'), config.timeout);
    });

    const wanted = (e) =>
      config.writers.includes(e.writer) &&
      (config.repositories.length === 0 || config.repositories.some((prefix) => e.repo.startsWith(prefix)));

    async function deliver(message, signal) {
      const res = await fetch(config.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...config.headers },
        body: JSON.stringify(message),
        signal: AbortSignal.any([signal, AbortSignal.timeout(config.timeout)]),
      });
      await res.body?.cancel();
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    }

    /**
     * One attempt at a claimed entry: delivered and removed, or kept with the error for the next retry. When
     * `signal` aborts (shutdown, the retry run's timeout) the entry stays claimed until its claim expires.
     */
    async function attempt(entry, signal) {
      try {
        await deliver(entry.message, signal);
        await outbox.done(entry);
      } catch (err) {
        if (signal.aborted) return;
        const why = err.cause?.message ?? err.message;
        if (entry.attempts + 1 >= config.maxAttempts) {
          logger.error({ receiver, event: entry.message.event, err: why }, 'webhook message dropped after its last attempt');
          await outbox.done(entry);
        } else {
          logger.warn({ receiver, attempts: entry.attempts + 1, err: why }, 'webhook delivery failed; will retry');
          await outbox.failed(entry, why);
        }
      }
    }

    ctx.events.on('manifest.stored', async (e) => {
      if (!wanted(e)) return;
      const ref = e.tag ? `${e.repo}:${e.tag}` : `${e.repo}@${e.digest}`;
      const message = {
        text: `Pushed ${ref} (${e.digest.slice(0, 19)}…)`,
        event: { type: 'manifest.stored', repo: e.repo, tag: e.tag, digest: e.digest, mediaType: e.mediaType, writer: e.writer },
      };
      // Kept before the first attempt, so a crash or a receiver that is down loses nothing.
      await attempt(await outbox.add(message), stopping.signal);
    });

    // One berth among all sharing the MetaStore retries per period (`global`); a run ends within its period.
    ctx.schedule(config.retryEvery, async (signal) => {
      for await (const entry of outbox.claimDue()) {
        if (signal.aborted) return;
        await attempt(entry, signal);
      }
    }, { id: 'retry', scope: 'global', initialDelay: config.retryEvery, timeout: config.retryEvery });

    // What is waiting, limited to the repositories the caller may read.
    ctx.routes.get('/webhook/outbox', async (c) => {
      const pending = await outbox.list();
      const readable = new Set(await ctx.access.readable(c, [...new Set(pending.map((p) => p.message.event.repo))]));
      c.body = pending
        .filter((p) => readable.has(p.message.event.repo))
        .map((p) => ({ ...p.message.event, attempts: p.attempts, lastError: p.lastError }));
    });

    ctx.onShutdown(async () => stopping.abort());
  },
});
