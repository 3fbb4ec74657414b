// The S3 driver's sendTo (blob GETs) reads GetObject bodies into reused buffers over its own connections
// (raw-get.ts): it keeps them alive between GETs, retries on a fresh one when S3 closed an idle one, gives up
// after `responsetimeout` of silence, leaves a connection whose client went away, and reads a server that
// answers without Content-Length the SDK's way instead.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { startS3Server, type S3Server } from '../../test/helpers/s3-server';
import { startStallProxy, type StallProxy } from '../../test/helpers/stall-proxy';
import type { StorageDriver } from '../../core/extensions/api';
import { parseS3Options } from './options';
import { createS3Driver } from './s3-driver';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A destination that takes each write after `delayMs`, as a slow client does, and keeps what it got. */
function slowSink(delayMs = 1): { sink: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _enc, done) {
      chunks.push(Buffer.from(chunk)); // copied: the driver reuses its buffers once a write is done
      setTimeout(done, delayMs);
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

describe('sendTo over an S3-compatible server with its own habits', () => {
  let server: Server;
  let url: string;
  const objects = new Map<string, Buffer>([['/b/chunked/x', randomBytes(300_000)], ['/b/plain/x', randomBytes(200_000)]]);
  const connections: Socket[] = [];

  before(async () => {
    server = createServer((req, res) => {
      const body = objects.get(req.url!.split('?')[0]!);
      if (!body) {
        res.writeHead(404, { 'content-type': 'application/xml' });
        return res.end('<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>');
      }
      if (req.url!.startsWith('/b/chunked/')) {
        res.writeHead(200); // no Content-Length: node:http sends it chunked
        res.write(body.subarray(0, 1000));
        return res.end(body.subarray(1000));
      }
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    });
    server.on('connection', (s: Socket) => connections.push(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const driverFor = () => createS3Driver(parseS3Options({ bucket: 'b', region: 'us-east-1', regionendpoint: url, forcepathstyle: true, accesskey: 'k', secretkey: 's' }));

  it('a body without Content-Length is read the SDK\'s way, then and from then on', async () => {
    const driver = driverFor();
    try {
      for (let i = 0; i < 2; i++) {
        const sink = slowSink(0);
        assert.equal(await driver.sendTo!('chunked/x', sink.sink), objects.get('/b/chunked/x')!.length);
        assert.ok(sink.bytes().equals(objects.get('/b/chunked/x')!));
      }
    } finally {
      await driver.close?.();
    }
  });

  it('a kept-alive connection the server closed is replaced without the caller seeing it', async () => {
    const driver = driverFor();
    try {
      const first = slowSink(0);
      await driver.sendTo!('plain/x', first.sink);
      const before = connections.length;
      for (const s of connections) s.destroy(); // the server drops its idle connections
      await new Promise((resolve) => setTimeout(resolve, 50));
      const second = slowSink(0);
      assert.equal(await driver.sendTo!('plain/x', second.sink), objects.get('/b/plain/x')!.length);
      assert.ok(second.bytes().equals(objects.get('/b/plain/x')!));
      assert.equal(connections.length, before + 1, 'one new connection');
      await assert.rejects(driver.sendTo!('missing/x', slowSink().sink), (err: { code?: string }) => err.code === 'ENOENT');
    } finally {
      await driver.close?.();
    }
  });
});
