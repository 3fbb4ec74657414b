// The events extension against a real nats-server and a real HTTP receiver: CloudEvents for pushes (skopeo),
// pulls, deletes and periodic sync, in order at both sinks with Zot's attributes; dead sinks cost pushes nothing.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection, type Subscription } from 'nats';
import { REPO_ROOT } from '../helpers/berth-process.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { eventually } from '../helpers/eventually.js';
import { startEventReceiver, type EventReceiver, type ReceivedRequest } from '../helpers/event-receiver.js';
import { buildOciImage, type BuiltImage } from '../helpers/images.js';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';
import { skopeoCopy, skopeoDelete } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, freePort, tempDir } from '../helpers/tools.js';

const probe = join(REPO_ROOT, 'test', 'fixtures', 'extensions', 'metrics-probe');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface StructuredEvent {
  specversion: string;
  id: string;
  source: string;
  type: string;
  time: string;
  datacontenttype: string;
  data: Record<string, unknown>;
}

/** Every message on `subject`, in arrival order, as the JSON event format. */
function collect(nc: NatsConnection, subject: string): { events: StructuredEvent[]; sub: Subscription } {
  const events: StructuredEvent[] = [];
  const sub = nc.subscribe(subject);
  void (async () => {
    for await (const m of sub) events.push(JSON.parse(Buffer.from(m.data).toString('utf8')) as StructuredEvent);
  })();
  return { events, sub };
}

const typesOf = (requests: ReceivedRequest[]) => requests.map((r) => r.headers['ce-type']);
const bodyOf = (r: ReceivedRequest) => JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;

