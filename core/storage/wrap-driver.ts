import type { Logger } from 'pino';
import { Histogram, type Registry } from 'prom-client';
import type { DriverWriter, StorageDriver } from './driver';

/** A path a driver was never asked about: absolute, escaping the root, or malformed. */
export class InvalidPathError extends Error {
  readonly code = 'EINVALIDPATH';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`invalid storage path ${JSON.stringify(path)}: ${reason}`);
    this.name = 'InvalidPathError';
  }
}

/** A missing path, whatever the driver called it; `code` is 'ENOENT' so callers test one thing. */
export class PathNotFoundError extends Error {
  readonly code = 'ENOENT';
  constructor(
    readonly driver: string,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(`path not found in storage driver ${driver}: ${path}`, options);
    this.name = 'PathNotFoundError';
  }
}

export interface WrapDriverOptions {
  logger: Logger;
  /** When given, `berth_storage_driver_op_seconds{driver,op}` is recorded in it. */
  metrics?: Registry;
}

const OP_SECONDS = 'berth_storage_driver_op_seconds';

/**
 * Wraps a driver in the one layer registry code uses it through: path validation, a single not-found
 * error, latency per operation and a warning on failure. Readers and writers are returned as the very
 * objects the driver made; only a writer's `close` and `commit` are instrumented in place, since that is
 * where fsync, rename or a multipart completion fails.
 */
export function wrapDriver(inner: StorageDriver, opts: WrapDriverOptions): StorageDriver {
  const driver = inner.name;
  const histogram = opts.metrics ? opHistogram(opts.metrics) : undefined;

  // Every call goes through here: validate first (an invalid path is the caller's bug, never logged as a
  // storage failure), then time the driver and translate its not-found.
  async function op<T>(name: string, paths: readonly string[], run: () => Promise<T>, allowRoot = false): Promise<T> {
    for (const p of paths) assertStoragePath(p, allowRoot);
    const stop = histogram?.startTimer({ driver, op: name });
    try {
      return await run();
    } catch (err) {
      if (isNotFound(err)) throw new PathNotFoundError(driver, paths[0] ?? '', { cause: err });
      const fields: Record<string, unknown> = { driver, op: name, path: paths[0], err };
      if (paths.length > 1) fields.to = paths[1];
      opts.logger.warn(fields, 'failed storage operation');
      throw err;
    } finally {
      stop?.();
    }
  }

  const instrumentWriter = (writer: DriverWriter, path: string): DriverWriter => {
    const commit = writer.commit.bind(writer);
    const close = writer.close.bind(writer);
    writer.commit = () => op('commit', [path], commit);
    writer.close = () => op('closeWriter', [path], close); // not 'close': that is the driver's own
    return writer;
  };

  const wrapped: StorageDriver = {
    name: driver,
    stat: (path) => op('stat', [path], () => inner.stat(path), true),
    reader: (path, range) => op('reader', [path], () => inner.reader(path, range)),
    writer: async (path, o) => instrumentWriter(await op('writer', [path], () => inner.writer(path, o)), path),
    getContent: (path) => op('getContent', [path], () => inner.getContent(path)),
    putContent: (path, data) => op('putContent', [path], () => inner.putContent(path, data)),
    list: (dir) => op('list', [dir], () => inner.list(dir), true),
    walk: (dir, visit) => op('walk', [dir], () => inner.walk(dir, visit), true),
    move: (from, to) => op('move', [from, to], () => inner.move(from, to)),
    delete: (path) => op('delete', [path], () => inner.delete(path)),
  };
  // Optional capabilities stay absent when the driver lacks them: callers feature-test with `if (d.link)`.
  if (inner.link) {
    const link = inner.link.bind(inner);
    wrapped.link = (from, to) => op('link', [from, to], () => link(from, to));
  }
  if (inner.copy) {
    const copy = inner.copy.bind(inner);
    wrapped.copy = (from, to) => op('copy', [from, to], () => copy(from, to));
  }
  if (inner.sendTo) {
    const sendTo = inner.sendTo.bind(inner);
    wrapped.sendTo = (path, dest, range) => op('sendTo', [path], () => sendTo(path, dest, range));
  }
  if (inner.redirectURL) {
    const redirectURL = inner.redirectURL.bind(inner);
    wrapped.redirectURL = (path, method) => op('redirectURL', [path], () => redirectURL(path, method));
  }
  // Not through op: /readyz probes every second or two during an outage, and it reports the failure itself.
  if (inner.ping) wrapped.ping = inner.ping.bind(inner);
  if (inner.close) {
    const close = inner.close.bind(inner);
    wrapped.close = () => op('close', [], close);
  }
  return wrapped;
}

/**
 * Throws InvalidPathError unless `path` is relative, '/'-separated and free of '.', '..' and empty
 * segments, NUL and backslashes. '' names the root and is accepted only where `allowRoot` (stat, list, walk):
 * nothing may write or delete the root itself.
 */
export function assertStoragePath(path: string, allowRoot = false): void {
  if (typeof path !== 'string') throw new InvalidPathError(String(path), 'not a string');
  if (path === '') {
    if (allowRoot) return;
    throw new InvalidPathError(path, 'empty');
  }
  if (path.includes('\0')) throw new InvalidPathError(path, 'contains NUL');
  // A backslash is a separator on Windows and in some S3 tools; refusing it keeps one meaning everywhere.
  if (path.includes('\\')) throw new InvalidPathError(path, 'contains a backslash');
  if (path.startsWith('/')) throw new InvalidPathError(path, 'absolute');
  for (const segment of path.split('/')) {
    if (segment === '') throw new InvalidPathError(path, 'empty segment');
    if (segment === '.' || segment === '..') throw new InvalidPathError(path, `'${segment}' segment`);
  }
}

/** ENOENT from fs, NoSuchKey/NotFound from the AWS SDK (as `name` or `Code`), 404 from HTTP back ends. */
function isNotFound(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; name?: unknown; Code?: unknown };
  return [e.code, e.name, e.Code].some((v) => v === 'ENOENT' || v === 'NoSuchKey' || v === 'NotFound');
}

// One histogram per registry: several drivers (or several wraps of one) in an app share it.
function opHistogram(registry: Registry): Histogram<'driver' | 'op'> {
  const existing = registry.getSingleMetric(OP_SECONDS);
  if (existing) return existing as Histogram<'driver' | 'op'>;
  return new Histogram({
    name: OP_SECONDS,
    help: 'Duration of storage driver operations in seconds; for reader and writer, the time to open.',
    labelNames: ['driver', 'op'],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
}
