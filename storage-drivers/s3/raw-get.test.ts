// The S3 driver's sendTo (blob GETs) reads GetObject bodies into reused buffers over its own connections
// (raw-get.ts, raw-connection.ts): it keeps them alive between GETs, gives up after `responsetimeout` of S3's
// silence but waits for a slow client, leaves a connection whose client went away, reads HTTP/1.1 answers as a
// client must (interim 1xx, a connection closed after the body, bytes beyond Content-Length, chunked errors),
// and reads a server that answers without Content-Length the SDK's way instead.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { startS3Server, type S3Server } from '../../test/helpers/s3-server';
import { startStallProxy, type StallProxy } from '../../test/helpers/stall-proxy';
import { makeCa, makeCert } from '../../test/helpers/certs';
import { cleanupTempDirs, tempDir } from '../../test/helpers/tools';
import type { StorageDriver } from '../../core/extensions/api';
import { parseS3Options } from './options';
import { createS3Driver } from './s3-driver';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * A destination that takes each write after `delayMs` (once, `stallMs` after `stallAfter` bytes), as a slow
 * client does, and keeps what it got. A write's bytes are copied only as it is acknowledged: a buffer the driver
 * reused before that would show.
 */
function slowSink(delayMs = 1, stall?: { after: number; ms: number }): { sink: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  let got = 0;
  let stalled = false;
  const sink = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, done) {
      got += chunk.length;
      const wait = stall && !stalled && got > stall.after ? ((stalled = true), stall.ms) : delayMs;
      setTimeout(() => {
        chunks.push(Buffer.from(chunk));
        done();
      }, wait);
    },
  });
  return { sink, bytes: () => Buffer.concat(chunks) };
}

describe('sendTo over S3 (fauxqs behind a TCP proxy that counts connections)', () => {
  let s3: S3Server;
  let proxy: StallProxy;
  let driver: StorageDriver;
  const object = randomBytes(5 * MiB + 123);

  before(async () => {
    s3 = await startS3Server('fauxqs');
    await s3.createBucket('raw');
    proxy = await startStallProxy(s3.port);
    driver = createS3Driver(parseS3Options(s3.driverParams('raw', { regionendpoint: proxy.endpoint, responsetimeout: '1s', connecttimeout: '1s' })));
    await driver.putContent('blobs/one', object);
  });

  after(async () => {
    await driver?.close?.();
    await proxy?.close();
    await s3?.stop();
  });

  it('writes the object and ranges of it unchanged into a slow destination, over one kept-alive connection', async () => {
    const whole = slowSink();
    assert.equal(await driver.sendTo!('blobs/one', whole.sink), object.length);
    assert.equal(sha(whole.bytes()), sha(object));
    const accepted = proxy.accepted;
    for (const [start, end] of [[0, 0], [1000, 3 * MiB], [object.length - 10, object.length - 1]] as const) {
      const part = slowSink(0);
      assert.equal(await driver.sendTo!('blobs/one', part.sink, { start, end }), end - start + 1);
      assert.ok(part.bytes().equals(object.subarray(start, end + 1)), `bytes ${start}-${end}`);
    }
    assert.equal(proxy.accepted, accepted, 'the three GETs reused the first one\'s connection');
  });

  it('serves 8 concurrent GETs each unchanged, one connection each, kept for the next 8', async () => {
    const run = () => Promise.all(Array.from({ length: 8 }, async (_, i) => {
      const sink = slowSink(i % 3);
      assert.equal(await driver.sendTo!('blobs/one', sink.sink, { start: i * 1000, end: object.length - 1 }), object.length - i * 1000);
      assert.equal(sha(sink.bytes()), sha(object.subarray(i * 1000)), `GET ${i}`);
    }));
    const before = proxy.accepted;
    await run();
    assert.ok(proxy.accepted - before <= 8, `${proxy.accepted - before} new connections`);
    const kept = proxy.accepted;
    await run();
    assert.equal(proxy.accepted, kept, 'the second 8 reused the first 8\'s connections');
  });

  it('rejects with ENOENT for a missing object before writing anything', async () => {
    const sink = slowSink();
    await assert.rejects(driver.sendTo!('blobs/missing', sink.sink), (err: { code?: string }) => err.code === 'ENOENT');
    assert.equal(sink.bytes().length, 0);
  });

  it('rejects when the destination closes midway, and the next GET gets all its bytes', async () => {
    let got = 0;
    const quitter = new Writable({
      write(chunk: Buffer, _enc, done) {
        got += chunk.length;
        if (got > MiB) quitter.destroy();
        else setTimeout(done, 1);
      },
    });
    await assert.rejects(driver.sendTo!('blobs/one', quitter));
    const whole = slowSink(0);
    assert.equal(await driver.sendTo!('blobs/one', whole.sink), object.length);
    assert.equal(sha(whole.bytes()), sha(object));
  });

  it('waits for a client slower than responsetimeout (only S3\'s silence is timed)', async () => {
    const slow = slowSink(0, { after: MiB, ms: 2_500 });
    assert.equal(await driver.sendTo!('blobs/one', slow.sink), object.length);
    assert.equal(sha(slow.bytes()), sha(object));
  });

  it('gives up on an endpoint that stops answering (503 UNAVAILABLE after responsetimeout), then works again', async () => {
    proxy.stall(true);
    const started = Date.now();
    try {
      await assert.rejects(driver.sendTo!('blobs/one', slowSink().sink), (err: { code?: string; status?: number }) => err.code === 'UNAVAILABLE' && err.status === 503);
    } finally {
      proxy.stall(false);
    }
    const ms = Date.now() - started;
    assert.ok(ms >= 1000 && ms < 10_000, `gave up after ${ms} ms`);
    const whole = slowSink(0);
    assert.equal(await driver.sendTo!('blobs/one', whole.sink), object.length);
    assert.equal(sha(whole.bytes()), sha(object));
  });
});


