// One sink's delivery queue against a real HTTP receiver: bounded (a full queue drops and counts), flushed
// within a bound on close; the HTTP sink over TLS and through a forward proxy; the events made of scrub results.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect as netConnect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { EventBus } from '../../core/extensions/events';
import { createCloudEvent } from '../../extensions/events/cloud-event';
import { DeliveryQueue } from '../../extensions/events/delivery-queue';
import { EventsMetrics } from '../../extensions/events/events-metrics';
import { createHttpSink } from '../../extensions/events/http-sink';
import { followRegistryEvents } from '../../extensions/events/registry-events';
import { eventsSchema } from '../../extensions/events/schema';
import { readTlsFiles } from '../../extensions/events/tls-files';
import { makeCa, makeCert } from '../helpers/certs';
import { eventually } from '../helpers/eventually';
import { startEventReceiver, type EventReceiver } from '../helpers/event-receiver';
import { tempDir } from '../helpers/tools';

const logger = pino({ level: 'silent' });
const limits = { maxEvents: 2, maxBytes: 1 << 20, attempts: 1, firstBackoffMs: 10, maxBackoffMs: 10, timeoutMs: 60_000 };
const sinkConfig = (address: string) => eventsSchema.parse({ enable: true, sinks: [{ type: 'http', address }] }).sinks[0];
const count = async (registry: Registry, name: string, labels: Record<string, string>) =>
  (await registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;

describe('events: delivery queue', () => {
  const receivers: EventReceiver[] = [];
  after(async () => {
    for (const r of receivers) await r.close();
  });

  it('drops and counts events past its bound while the sink hangs, and counts what shutdown left undelivered', async () => {
    const hung = await startEventReceiver({ hold: true });
    receivers.push(hung);
    const registry = new Registry();
    const queue = new DeliveryQueue(createHttpSink('http[0]', sinkConfig(hung.url), {}), limits, new EventsMetrics(registry), logger);
    for (let i = 0; i < 5; i++) queue.push(createCloudEvent('zotregistry.image.updated', 'zotregistry.dev', { n: i }));
    await eventually(async () => hung.received.length === 1);
    // One in flight and one waiting fill the bound of two: the other three were dropped at once.
    assert.equal(await count(registry, 'berth_events_dropped_total', { sink: 'http[0]', reason: 'queue_full' }), 3);
    assert.equal(await count(registry, 'berth_events_queued', { sink: 'http[0]' }), 2);
    await queue.close(200);
    assert.equal(await count(registry, 'berth_events_dropped_total', { sink: 'http[0]', reason: 'shutdown' }), 2);
    queue.push(createCloudEvent('zotregistry.image.updated', 'zotregistry.dev', {}));
    assert.equal(await count(registry, 'berth_events_dropped_total', { sink: 'http[0]', reason: 'shutdown' }), 3);
  });

  it('does not retry an answer that will not change (4xx), and counts it failed', async () => {
    const refusing = await startEventReceiver({ status: () => 400 });
    receivers.push(refusing);
    const registry = new Registry();
    const queue = new DeliveryQueue(createHttpSink('http[0]', sinkConfig(refusing.url), {}), { ...limits, attempts: 4 }, new EventsMetrics(registry), logger);
    queue.push(createCloudEvent('zotregistry.image.deleted', 'zotregistry.dev', {}));
    await eventually(async () => (await count(registry, 'berth_events_failed_total', { sink: 'http[0]', type: 'zotregistry.image.deleted' })) === 1);
    await queue.close(1_000);
    assert.equal(refusing.received.length, 1);
    assert.equal(await count(registry, 'berth_events_retries_total', { sink: 'http[0]' }), 0);
  });

  it('makes image.scrubbed events of scrub results, with the affected blob', async () => {
    const bus = new EventBus(logger);
    const published: Array<[string, Record<string, unknown>]> = [];
    followRegistryEvents(bus, (type, data) => published.push([type, data]));
    bus.emit('scrub.result', { repo: 'team/app', digest: 'sha256:aa', reference: 'v1', status: 'affected', blob: 'sha256:bb' });
    bus.emit('scrub.result', { repo: 'team/app', digest: 'sha256:cc', status: 'ok' });
    await eventually(async () => published.length === 2);
    assert.deepEqual(published, [
      ['image.scrubbed', { name: 'team/app', reference: 'v1', digest: 'sha256:aa', status: 'affected', blob: 'sha256:bb' }],
      ['image.scrubbed', { name: 'team/app', digest: 'sha256:cc', status: 'ok' }],
    ]);
  });
});

describe('events: HTTP sink transport', () => {
  const closers: Array<() => Promise<void>> = [];
  after(async () => {
    for (const close of closers) await close();
  });
  const event = () => createCloudEvent('zotregistry.image.updated', 'zotregistry.dev', { name: 'x' });
  const send = (sink: ReturnType<typeof createHttpSink>) => sink.send(event(), AbortSignal.timeout(10_000));

  it('speaks HTTPS trusting tlsConfig.cacertFile, and refuses a receiver that CA did not sign', async () => {
    const dir = await tempDir('events-tls');
    const ca = await makeCa(dir, 'ca');
    const server = await makeCert(dir, ca, 'receiver', '/CN=127.0.0.1', { san: 'IP:127.0.0.1', server: true });
    const secure = await startEventReceiver({ tls: server });
    closers.push(() => secure.close());
    const config = eventsSchema.parse({ enable: true, sinks: [{ type: 'http', address: `${secure.url}/hook`, tlsConfig: { cacertFile: ca.cert } }] }).sinks[0];
    await send(createHttpSink('http[0]', config, readTlsFiles(config, 'sinks[0]')));
    assert.equal(secure.received.length, 1);
    assert.equal(secure.received[0].headers['ce-type'], 'zotregistry.image.updated');
    await assert.rejects(send(createHttpSink('http[0]', config, {})), /self.signed|unable to verify|certificate/i);
  });

  it('goes through an http:// proxy: absolute-URI requests for http://, a CONNECT tunnel for https://', async () => {
    const dir = await tempDir('events-proxy');
    const ca = await makeCa(dir, 'ca');
    const secure = await startEventReceiver({ tls: await makeCert(dir, ca, 'receiver', '/CN=127.0.0.1', { san: 'IP:127.0.0.1', server: true }) });
    closers.push(() => secure.close());
    // The proxy: records what it is asked, forwards CONNECT tunnels, and answers plain requests itself.
    const asked: string[] = [];
    const proxy = createServer((req, res) => {
      asked.push(`${req.method} ${req.url} ${req.headers['proxy-authorization'] ?? ''}`);
      req.resume().on('end', () => res.end());
    });
    const tunnels: Duplex[] = [];
    proxy.on('connect', (req, client: Duplex) => {
      tunnels.push(client);
      asked.push(`CONNECT ${req.url} ${req.headers['proxy-authorization'] ?? ''}`);
      const [host, port] = String(req.url).split(':');
      const upstream = netConnect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.pipe(client).pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => {
      for (const t of tunnels) t.destroy();
      proxy.closeAllConnections();
      proxy.close(() => r());
    }));
    const proxyUrl = `http://pxuser:pxpass@127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const basic = `Basic ${Buffer.from('pxuser:pxpass').toString('base64')}`;

    const plain = eventsSchema.parse({ enable: true, sinks: [{ type: 'http', address: 'http://events.invalid/hook', proxy: proxyUrl }] }).sinks[0];
    await send(createHttpSink('http[0]', plain, {}));
    const tls = eventsSchema.parse({ enable: true, sinks: [{ type: 'http', address: `${secure.url}/hook`, proxy: proxyUrl, tlsConfig: { cacertFile: ca.cert } }] }).sinks[0];
    await send(createHttpSink('http[1]', tls, readTlsFiles(tls, 'sinks[1]')));
    assert.deepEqual(asked, [`POST http://events.invalid/hook ${basic}`, `CONNECT ${new URL(secure.url).host} ${basic}`]);
    assert.equal(secure.received.length, 1, 'the event went through the tunnel to the receiver');
  });
});
