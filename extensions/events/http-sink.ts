import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { binaryHeaders, type CloudEvent } from './cloud-event';
import type { SinkConfig } from './schema';
import { DeliveryError, type Sink } from './sink';
import type { TlsFiles } from './tls-files';

/** Statuses worth another attempt: the receiver is overloaded or down for now. */
const RETRYABLE = (status: number) => status === 408 || status === 429 || status >= 500;

/**
 * Zot's HTTP sink: a POST per event in CloudEvents binary mode, with `Authorization` from `credentials`
 * (basic when a username is set, else bearer with the token), then the configured `headers`, and Zot's
 * `channel` as the `ce-channel` extension header. A 2xx answer is a delivery.
 */
export function createHttpSink(label: string, config: SinkConfig, tlsOptions: TlsFiles): Sink {
  const target = new URL(config.address);
  const secure = target.protocol === 'https:';
  const { username, password, token } = config.credentials;
  const authorization = username
    ? `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}`
    : token ? `Bearer ${token}` : undefined;
  const extensions: Record<string, string> = config.channel ? { channel: config.channel } : {};
  const agent = secure ? new https.Agent({ keepAlive: true, ...tlsOptions }) : new http.Agent({ keepAlive: true });
  const proxy = config.proxy ? new URL(config.proxy) : undefined;

  return {
    label,
    send(event: CloudEvent, signal: AbortSignal): Promise<void> {
      const headers: Record<string, string | number> = {
        ...binaryHeaders(event, extensions),
        ...(authorization ? { authorization } : {}),
        ...config.headers,
        'content-length': event.data.length,
      };
      return new Promise<void>((resolve, reject) => {
        const fail = (err: Error) => reject(err instanceof DeliveryError ? err : new DeliveryError(err.message, true));
        const answer = (res: http.IncomingMessage) => {
          res.resume();
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) res.once('end', () => resolve()).once('error', fail);
          else fail(new DeliveryError(`receiver answered ${status}`, RETRYABLE(status)));
        };
        const post = (options: http.RequestOptions, extra: Record<string, string> = {}) => {
          const req = (secure ? https : http).request(target, { ...options, method: 'POST', headers: { ...headers, ...extra }, signal }, answer);
          req.once('error', fail);
          req.end(event.data);
        };
        if (!proxy) return post({ agent });
        // Through a forward proxy: plain HTTP goes to the proxy with the absolute URL as its path; HTTPS
        // runs TLS to the receiver over a CONNECT tunnel.
        if (!secure) return post({ hostname: proxy.hostname, port: proxy.port || 80, path: target.href, agent: false }, { host: target.host, ...proxyAuthorization(proxy) });
        tunnel(proxy, target, signal).then((socket) => {
          // No agent: Node uses createConnection only for a request without one.
          const servername = isIP(target.hostname) ? undefined : target.hostname; // SNI takes names, not addresses
          post({ createConnection: () => tls.connect({ socket, host: target.hostname, servername, ...tlsOptions }) });
        }, fail);
      });
    },
    async close() {
      agent.destroy();
    },
  };
}

/** A CONNECT tunnel through the proxy to the receiver. */
function tunnel(proxy: URL, target: URL, signal: AbortSignal): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const authority = `${target.hostname}:${target.port || 443}`;
    const req = http.request({ hostname: proxy.hostname, port: proxy.port || 80, method: 'CONNECT', path: authority, headers: { host: authority, ...proxyAuthorization(proxy) }, signal, agent: false });
    req.once('connect', (res, socket) => {
      if (res.statusCode === 200) return resolve(socket);
      socket.destroy();
      reject(new DeliveryError(`proxy answered ${res.statusCode} to CONNECT`, true));
    });
    req.once('error', (err) => reject(new DeliveryError(err.message, true)));
    req.end();
  });
}

function proxyAuthorization(proxy: URL): Record<string, string> {
  if (!proxy.username) return {};
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return { 'proxy-authorization': `Basic ${Buffer.from(credentials).toString('base64')}` };
}
