import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type BerthApp } from '../../core/app';
import { parseConfig } from '../../core/config/load';

export interface RunningBerth {
  url: string;
  /** host:port, for clients that take a registry host (skopeo docker://, ctr). */
  host: string;
  root: string;
  logFile: string;
  app: BerthApp;
  stop(): Promise<void>;
}

type Json = Record<string, unknown>;

/**
 * An in-process berth on a free 127.0.0.1 port with a temp root directory (removed on stop unless the
 * caller passed its own `storage.rootDirectory`). `config` is a Zot config merged over the defaults.
 */
export async function startBerth(config: Json = {}): Promise<RunningBerth> {
  const work = await mkdtemp(join(tmpdir(), 'berth-test-'));
  const storage = (config.storage ?? {}) as Json;
  const ownRoot = typeof storage.rootDirectory !== 'string';
  const root = ownRoot ? join(work, 'root') : (storage.rootDirectory as string);
  const logFile = join(work, 'berth.log');
  const raw = {
    ...config,
    storage: { ...storage, rootDirectory: root },
    http: { address: '127.0.0.1', port: '0', ...((config.http ?? {}) as Json) },
    log: { level: 'info', output: logFile, ...((config.log ?? {}) as Json) },
  };
  const app = await createApp(parseConfig(raw, 'test'));
  const { url, port } = await app.listen();
  let stopped = false;
  return {
    url,
    host: `127.0.0.1:${port}`,
    root,
    logFile,
    app,
    async stop() {
      if (stopped) return;
      stopped = true;
      await app.close(2000);
      if (process.env.BERTH_KEEP_TEST_DATA) return;
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** One `request` line of berth's JSON access log. */
export interface BerthAccessEntry {
  method: string;
  path: string;
  query?: string;
  status: number;
  reqId: string;
  durationMs: number;
  bytes?: number;
}

/**
 * The access lines in berth's log file. The logger writes asynchronously, so this polls until `until`
 * holds for the lines read (default: at least one) or `timeoutMs` passes, then returns what it has.
 */
export async function berthAccessLog(
  logFile: string,
  until: (entries: BerthAccessEntry[]) => boolean = (e) => e.length > 0,
  timeoutMs = 5_000,
): Promise<BerthAccessEntry[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(logFile, 'utf8').catch(() => '');
    const entries: BerthAccessEntry[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const obj = JSON.parse(line) as Record<string, unknown>;
        if (obj.msg === 'request') entries.push(obj as unknown as BerthAccessEntry);
      } catch {
        // A line still being written: the next poll reads it whole.
      }
    }
    if (until(entries) || Date.now() >= deadline) return entries;
    await new Promise((r) => setTimeout(r, 50));
  }
}