/** The value of one series in Prometheus text, 0 when absent. */
async function series(berth: RunningBerth, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${berth.url}/probe/metrics`)).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('events: CloudEvents to HTTP and NATS sinks', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let img: BuiltImage;
  let work: string;
  const receivers: EventReceiver[] = [];
  const berths: RunningBerth[] = [];
  const natsAuth = { user: 'berth', password: 'nats-secret' };

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'nats-server', 'docker-registry']);
    work = await tempDir('events');
    nats = await startNatsServer({ auth: natsAuth });
    nc = await connect({ servers: nats.url, user: natsAuth.user, pass: natsAuth.password });
    img = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ randomBytes: 50_000 }] });
  });

  after(async () => {
    for (const b of berths) await b.stop();
    for (const r of receivers) await r.close();
    await nc?.close();
    await nats?.stop();
    await cleanupTempDirs();
  });

  const receiver = async (opts?: Parameters<typeof startEventReceiver>[0]) => {
    const r = await startEventReceiver(opts);
    receivers.push(r);
    return r;
  };
  const berthWith = async (sinks: unknown[], extensions: Record<string, unknown> = {}) => {
    const b = await startBerth({ extensions: { events: { enable: true, sinks }, probe: { module: probe }, ...extensions } });
    berths.push(b);
    return b;
  };

  it('sends push, pull and delete to both sinks in order, with the CloudEvents attributes Zot sends', async () => {
    const http = await receiver();
    const { events: published, sub } = collect(nc, 'registry.events');
    const berth = await berthWith([
      {
        type: 'http', address: `${http.url}/hook`, timeout: '5s', channel: 'registry',
        credentials: { username: 'jane.joe', password: 'opensesame' }, headers: { 'X-Team': 'platform' },
      },
      { type: 'nats', address: nats.url, channel: 'registry.events', credentials: { username: natsAuth.user, password: natsAuth.password } },
    ]);
    const pushedAt = Date.now();
    await skopeoCopy(img.ref, `${berth.url}/team/app:v1`);
    await skopeoCopy(`${berth.url}/team/app:v1`, `dir:${join(work, 'pulled')}`);
    await skopeoDelete(`${berth.url}/team/app:v1`);

    // Two pulls: skopeo copy reads the manifest, and skopeo delete reads it too to find its digest.
    const expected = ['zotregistry.repository.created', 'zotregistry.image.updated', 'zotregistry.image.pulled', 'zotregistry.image.pulled', 'zotregistry.image.deleted'];
    await eventually(async () => http.received.length >= expected.length && published.length >= expected.length);
    assert.deepEqual(typesOf(http.received), expected);
    assert.deepEqual(published.map((e) => e.type), expected);

    // HTTP: binary mode, POSTed with the credentials, the configured headers and Zot's channel extension.
    for (const r of http.received) {
      assert.equal(r.method, 'POST');
      assert.equal(r.url, '/hook');
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal(r.headers['ce-specversion'], '1.0');
      assert.equal(r.headers['ce-source'], 'zotregistry.dev');
      assert.match(String(r.headers['ce-id']), UUID);
      assert.ok(Date.parse(String(r.headers['ce-time'])) >= pushedAt - 1000, 'ce-time is the time of the change');
      assert.equal(r.headers['ce-channel'], 'registry');
      assert.equal(r.headers.authorization, `Basic ${Buffer.from('jane.joe:opensesame').toString('base64')}`);
      assert.equal(r.headers['x-team'], 'platform');
    }
    assert.equal(new Set(http.received.map((r) => r.headers['ce-id'])).size, expected.length, 'every event has its own id');
    const [created, updated, pulled, pulledAgain, deleted] = http.received.map(bodyOf);
    assert.deepEqual(created, { name: 'team/app', request: created.request });
    assert.equal(updated.name, 'team/app');
    assert.equal(updated.reference, 'v1');
    assert.equal(updated.digest, img.descriptor.digest);
    assert.equal(updated.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(sha(String(updated.manifest)), img.descriptor.digest, 'the manifest as pushed');
    const request = updated.request as Record<string, string>;
    assert.equal(request.method, 'PUT');
    assert.match(request.addr, /^127\.0\.0\.1:\d+$/);
    assert.match(request.useragent, /skopeo|containers/i);
    assert.deepEqual(pulled, { name: 'team/app', reference: 'v1', digest: img.descriptor.digest });
    assert.deepEqual(pulledAgain, pulled);
    assert.equal(deleted.name, 'team/app');
    assert.equal(deleted.reference, 'v1');
    assert.equal(deleted.digest, img.descriptor.digest);
    assert.equal((deleted.request as Record<string, string>).method, 'DELETE');

    // NATS: the same events (same ids) in structured mode, published to the channel.
    published.forEach((e, i) => {
      assert.equal(e.id, http.received[i].headers['ce-id']);
      assert.equal(e.specversion, '1.0');
      assert.equal(e.source, 'zotregistry.dev');
      assert.equal(e.datacontenttype, 'application/json');
      assert.equal(e.time, http.received[i].headers['ce-time']);
      assert.deepEqual(e.data, bodyOf(http.received[i]));
    });
    sub.unsubscribe();
  });

  it('sends source and typePrefix when set, and a push by digest names the digest as reference', async () => {
    const http = await receiver();
    const b = await startBerth({
      extensions: { events: { enable: true, source: 'berth.example', typePrefix: 'example.registry', sinks: [{ type: 'http', address: http.url }] } },
    });
    berths.push(b);
    await skopeoCopy(img.ref, `${b.url}/solo@${img.descriptor.digest}`, { extraArgs: ['--preserve-digests'] });
    await eventually(async () => http.received.length >= 2);
    assert.deepEqual(typesOf(http.received), ['example.registry.repository.created', 'example.registry.image.updated']);
    assert.ok(http.received.every((r) => r.headers['ce-source'] === 'berth.example'));
    assert.equal(bodyOf(http.received[1]).reference, img.descriptor.digest);
  });

  it('sends one event per image a periodic sync copied or failed to copy', async () => {
    const up: DockerRegistry = await startDockerRegistry();
    try {
      await skopeoCopy(img.ref, `${up.url}/lib/app:good`);
      const broken = await buildOciImage(join(work, 'broken'), { tag: 'v1', layers: [{ randomBytes: 30_000 }] });
      await skopeoCopy(broken.ref, `${up.url}/lib/app:zbroken`);
      // The upstream loses the broken image's layer: its manifest still lists it, the blob answers 404.
      const manifest = JSON.parse(await readFile(join(broken.layoutDir, 'blobs/sha256', broken.descriptor.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string }> };
      const layer = manifest.layers[0].digest.slice('sha256:'.length);
      await rm(join(up.root, 'docker/registry/v2/blobs/sha256', layer.slice(0, 2), layer), { recursive: true });

      const http = await receiver();
      await berthWith([{ type: 'http', address: http.url }], {
        sync: { registries: [{ urls: [up.url], onDemand: false, pollInterval: '1h', reqConcurrent: 1, content: [{ prefix: 'lib/app', destination: '/mirror' }] }] },
      });
      await eventually(async () => http.received.some((r) => r.headers['ce-type'] === 'zotregistry.image.sync_failed'));
      const sync = http.received.filter((r) => /image\.sync/.test(String(r.headers['ce-type'])));
      assert.deepEqual(typesOf(sync), ['zotregistry.image.synced', 'zotregistry.image.sync_failed']);
      assert.deepEqual(bodyOf(sync[0]), { name: 'mirror/lib/app', reference: 'good', upstream: up.host, upstreamName: 'lib/app', digest: img.descriptor.digest });
      const failed = bodyOf(sync[1]);
      assert.equal(failed.name, 'mirror/lib/app');
      assert.equal(failed.reference, 'zbroken');
      assert.match(String(failed.error), /404/);
      // The synced image's own events came first, written by sync through the same manifest path.
      const types = typesOf(http.received);
      assert.ok(types.indexOf('zotregistry.repository.created') < types.indexOf('zotregistry.image.updated'));
      assert.ok(types.indexOf('zotregistry.image.updated') < types.indexOf('zotregistry.image.synced'));
      assert.equal(bodyOf(http.received[types.indexOf('zotregistry.image.updated')]).request, undefined, 'sync writes carry no request');
    } finally {
      await up.stop();
    }
  });

  it('a dead or hung sink does not hold pushes back; its failures show in berth_events_* metrics', async () => {
    const hung = await receiver({ hold: true });
    const good = await receiver();
    const refused = `http://127.0.0.1:${await freePort()}/nobody`;
    const berth = await berthWith([
      { type: 'http', address: refused, timeout: '1s' },
      { type: 'http', address: hung.url, timeout: '1s' },
      { type: 'nats', address: `nats://127.0.0.1:${await freePort()}`, channel: 'nowhere', timeout: '1s' },
      { type: 'http', address: good.url },
    ]);
    for (const tag of ['a', 'b', 'c']) await skopeoCopy(img.ref, `${berth.url}/busy/app:${tag}`);
    // Every push was answered while the hung receiver had not answered a single event.
    assert.equal(hung.answered, 0);
    assert.ok(hung.received.length <= 1, 'one event at a time goes to a sink');
    await eventually(async () => good.received.length >= 4);
    assert.deepEqual(typesOf(good.received), ['zotregistry.repository.created', ...Array(3).fill('zotregistry.image.updated')]);
    await eventually(async () => (await series(berth, 'berth_events_failed_total', { sink: 'http[0]' })) >= 1, 60_000);
    assert.ok((await series(berth, 'berth_events_retries_total', { sink: 'http[0]' })) >= 3, 'failed deliveries were retried');
    await eventually(async () => (await series(berth, 'berth_events_failed_total', { sink: 'http[1]' })) >= 1, 60_000);
    await eventually(async () => (await series(berth, 'berth_events_failed_total', { sink: 'nats[2]' })) >= 1, 60_000);
    assert.equal(await series(berth, 'berth_events_failed_total', { sink: 'http[3]' }), 0);
    assert.equal(await series(berth, 'berth_events_delivered_total', { sink: 'http[3]', type: 'zotregistry.image.updated' }), 3);
  });

  it('retries a receiver that answers 503, and delivers what is queued when berth stops', async () => {
    const flaky = await receiver({ status: (n) => (n === 0 ? 503 : 200), delayMs: 100 });
    const b = await startBerth({ extensions: { events: { enable: true, sinks: [{ type: 'http', address: flaky.url }] } } });
    await skopeoCopy(img.ref, `${b.url}/flush/app:v1`);
    await skopeoCopy(img.ref, `${b.url}/flush/app:v2`);
    await b.stop();
    // The first attempt was refused and repeated; nothing was lost by the stop.
    assert.deepEqual(typesOf(flaky.received), [
      'zotregistry.repository.created', 'zotregistry.repository.created', 'zotregistry.image.updated', 'zotregistry.image.updated',
    ]);
    assert.equal(flaky.received[0].headers['ce-id'], flaky.received[1].headers['ce-id'], 'a retry sends the same event');
  });

  it('refuses a sink config it cannot run, naming the key', async () => {
    const start = (sink: Record<string, unknown>) => startBerth({ extensions: { events: { enable: true, sinks: [sink] } } });
    await assert.rejects(start({ type: 'kafka', address: 'x' }), /extensions\.events\.sinks\[0\]\.type/);
    await assert.rejects(start({ type: 'nats', address: nats.url }), /extensions\.events\.sinks\[0\]\.channel/);
    await assert.rejects(start({ type: 'http', address: 'localhost:8080' }), /extensions\.events\.sinks\[0\]\.address/);
    await assert.rejects(start({ type: 'http', address: 'http://x', tlsConfig: { cacertFile: join(work, 'missing.pem') } }),
      /extensions\.events\.sinks\[0\]\.tlsConfig\.cacertFile: cannot read/);
  });
});
