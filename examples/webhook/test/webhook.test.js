'use strict';
// The extension's own tests, written with berth's test kit: a real berth in this process, real pushes over
// HTTP, and a real HTTP receiver standing in for Slack.
const { after, before, describe, it } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { mkdtemp, rm } = require('node:fs/promises');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { startBerth } = require('berth/testkit');
const webhook = require('..');

/** An HTTP receiver on a free port: records each POST and the status it answered, which `answer` decides. */
async function startReceiver() {
  const receiver = { received: [], answer: () => 200 };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const status = receiver.answer();
      receiver.received.push({ headers: req.headers, body: JSON.parse(body), status });
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${server.address().port}/hook`;
  receiver.close = () => new Promise((resolve) => server.close(resolve));
  return receiver;
}

/** Polls `check` until it returns something truthy (deliveries happen after the push is answered). */
async function eventually(check, what) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('berth-extension-webhook', () => {
  let receiver;
  before(async () => {
    receiver = await startReceiver();
  });
  after(() => receiver.close());

  it('posts a Slack-style message with the image pushed, with the configured headers', async () => {
    const berth = await startBerth({
      config: { extensions: { webhook: { url: receiver.url, headers: { authorization: 'Bearer s3cret' } } } },
      extensions: [webhook],
    });
    try {
      const image = await berth.pushImage('team/app', 'v1');
      const [got] = await eventually(() => receiver.received.length > 0 && receiver.received, 'the message');
      assert.equal(got.headers.authorization, 'Bearer s3cret');
      assert.match(got.body.text, /^Pushed team\/app:v1 \(sha256:/);
      assert.deepEqual(got.body.event, {
        type: 'manifest.stored', repo: 'team/app', tag: 'v1', digest: image.digest, mediaType: image.mediaType, writer: 'push',
      });
    } finally {
      await berth.stop();
      receiver.received.length = 0;
    }
  });

  it('notifies only for the configured repository prefixes', async () => {
    const berth = await startBerth({ config: { extensions: { webhook: { url: receiver.url, repositories: ['team/'] } } }, extensions: [webhook] });
    try {
      await berth.pushImage('other/app', 'v1');
      await berth.pushImage('team/app', 'v2');
      await eventually(() => receiver.received.some((r) => r.body.event.tag === 'v2'), 'team/app:v2');
      assert.deepEqual(receiver.received.map((r) => r.body.event.repo), ['team/app']);
    } finally {
      await berth.stop();
      receiver.received.length = 0;
    }
  });

  it('keeps a message the receiver refused and delivers it on a retry', async () => {
    let up = false;
    receiver.answer = () => (up ? 200 : 503);
    const berth = await startBerth({ config: { extensions: { webhook: { url: receiver.url, retryEvery: '100ms' } } }, extensions: [webhook] });
    const outbox = async () => (await fetch(`${berth.url}/webhook/outbox`)).json();
    try {
      await berth.pushImage('team/app', 'v3');
      const [pending] = await eventually(async () => {
        const entries = await outbox();
        return entries.length === 1 && entries[0].attempts >= 2 && entries;
      }, 'a message waiting after two failed attempts');
      assert.equal(pending.repo, 'team/app');
      assert.equal(pending.tag, 'v3');
      assert.equal(pending.lastError, 'HTTP 503');
      up = true;
      await eventually(async () => (await outbox()).length === 0, 'the outbox to empty');
      const statuses = receiver.received.filter((r) => r.body.event.tag === 'v3').map((r) => r.status);
      assert.deepEqual(statuses.slice(-1), [200], 'delivered once, by the last attempt');
      assert.ok(statuses.slice(0, -1).length >= 2 && statuses.slice(0, -1).every((s) => s === 503), `refused at least twice first: ${statuses}`);
    } finally {
      receiver.answer = () => 200;
      await berth.stop();
      receiver.received.length = 0;
    }
  });

  it('delivers after a restart what was still waiting when berth stopped', async () => {
    let up = false;
    receiver.answer = () => (up ? 200 : 503);
    const rootDirectory = await mkdtemp(join(tmpdir(), 'webhook-root-'));
    const config = { storage: { rootDirectory }, extensions: { webhook: { url: receiver.url, retryEvery: '100ms' } } };
    try {
      const first = await startBerth({ config, extensions: [webhook] });
      try {
        await first.pushImage('team/app', 'v4');
        await eventually(async () => (await (await fetch(`${first.url}/webhook/outbox`)).json()).length === 1, 'the message waiting');
      } finally {
        await first.stop();
      }
      up = true;
      const second = await startBerth({ config, extensions: [webhook] });
      try {
        await eventually(() => receiver.received.some((r) => r.body.event.tag === 'v4' && r.status === 200), 'the delivery');
        await eventually(async () => (await (await fetch(`${second.url}/webhook/outbox`)).json()).length === 0, 'the outbox to empty');
      } finally {
        await second.stop();
      }
    } finally {
      receiver.answer = () => 200;
      receiver.received.length = 0;
      await rm(rootDirectory, { recursive: true, force: true });
    }
  });

  it('refuses a config without a usable url, naming the key', async () => {
    await assert.rejects(startBerth({ config: { extensions: { webhook: { url: 'ftp://x' } } }, extensions: [webhook] }), /extensions\.webhook\.url/);
    await assert.rejects(startBerth({ config: { extensions: { webhook: {} } }, extensions: [webhook] }), /extensions\.webhook\.url/);
  });
});
