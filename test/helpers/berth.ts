import { readFile } from 'node:fs/promises';
import { startBerth as startTestBerth, type TestBerth } from '../../core/testkit';

export type RunningBerth = TestBerth;

/**
 * An in-process berth on a free 127.0.0.1 port with a temp root directory (removed on stop unless the
 * caller passed its own `storage.rootDirectory`). `config` is a Zot config merged over the defaults.
 * The same berth `berth/testkit` gives extension authors.
 */
export function startBerth(config: Record<string, unknown> = {}): Promise<RunningBerth> {
  return startTestBerth({ config });
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
