// A real redis-server (Debian) on a free loopback port with its data in a temp dir, stopped by PID. By default
// without persistence: `restart` stops it and starts a new one on the same port with its data gone, as after a
// crash without AOF. With `appendonly` it runs as production Redis does (AOF, fsync every second), and a
// restart (SIGTERM, which flushes the AOF) comes back with every key.
import { join } from 'node:path';
import { startDaemon, waitReady, type Daemon } from './daemon.js';
import { ensureTools, freePort, run, tempDir } from './tools.js';

export interface RedisServer {
  port: number;
  url: string;
  readonly daemon: Daemon;
  /** Runs redis-cli against it. */
  cli(...args: string[]): Promise<string>;
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop, or stopping it first). */
  restart(): Promise<void>;
}

export interface RedisOptions {
  password?: string;
  /** `appendonly yes` with `appendfsync everysec`: keys survive a restart. */
  appendonly?: boolean;
}

export async function startRedisServer(opts: RedisOptions = {}): Promise<RedisServer> {
  await ensureTools(['redis-server', 'redis-cli']);
  const dir = await tempDir('redis');
  const port = await freePort();
  const auth = opts.password ? ['-a', opts.password, '--no-auth-warning'] : [];
  const cli = async (...args: string[]) => (await run('redis-cli', ['-p', String(port), ...auth, ...args], { timeoutMs: 5_000 })).stdout.trim();
  const launch = async () => {
    const d = startDaemon('redis-server', 'redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
      ...(opts.appendonly ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']),
      ...(opts.password ? ['--requirepass', opts.password] : []),
    ], { cwd: dir, stdoutFile: join(dir, 'redis.out'), stderrFile: join(dir, 'redis.err') });
    await waitReady(d, async () => {
      if ((await cli('PING')) !== 'PONG') throw new Error('not ready');
    });
    return d;
  };
  let daemon = await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get daemon() {
      return daemon;
    },
    cli,
    stop: () => daemon.stop(),
    restart: async () => {
      await daemon.stop();
      daemon = await launch();
    },
  };
}
