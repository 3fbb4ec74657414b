import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type BerthApp } from '../app';
import { parseConfig } from '../config/load';
import type { BerthConfig } from '../config/schema';
import type { Extension } from '../extensions/api';
import { pushImage, type PushAuth, type TestImage } from './image';

type Json = Record<string, unknown>;

export interface StartOptions {
  /**
   * A Zot config (the object a config.json holds), merged over the kit's defaults: `http.address` 127.0.0.1,
   * a free port, `storage.rootDirectory` in a temp directory, logs (level info) to a file there.
   */
  config?: Json;
  /**
   * Extension objects to load as if a config named them by `module`: each receives `extensions.<its name>`
   * of `config` (which then needs no `module`) as its config slice, validated by its `configSchema`.
   */
  extensions?: Array<Extension<any>>; // any: each extension has its own config type
}

/** A berth serving in this process. */
export interface TestBerth {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `127.0.0.1:<port>`, for clients that take a registry host (skopeo `docker://`, ctr). */
  host: string;
  /** The storage root. */
  root: string;
  /** berth's JSON log (pino lines). */
  logFile: string;
  app: BerthApp;
  /** Pushes an image built in memory ({@link buildImage}) or `opts.image` as `repo:reference`. */
  pushImage(repo: string, reference: string, opts?: PushAuth & { image?: TestImage }): Promise<TestImage>;
  /** Stops it (in-flight requests get 2 s) and removes its temp directory, unless BERTH_KEEP_TEST_DATA is set. */
  stop(): Promise<void>;
}

/**
 * Starts berth in this process on a free 127.0.0.1 port with a temp root (kept when `config` names its own
 * `storage.rootDirectory`). Rejects as start-up would: an invalid config or extension slice names the key.
 */
export async function startBerth(opts: StartOptions = {}): Promise<TestBerth> {
  const config = opts.config ?? {};
  const work = await mkdtemp(join(tmpdir(), 'berth-test-'));
  const storage = (config.storage ?? {}) as Json;
  const root = typeof storage.rootDirectory === 'string' ? storage.rootDirectory : join(work, 'root');
  const sections = { ...((config.extensions ?? {}) as Json) };
  const given: Array<{ extension: Extension<unknown>; config: Json }> = [];
  for (const extension of opts.extensions ?? []) {
    const { module: _module, enable, ...slice } = (sections[extension.name] ?? {}) as Json;
    delete sections[extension.name];
    // Zot: a present section without "enable" is on; one that says false does not load.
    if (enable !== false) given.push({ extension, config: slice });
  }
  const raw: Json = {
    ...config,
    storage: { ...storage, rootDirectory: root },
    http: { address: '127.0.0.1', port: '0', ...((config.http ?? {}) as Json) },
    log: { level: 'info', output: join(work, 'berth.log'), ...((config.log ?? {}) as Json) },
  };
  const logFile = String((raw.log as Json).output);
  if (config.extensions) raw.extensions = sections;
  const removeWork = () => (process.env.BERTH_KEEP_TEST_DATA ? undefined : rm(work, { recursive: true, force: true }));
  let parsed: BerthConfig;
  try {
    parsed = parseConfig(raw, 'berth/testkit');
  } catch (err) {
    await removeWork();
    throw err;
  }
  let app: BerthApp | undefined;
  let listening: { url: string; port: number };
  try {
    app = await createApp(parsed, { extensions: given });
    listening = await app.listen();
  } catch (err) {
    await app?.close(0);
    // The app's log file opens asynchronously: removed before it exists, its open would fail later, uncaught.
    const inWork = logFile.startsWith(work);
    for (const deadline = Date.now() + 2000; inWork && !existsSync(logFile) && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 10));
    await removeWork();
    throw err;
  }
  const { url, port } = listening;
  const started = app;
  let stopped: Promise<void> | undefined;
  return {
    url,
    host: `127.0.0.1:${port}`,
    root,
    logFile,
    app: started,
    pushImage: (repo, reference, pushOpts) => pushImage(url, repo, reference, pushOpts),
    stop: () => (stopped ??= started.close(2000).then(removeWork)),
  };
}
