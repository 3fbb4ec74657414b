// A real NATS server (Debian's nats-server) on a free port, stopped by PID.
import { join } from 'node:path';
import { startDaemon, waitReady, type Daemon } from './daemon.js';
import { ensureTools, freePort, tempDir, waitForHttp } from './tools.js';

export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  port: number;
  daemon: Daemon;
  stop(): Promise<void>;
}

/** Starts nats-server on 127.0.0.1; with `auth`, clients must send that user and password. */
export async function startNatsServer(opts: { auth?: { user: string; password: string } } = {}): Promise<NatsServer> {
  await ensureTools(['nats-server']);
  const dir = await tempDir('nats');
  const port = await freePort();
  const monitor = await freePort();
  const auth = opts.auth ? ['--user', opts.auth.user, '--pass', opts.auth.password] : [];
  const daemon = startDaemon('nats-server', 'nats-server', ['-a', '127.0.0.1', '-p', String(port), '-m', String(monitor), ...auth], {
    cwd: dir,
    stdoutFile: join(dir, 'nats.out'),
    stderrFile: join(dir, 'nats.err'),
  });
  // /healthz answers once the client port accepts connections.
  await waitReady(daemon, async () => {
    const res = await waitForHttp(`http://127.0.0.1:${monitor}/healthz`, 1_000);
    if (res.status !== 200) throw new Error(`healthz ${res.status}`);
  });
  return { url: `nats://127.0.0.1:${port}`, port, daemon, stop: () => daemon.stop() };
}
