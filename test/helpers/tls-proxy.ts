// An HTTPS proxy on loopback in front of a plain-HTTP test server, with a certificate from its own CA (for
// AWS_CA_BUNDLE tests): records each request's headers, so a test sees what the client signed with.
import { request, type IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { makeCa, makeCert } from './certs';
import { tempDir } from './tools';

export interface TlsProxy {
  /** `https://127.0.0.1:<port>` */
  endpoint: string;
  /** The CA certificate file that vouches for the proxy. */
  caFile: string;
  /** Headers of every request, in order. */
  seen: IncomingHttpHeaders[];
  close(): Promise<void>;
}

export async function startTlsProxy(targetPort: number): Promise<TlsProxy> {
  const dir = await tempDir('tls-proxy');
  const ca = await makeCa(dir, 'ca');
  const cert = await makeCert(dir, ca, 'proxy', '/CN=127.0.0.1', { san: 'IP:127.0.0.1', server: true });
  const seen: IncomingHttpHeaders[] = [];
  const proxy = createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (req, res) => {
    seen.push(req.headers);
    const up = request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `https://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    caFile: ca.cert,
    seen,
    close: async () => {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    },
  };
}
