// Debian's HAProxy in front of berth replicas, as Zot's clustering guide runs it without sticky sessions:
// `mode http`, `balance roundrobin`, no cookie, so every request (each PATCH of one upload too) may land on
// another replica. Health checks poll `/readyz`, which answers 503 while a replica's S3 or MetaStore is down.
// Foreground (`-db`), stopped by PID; its request log (one line per request: server, status, method, URI) goes
// to its stdout file, so a test can tell which replica served what. The runtime API on a unix socket adds,
// removes and drains replicas without a reload.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { startDaemon, waitReady, type Daemon } from './daemon.js';
import { ensureTools, freePort, tempDir } from './tools.js';

export const BACKEND = 'berth-cluster';

export interface HaproxyServer {
  /** Server name in the backend (r0, r1, …) and the replica's loopback port. */
  name: string;
  port: number;
}

/** One request as HAProxy logged it. */
export interface HaproxyLogLine {
  /** The backend server that answered, or `<NOSRV>` when none was up. */
  server: string;
  status: number;
  method: string;
  uri: string;
}

/** A server's state as `show stat` reports it: UP, DOWN, MAINT, DRAIN, `UP 1/2` while rising, … */
export type ServerStatus = string;

export interface Haproxy {
  /** `http://127.0.0.1:<port>`: what clients use. */
  url: string;
  host: string;
  port: number;
  readonly daemon: Daemon;
  configFile: string;
  /** Every request logged so far. */
  log(): HaproxyLogLine[];
  /** The status of each server of the backend. */
  status(): Promise<Record<string, ServerStatus>>;
  /** Polls until `name` reports `want` (e.g. 'UP' after a restart, 'DOWN' after a kill). */
  waitStatus(name: string, want: 'UP' | 'DOWN' | 'MAINT', timeoutMs?: number): Promise<void>;
  /** Adds a replica at run time (health-checked, in rotation once its first check passes). */
  addServer(server: HaproxyServer): Promise<void>;
  /** Takes a replica out of rotation, closes its sessions and deletes it from the backend. */
  removeServer(name: string): Promise<void>;
  /** One runtime API command (`show stat`, `disable server …`); its output. */
  command(cmd: string): Promise<string>;
  stop(): Promise<void>;
}

export interface HaproxyOptions {
  /** Health check interval in ms (default 500: a killed replica leaves rotation within a second or two). */
  checkIntervalMs?: number;
}

// Options of every server line; `add server` ignores default-server, so both paths use this string.
const serverOptions = (inter: number) => `check inter ${inter} fall 2 rise 1`;

function config(port: number, socket: string, servers: HaproxyServer[], inter: number): string {
  return `global
    maxconn 2000
    stats socket ${socket} mode 600 level admin
    stats timeout 30s
    log stdout format raw local0

defaults
    log     global
    mode    http
    option  dontlognull
    # server, status, method, URI: parsed by log() below
    log-format "%s %ST %HM %HU"
    timeout connect 5000
    timeout client  50000
    timeout server  50000
    # With no replica ready HAProxy answers 503 itself: in the registry's error format, with a retry hint.
    http-error status 503 content-type application/json string '{"errors":[{"code":"UNAVAILABLE","message":"no registry replica is ready","detail":null}]}' hdr Retry-After 5

frontend berth
    bind 127.0.0.1:${port}
    default_backend ${BACKEND}

backend ${BACKEND}
    balance roundrobin
    option httpchk GET /readyz
    # A connection refused by a dead replica is retried on another one; a request already sent is not.
    option redispatch
    retries 2
${servers.map((s) => `    server ${s.name} 127.0.0.1:${s.port} ${serverOptions(inter)}`).join('\n')}
`;
}

/** Runs one command on the runtime API socket and returns what HAProxy answered before closing it. */
function runtimeCommand(socket: string, cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const conn = connect(socket, () => conn.end(`${cmd}\n`));
    conn.on('data', (b: Buffer) => chunks.push(b));
    conn.on('error', reject);
    conn.on('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

export async function startHaproxy(servers: HaproxyServer[], opts: HaproxyOptions = {}): Promise<Haproxy> {
  await ensureTools(['haproxy']);
  const dir = await tempDir('haproxy');
  const port = await freePort();
  const socket = join(dir, 'admin.sock');
  const inter = opts.checkIntervalMs ?? 500;
  const configFile = join(dir, 'haproxy.cfg');
  await writeFile(configFile, config(port, socket, servers, inter));
  const stdoutFile = join(dir, 'haproxy.log');
  const daemon = startDaemon('haproxy', 'haproxy', ['-db', '-f', configFile], { cwd: dir, stdoutFile, stderrFile: join(dir, 'haproxy.err') });
  const command = async (cmd: string) => {
    const out = await runtimeCommand(socket, cmd);
    // Errors come back as text; the few success messages a write command prints are short and known. A stats
    // answer (CSV, after a '# ' header) is data: its check_desc column says "Layer7 invalid response" of a
    // replica whose health check just failed.
    if (!out.startsWith('# ') && /^(Unknown command|No such|Require|.*not found|.*cannot|.*Invalid)/im.test(out)) throw new Error(`haproxy: ${cmd}: ${out.trim()}`);
    return out;
  };
  const status = async () => {
    const csv = (await command(`show stat ${BACKEND} 4 -1`)).trim().split('\n');
    const header = csv[0].replace(/^# /, '').split(',');
    const [sv, st] = [header.indexOf('svname'), header.indexOf('status')];
    const out: Record<string, ServerStatus> = {};
    for (const row of csv.slice(1)) {
      const f = row.split(',');
      if (f[sv] && f[sv] !== 'BACKEND' && f[sv] !== 'FRONTEND') out[f[sv]] = f[st];
    }
    return out;
  };
  await waitReady(daemon, async () => {
    await status();
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    await res.arrayBuffer();
    // Until a health check has run, servers count as up; any answer shows the frontend is listening.
  });
  const waitStatus = async (name: string, want: 'UP' | 'DOWN' | 'MAINT', timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    let last: string | undefined;
    while (Date.now() < deadline) {
      last = (await status())[name];
      if (last === want) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`haproxy: ${name} is ${last ?? 'absent'}, not ${want}, after ${timeoutMs} ms`);
  };
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    daemon,
    configFile,
    log: () =>
      readFileSync(stdoutFile, 'utf8')
        .split('\n')
        .map((line) => /^(\S+) (-?\d+) (\S+) (\S+)$/.exec(line.trim()))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => ({ server: m[1], status: Number(m[2]), method: m[3], uri: m[4] })),
    status,
    waitStatus,
    async addServer(s) {
      await command(`add server ${BACKEND}/${s.name} 127.0.0.1:${s.port} ${serverOptions(inter)}`);
      await command(`enable health ${BACKEND}/${s.name}`);
      await command(`enable server ${BACKEND}/${s.name}`);
    },
    async removeServer(name) {
      await command(`disable server ${BACKEND}/${name}`);
      await command(`shutdown sessions server ${BACKEND}/${name}`);
      // `del server` refuses while a connection to it is still being torn down.
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await command(`del server ${BACKEND}/${name}`);
          return;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    command,
    stop: () => daemon.stop(),
  };
}