/**
 * An S3-compatible endpoint over TLS whose answers are written byte by byte: each path is a script that gets
 * the socket. Counts connections.
 */
describe('sendTo over TLS to a server with its own habits', () => {
  let server: TlsServer;
  let endpoint: string;
  let caFile: string;
  let connections = 0;
  const body = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) % 251));
  const xml = (code: string) => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>m</Message></Error>`;
  const ok = (b: Buffer, extra = '') => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\n${extra}\r\n`), b]);
  const scripts: Record<string, (s: TLSSocket) => void> = {
    '/b/small/x': (s) => s.write(ok(body(3000, 1))),
    '/b/close-small/x': (s) => s.end(ok(body(3000, 2), 'Connection: close\r\n')),
    '/b/close-large/x': (s) => s.end(ok(body(40_000, 3), 'Connection: close\r\n')),
    '/b/empty/x': (s) => s.write(ok(Buffer.alloc(0))),
    '/b/continue/x': (s) => s.write(Buffer.concat([Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'), ok(body(5000, 4))])),
    '/b/twice-length/x': (s) => s.write(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n'), body(4, 5)])),
    '/b/extra/x': (s) => s.write(Buffer.concat([ok(body(10, 6)), Buffer.from('garbage after the body')])),
    '/b/missing/x': (s) => {
      const x = xml('NoSuchKey');
      s.write(`HTTP/1.1 404 Not Found\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\n\r\n${x.length.toString(16)};ext=1\r\n${x}\r\n0\r\nX-Trailer: t\r\n\r\n`);
    },
    '/b/stall/x': (s) => s.write(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n'), body(30_000, 7)])),
    '/b/chunked/x': (s) => {
      const b = body(70_000, 8);
      s.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${b.length.toString(16)}\r\n`);
      s.write(b);
      s.write('\r\n0\r\n\r\n');
    },
  };
  const expected: Record<string, Buffer> = {
    small: body(3000, 1), 'close-small': body(3000, 2), 'close-large': body(40_000, 3), empty: Buffer.alloc(0),
    continue: body(5000, 4), 'twice-length': body(4, 5), extra: body(10, 6), chunked: body(70_000, 8),
  };

  before(async () => {
    const dir = await tempDir('raw-get-tls');
    const ca = await makeCa(dir, 'ca');
    const cert = await makeCert(dir, ca, 's3', '/CN=127.0.0.1', { san: 'IP:127.0.0.1', server: true });
    caFile = ca.cert;
    server = createTlsServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (socket) => {
      connections++;
      let pending = '';
      socket.on('data', (chunk: Buffer) => {
        pending += chunk.toString('latin1');
        for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
          const [method, target] = pending.slice(0, end).split(' ');
          pending = pending.slice(end + 4);
          const script = scripts[target!.split('?')[0]!];
          if (method === 'GET' && script) script(socket);
          else socket.write(`HTTP/1.1 404 Not Found\r\nContent-Length: ${xml('NoSuchKey').length}\r\n\r\n${xml('NoSuchKey')}`);
        }
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await cleanupTempDirs();
  });

  const withDriver = async (fn: (d: StorageDriver) => Promise<void>) => {
    const params = { bucket: 'b', region: 'us-east-1', regionendpoint: endpoint, forcepathstyle: true, accesskey: 'k', secretkey: 's', responsetimeout: '1s' };
    const driver = createS3Driver(parseS3Options(params, { AWS_CA_BUNDLE: caFile }));
    try {
      await fn(driver);
    } finally {
      await driver.close?.();
    }
  };
  const get = async (d: StorageDriver, name: string) => {
    const sink = slowSink(0);
    const n = await d.sendTo!(`${name}/x`, sink.sink);
    assert.equal(n, sink.bytes().length, `${name}: the count is what was written`);
    return sink.bytes();
  };

  it('reads small and large bodies the server closes the connection right after, and empty ones', () =>
    withDriver(async (d) => {
      for (const name of ['close-small', 'close-large', 'empty', 'small', 'close-small']) assert.ok((await get(d, name)).equals(expected[name]!), name);
    }));

  it('keeps a connection for the next GET after a complete body, an empty one and an error, not after bytes beyond Content-Length', () =>
    withDriver(async (d) => {
      await get(d, 'small');
      const first = connections;
      await get(d, 'empty');
      await assert.rejects(d.sendTo!('missing/x', slowSink().sink), (err: { code?: string }) => err.code === 'ENOENT');
      await get(d, 'small');
      assert.equal(connections, first, 'one connection for all four');
      assert.ok((await get(d, 'extra')).equals(expected.extra!), 'exactly Content-Length bytes');
      await get(d, 'small');
      assert.equal(connections, first + 1, 'a new connection after the one out of step');
    }));

  it('skips interim 1xx answers and takes a repeated Content-Length', () =>
    withDriver(async (d) => {
      assert.ok((await get(d, 'continue')).equals(expected.continue!));
      assert.ok((await get(d, 'twice-length')).equals(expected['twice-length']!));
    }));

  it('a chunked error body with extensions and trailers is read to its end: ENOENT at once, not after a timeout', () =>
    withDriver(async (d) => {
      const started = Date.now();
      await assert.rejects(d.sendTo!('missing/x', slowSink().sink), (err: { code?: string }) => err.code === 'ENOENT');
      assert.ok(Date.now() - started < 900, `${Date.now() - started} ms`);
    }));

  it('a body that stops midway fails with 503 UNAVAILABLE after responsetimeout', () =>
    withDriver(async (d) => {
      const started = Date.now();
      const sink = slowSink(0);
      await assert.rejects(d.sendTo!('stall/x', sink.sink), (err: { code?: string; status?: number }) => err.code === 'UNAVAILABLE' && err.status === 503);
      const ms = Date.now() - started;
      assert.ok(ms >= 1000 && ms < 5000, `${ms} ms`);
      assert.ok(sink.bytes().length < 100_000);
    }));

  it('a body without Content-Length (chunked) is read the SDK\'s way, then and from then on', () =>
    withDriver(async (d) => {
      for (let i = 0; i < 2; i++) assert.ok((await get(d, 'chunked')).equals(expected.chunked!));
      assert.ok((await get(d, 'small')).equals(expected.small!), 'other objects too');
    }));
});
