// An upstream's `Link: rel="next"` is followed on the upstream only: a Link naming another host never receives
// the upstream credentials (periodic sync follows these for `_catalog` and tag lists).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { UpstreamClient } from '../../extensions/sync/upstream-client';

function serve(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    resolve({ url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) });
  }));
}

describe('sync: Link headers stay on the upstream', () => {
  const servers: Array<{ close(): Promise<void> }> = [];
  after(async () => { for (const s of servers) await s.close(); });

  it('refuses a next page on another origin, and sends it no credentials', async () => {
    const seen: Array<string | undefined> = [];
    const other = await serve((req, res) => { seen.push(req.headers.authorization); res.end('{"repositories":[]}'); });
    const up = await serve((req, res) => {
      if (!req.headers.authorization) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="up"' });
        return res.end();
      }
      res.setHeader('link', req.url === '/v2/_catalog?n=2' ? `<${other.url}/v2/_catalog?n=2&last=a>; rel="next"` : '');
      res.end('{"repositories":["a"]}');
    });
    servers.push(other, up);
    const client = new UpstreamClient({ urls: [up.url], tlsVerify: true, credentials: { username: 'alice', password: 's3cret' }, maxIdleConnsPerHost: 2, logger: pino({ level: 'silent' }) });
    try {
      const first = await client.request('GET', '/v2/_catalog?n=2');
      first.resume();
      assert.equal(first.statusCode, 200);
      const next = /<([^>]+)>/.exec(String(first.headers.link))![1]!;
      await assert.rejects(client.request('GET', next), /not the upstream's origin/);
      assert.deepEqual(seen, [], 'the other host was never asked');
      // A same-origin absolute Link is followed as before.
      const same = await client.request('GET', `${up.url}/v2/_catalog?n=2&last=a`);
      same.resume();
      assert.equal(same.statusCode, 200);
    } finally {
      client.close();
    }
  });
});
