// A real HTTP receiver for CloudEvents sinks: records every request; can answer with chosen statuses or hold.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface EventReceiver {
  /** `http://127.0.0.1:<port>` (`https://` with `tls`) */
  url: string;
  readonly received: ReceivedRequest[];
  /** Requests answered so far. */
  readonly answered: number;
  close(): Promise<void>;
}

export interface ReceiverOptions {
  /** The status for the n-th request (0-based); default 200. */
  status?: (n: number) => number;
  /** Never answer: requests stay open until the client gives up (a hung receiver). */
  hold?: boolean;
  /** Wait this long before answering each request. */
  delayMs?: number;
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { cert: string; key: string };
}

export async function startEventReceiver(opts: ReceiverOptions = {}): Promise<EventReceiver> {
  const received: ReceivedRequest[] = [];
  const held: ServerResponse[] = [];
  let answered = 0;
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = received.length;
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      if (opts.hold) return void held.push(res);
      const answer = () => {
        answered++;
        res.statusCode = opts.status?.(n) ?? 200;
        res.end();
      };
      if (opts.delayMs) setTimeout(answer, opts.delayMs);
      else answer();
    });
  };
  const server = opts.tls ? createTlsServer({ cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) }, handle) : createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    received,
    get answered() {
      return answered;
    },
    close: () => new Promise<void>((resolve) => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
