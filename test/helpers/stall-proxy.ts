// A TCP proxy on loopback in front of a test server that can be told to stall: while stalled it still
// accepts connections and reads what clients send, but forwards nothing and answers nothing (a server whose
// process hangs, or a load balancer whose backend went away without closing anything).
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface StallProxy {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** true: swallow every byte from now on, on old and new connections; false: forward again. */
  stall(on: boolean): void;
  close(): Promise<void>;
}

export async function startStallProxy(targetPort: number): Promise<StallProxy> {
  let stalled = false;
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    accepted++;
    sockets.add(client);
    let upstream: Socket | undefined;
    // Connected on the first byte forwarded: a connection accepted while stalled never reaches the server.
    const open = () => {
      if (upstream) return upstream;
      upstream = connect(targetPort, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('data', (chunk) => {
        if (!stalled) client.write(chunk);
      });
      upstream.on('close', () => client.destroy());
      upstream.on('error', () => client.destroy());
      return upstream;
    };
    client.on('data', (chunk) => {
      if (!stalled) open().write(chunk);
    });
    const done = () => {
      sockets.delete(client);
      if (upstream) {
        sockets.delete(upstream);
        upstream.destroy();
      }
    };
    client.on('close', done);
    client.on('error', done);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    get accepted() {
      return accepted;
    },
    stall(on) {
      stalled = on;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
