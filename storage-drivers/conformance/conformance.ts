/**
 * The storage driver conformance suite, public as `berth/conformance`: a driver is done when it passes.
 *
 * ```ts
 * runDriverConformance('mydriver', async () => ({ driver: createMyDriver(opts), cleanup: async () => {} }));
 * ```
 * Every test runs against the bare driver and again through the core's `wrapDriver`, which is how the
 * registry always uses it. After each test the suite walks the whole store through the driver itself and
 * fails on anything the driver left of its own: the suite never names a file with a leading '.', so any
 * such file is a driver's temporary or marker. A driver whose uncommitted state is invisible to `walk`
 * (an object store's open multipart uploads) reports it through `leftovers`.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { StorageDriver } from '../../core/extensions/api';
import { InvalidPathError, PathNotFoundError, wrapDriver } from '../../core/storage/wrap-driver';
import { capabilityTests } from './capabilities';
import { assertDepthFirst, MiB, pattern, readAll, seededBytes, sha256, text, walked, write, writeBuffer } from './driver-io';

export interface ConformanceEnv {
  driver: StorageDriver;
  /** State the driver keeps outside what `walk('')` shows (e.g. open multipart uploads), as names; none by default. */
  leftovers?(): Promise<string[]>;
  cleanup(): Promise<void>;
}

/** `d` is the driver under test: `bare` itself, or `bare` through wrapDriver, depending on the pass. */
export type Case = { d: StorageDriver; bare: StorageDriver; t: TestContext };
export type Check = (title: string, body: (c: Case) => Promise<void>) => void;

const LARGE = 64 * MiB;
const silent = pino({ level: 'silent' });
const isENOENT = (err: unknown) => (err as { code?: unknown } | null)?.code === 'ENOENT';

export function runDriverConformance(name: string, setup: () => Promise<ConformanceEnv>): void {
  const check = (wrapped: boolean): Check => (title, body) =>
    it(title, async (t) => {
      const env = await setup();
      try {
        const d = wrapped ? wrapDriver(env.driver, { logger: silent }) : env.driver;
        await body({ d, bare: env.driver, t });
        assert.deepEqual(await leftoversOf(env), [], 'the driver left temporaries or uncommitted content behind');
      } finally {
        await env.cleanup();
      }
    });
  describe(`storage driver conformance: ${name}`, () => contractTests(check(false)));
  describe(`storage driver conformance: ${name} through wrapDriver`, () => {
    contractTests(check(true));
    wrapperTests(check(true));
  });
}

function contractTests(check: Check): void {
  check('putContent then getContent round-trips, creating parents, and overwrites', async ({ d }) => {
    await d.putContent('pc/a/b/file', Buffer.from('first, longer content'));
    assert.equal(await text(d, 'pc/a/b/file'), 'first, longer content');
    await d.putContent('pc/a/b/file', Buffer.from('second'));
    assert.equal(await text(d, 'pc/a/b/file'), 'second');
  });

  check('stat reports files and directories, and undefined when missing', async ({ d }) => {
    await d.putContent('st/dir/file', Buffer.from('12345'));
    const file = await d.stat('st/dir/file');
    assert.equal(file?.path, 'st/dir/file');
    assert.equal(file?.size, 5);
    assert.equal(file?.isDir, false);
    assert.ok(file?.modified instanceof Date && !Number.isNaN(file.modified.getTime()));
    assert.equal((await d.stat('st/dir'))?.isDir, true);
    assert.equal(await d.stat('st/missing'), undefined);
    assert.equal(await d.stat('st/dir/file/below-a-file'), undefined);
  });

  check('reader returns the whole file or an inclusive range', async ({ d }) => {
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    await d.putContent('rd/file', data);
    assert.deepEqual(await readAll(await d.reader('rd/file')), data);
    assert.deepEqual(await readAll(await d.reader('rd/file', { start: 100 })), data.subarray(100));
    assert.deepEqual(await readAll(await d.reader('rd/file', { start: 100, end: 199 })), data.subarray(100, 200));
    assert.deepEqual(await readAll(await d.reader('rd/file', { start: 990, end: 999 })), data.subarray(990));
    assert.deepEqual(await readAll(await d.reader('rd/file', { start: 0, end: 0 })), data.subarray(0, 1));
  });

  check('sendTo, where the driver has it, writes files and ranges unchanged into a slow destination', async ({ d, t }) => {
    if (!d.sendTo) return t.skip('optional capability: the driver has no sendTo');
    const data = Buffer.from(Array.from({ length: 6 * MiB + 12345 }, (_, i) => (i * 7 + (i >> 11)) % 253));
    await d.putContent('sd/file', data);
    // Each chunk is read only when its write completes: a driver reusing a buffer too early is caught here.
    const slowSink = () => {
      const parts: Buffer[] = [];
      const sink = new Writable({
        highWaterMark: 1024,
        write(chunk: Buffer, _enc, done) {
          setTimeout(() => {
            parts.push(Buffer.from(chunk));
            done();
          }, 1);
        },
      });
      return { sink, bytes: () => Buffer.concat(parts) };
    };
    const whole = slowSink();
    assert.equal(await d.sendTo('sd/file', whole.sink), data.length);
    assert.ok(whole.bytes().equals(data), 'whole file');
    const part = slowSink();
    assert.equal(await d.sendTo('sd/file', part.sink, { start: 1000, end: 2 * MiB }), 2 * MiB - 999);
    assert.ok(part.bytes().equals(data.subarray(1000, 2 * MiB + 1)), 'range');
    await assert.rejects(d.sendTo('sd/missing', slowSink().sink), isENOENT);
    let received = 0;
    const quitter = new Writable({
      write(chunk: Buffer, _enc, done) {
        received += chunk.length;
        if (received > MiB) this.destroy();
        done();
      },
    });
    await assert.rejects(d.sendTo('sd/file', quitter));
  });

  check('reader and getContent of a missing path reject with code ENOENT', async ({ d }) => {
    await d.putContent('ms/file', Buffer.from('x'));
    await assert.rejects(d.reader('ms/missing'), isENOENT);
    await assert.rejects(d.reader('ms/file/below-a-file'), isENOENT);
    await assert.rejects(d.getContent('ms/missing'), isENOENT);
  });

  check('writer streams a large file that stays invisible until commit', async ({ d }) => {
    const hash = createHash('sha256');
    const w = await d.writer('big/blob');
    await pipeline(seededBytes(42, LARGE, hash), w);
    assert.equal(w.size, LARGE);
    assert.equal(await d.stat('big/blob'), undefined);
    await w.commit();
    assert.equal((await d.stat('big/blob'))?.size, LARGE);
    assert.equal(await sha256(await d.reader('big/blob')), hash.digest('hex'));
  });

  check('writer cancel leaves no trace and keeps the old content', async ({ d }) => {
    await d.putContent('cn/file', Buffer.from('old'));
    const w = await d.writer('cn/file');
    await write(w, 'new content');
    await w.cancel();
    assert.equal(await text(d, 'cn/file'), 'old');
    const fresh = await d.writer('cn/fresh');
    await write(fresh, 'never committed');
    await fresh.cancel();
    assert.equal(await d.stat('cn/fresh'), undefined);
    assert.deepEqual(await d.list('cn'), ['file']);
  });

  check('a writer whose source fails can be cancelled and leaves the old content', async ({ d }) => {
    await d.putContent('fl/file', Buffer.from('old'));
    const w = await d.writer('fl/file');
    async function* failing() {
      yield Buffer.alloc(MiB, 1);
      throw new Error('client went away');
    }
    await assert.rejects(pipeline(failing(), w), /client went away/);
    await w.cancel();
    assert.equal(await text(d, 'fl/file'), 'old');
    assert.deepEqual(await d.list('fl'), ['file']);
  });

  // Distribution's testContinueStreamAppend: segments closed between, one commit at the end, at a size
  // below any part size and one above S3's 5 MiB minimum part.
  for (const [label, segment] of [['small', 32], ['large', 6 * MiB + 17]] as const) {
    check(`appending writers continue uncommitted content across close() and publish it with one commit (${label} segments)`, async ({ d }) => {
      const parts = [0, 1, 2].map((i) => pattern(segment, i));
      const whole = Buffer.concat(parts);
      let size = 0;
      for (const [i, part] of parts.entries()) {
        // Distribution opens the first segment without append: it starts the content all the same.
        const w = await d.writer('cs/data', { append: i > 0 });
        assert.equal(w.size, size, `size when segment ${i} opens`);
        await writeBuffer(w, part);
        size += part.length;
        assert.equal(w.size, size, `size after segment ${i}`);
        if (i < parts.length - 1) await w.close();
        else await w.commit();
      }
      assert.ok((await d.getContent('cs/data')).equals(whole), 'committed content is the three segments in order');
      await d.delete('cs/data');
    });
  }

  check('an appending writer reopened after close() reports the size so far, also for empty content', async ({ d }) => {
    const empty = await d.writer('sz/empty', { append: true });
    await empty.close();
    const reopenedEmpty = await d.writer('sz/empty', { append: true });
    assert.equal(reopenedEmpty.size, 0);
    await reopenedEmpty.commit();
    assert.equal((await d.stat('sz/empty'))?.size, 0);
    const w = await d.writer('sz/data', { append: true });
    await write(w, 'twelve bytes');
    await w.close();
    assert.equal(w.size, 12);
    const again = await d.writer('sz/data', { append: true });
    assert.equal(again.size, 12);
    await again.cancel();
  });

  check('an appending writer whose source fails keeps what landed when closed, and resumes from there', async ({ d }) => {
    const first = await d.writer('af/data', { append: true });
    await writeBuffer(first, pattern(1000, 1));
    await first.close();
    const w = await d.writer('af/data', { append: true });
    async function* failing() {
      yield pattern(MiB, 2);
      throw new Error('client went away');
    }
    await assert.rejects(pipeline(failing(), w), /client went away/);
    await w.close();
    const landed = w.size;
    assert.ok(landed >= 1000 && landed <= 1000 + MiB, `size ${landed} counts the resumed bytes and at most the failed segment`);
    const resumed = await d.writer('af/data', { append: true });
    assert.equal(resumed.size, landed);
    await write(resumed, 'tail');
    await resumed.commit();
    const content = await d.getContent('af/data');
    assert.equal(content.length, landed + 4);
    assert.ok(content.subarray(0, 1000).equals(pattern(1000, 1)), 'the acknowledged segment survived the failed one');
    assert.equal(content.subarray(landed).toString(), 'tail');
  });

  check('appending to committed content is refused with EEXIST, except over zero-length content', async ({ d }) => {
    const isEEXIST = (err: unknown) => (err as { code?: unknown } | null)?.code === 'EEXIST';
    await d.putContent('cc/put', Buffer.from('committed'));
    await assert.rejects(d.writer('cc/put', { append: true }), isEEXIST);
    assert.equal(await text(d, 'cc/put'), 'committed');
    const w = await d.writer('cc/written', { append: true });
    await write(w, 'once');
    await w.commit();
    await assert.rejects(d.writer('cc/written', { append: true }), isEEXIST);
    assert.equal(await text(d, 'cc/written'), 'once');
    // Distribution's rule: zero-length committed content may be started over, and a cancel puts it back.
    await d.putContent('cc/empty', Buffer.alloc(0));
    const over = await d.writer('cc/empty', { append: true });
    assert.equal(over.size, 0);
    await write(over, 'discarded');
    await over.cancel();
    assert.equal(await text(d, 'cc/empty'), '');
    const kept = await d.writer('cc/empty', { append: true });
    await write(kept, 'kept');
    await kept.commit();
    assert.equal(await text(d, 'cc/empty'), 'kept');
  });

  check('a writer commits once: a second commit and a cancel after commit reject', async ({ d }) => {
    for (const append of [false, true]) {
      const w = await d.writer(`co/${append}`, { append });
      await write(w, 'x');
      await w.commit();
      await assert.rejects(w.commit());
      await assert.rejects(w.cancel());
      assert.equal(await text(d, `co/${append}`), 'x');
    }
  });

  check('close() then cancel() leaves nothing, on the same writer or a reopened one', async ({ d }) => {
    const same = await d.writer('cl/same', { append: true });
    await write(same, 'closed, then cancelled');
    await same.close();
    await same.cancel();
    const fresh = await d.writer('cl/fresh');
    await write(fresh, 'closed without append');
    await fresh.close();
    await fresh.cancel();
    const first = await d.writer('cl/reopened', { append: true });
    await write(first, 'closed');
    await first.close();
    const reopened = await d.writer('cl/reopened', { append: true });
    await write(reopened, ' and more');
    await reopened.cancel();
    for (const p of ['cl/same', 'cl/fresh', 'cl/reopened']) assert.equal(await d.stat(p), undefined, p);
    assert.deepEqual(await d.list('cl'), []);
    // Nothing is left to resume either: a new appending writer starts empty.
    const after = await d.writer('cl/reopened', { append: true });
    assert.equal(after.size, 0);
    await after.cancel();
  });

  check('two writers to one path both complete and the last commit wins', async ({ d }) => {
    const a = await d.writer('tw/file');
    const b = await d.writer('tw/file');
    await write(a, 'from a');
    await write(b, 'from b');
    await a.commit();
    assert.equal(await text(d, 'tw/file'), 'from a');
    await b.commit();
    assert.equal(await text(d, 'tw/file'), 'from b');
  });

  check('concurrent readers of one file each see all of it', async ({ d }) => {
    const hash = createHash('sha256');
    const w = await d.writer('cr/blob');
    await pipeline(seededBytes(7, 4 * MiB, hash), w);
    await w.commit();
    const want = hash.digest('hex');
    const got = await Promise.all(Array.from({ length: 8 }, async () => sha256(await d.reader('cr/blob'))));
    assert.deepEqual(got, Array(8).fill(want));
  });

  check('list gives the names of direct children, [] for a missing dir or a file, and covers the root', async ({ d }) => {
    for (const p of ['ls/a', 'ls/b', 'ls/sub/c']) await d.putContent(p, Buffer.from(p));
    assert.deepEqual((await d.list('ls')).sort(), ['a', 'b', 'sub']);
    assert.deepEqual(await d.list('ls/missing'), []);
    assert.deepEqual(await d.list('ls/a'), []);
    assert.deepEqual(await d.list(''), ['ls']);
  });

  check('walk visits every descendant depth first and honours skip', async ({ d }) => {
    for (const p of ['wk/a', 'wk/d1/b', 'wk/d1/d2/c', 'wk/d3/e']) await d.putContent(p, Buffer.from(p));
    const all = await walked(d, 'wk');
    const dirs = ['wk/d1', 'wk/d1/d2', 'wk/d3'];
    assert.deepEqual(all.map((f) => f.path).sort(), ['wk/a', 'wk/d1', 'wk/d1/b', 'wk/d1/d2', 'wk/d1/d2/c', 'wk/d3', 'wk/d3/e']);
    for (const f of all) assert.equal(f.isDir, dirs.includes(f.path), f.path);
    assertDepthFirst(all.map((f) => f.path));
    const skipped = await walked(d, 'wk', (f) => (f.path === 'wk/d1' ? 'skip' : undefined));
    assert.deepEqual(skipped.map((f) => f.path).sort(), ['wk/a', 'wk/d1', 'wk/d3', 'wk/d3/e']);
    assert.deepEqual(await walked(d, 'wk/missing'), []);
    assert.ok((await walked(d, '')).some((f) => f.path === 'wk/d1/d2/c'));
  });

  check('move replaces an existing file and creates missing parents', async ({ d }) => {
    await d.putContent('mv/a', Buffer.from('A'));
    await d.putContent('mv/b', Buffer.from('B'));
    await d.move('mv/a', 'mv/b');
    assert.equal(await text(d, 'mv/b'), 'A');
    assert.equal(await d.stat('mv/a'), undefined);
    await d.move('mv/b', 'mv/new/deep/c');
    assert.equal(await text(d, 'mv/new/deep/c'), 'A');
    await assert.rejects(d.move('mv/ghost', 'mv/ghost-parent/x'), isENOENT);
    assert.equal(await d.stat('mv/ghost-parent'), undefined);
  });

  check('move carries a whole directory', async ({ d }) => {
    await d.putContent('md/d/1', Buffer.from('one'));
    await d.putContent('md/d/e/2', Buffer.from('two'));
    await d.move('md/d', 'md/n/d2');
    assert.equal(await text(d, 'md/n/d2/1'), 'one');
    assert.equal(await text(d, 'md/n/d2/e/2'), 'two');
    assert.equal(await d.stat('md/d'), undefined);
  });

  check('delete removes a file, a whole tree, and ignores a missing path', async ({ d }) => {
    for (const p of ['dl/keep', 'dl/file', 'dl/t/a', 'dl/t/b/c']) await d.putContent(p, Buffer.from(p));
    await d.delete('dl/file');
    await d.delete('dl/t');
    assert.equal(await d.stat('dl/t'), undefined);
    assert.deepEqual(await d.list('dl/t'), []);
    assert.deepEqual(await d.list('dl'), ['keep']);
    await d.delete('dl/t');
    await d.delete('dl/never/was');
  });

  capabilityTests(check);
}

function wrapperTests(check: Check): void {
  const invalid = ['../x', '/abs', 'a//b', 'a/./b', 'a/../b', 'a/', '.', '..', 'a\\b', 'a\0b'];

  check('rejects invalid paths with InvalidPathError before reaching the driver', async ({ d, bare }) => {
    const escape = `../berth-conformance-${randomBytes(6).toString('hex')}`;
    for (const p of [...invalid, escape]) {
      const ops: Array<[string, () => Promise<unknown>]> = [
        ['putContent', () => d.putContent(p, Buffer.from('x'))],
        ['writer', () => d.writer(p)],
        ['reader', () => d.reader(p)],
        ['getContent', () => d.getContent(p)],
        ['stat', () => d.stat(p)],
        ['list', () => d.list(p)],
        ['walk', () => d.walk(p, () => undefined)],
        ['delete', () => d.delete(p)],
        ['move from', () => d.move(p, 'ok')],
        ['move to', () => d.move('ok', p)],
      ];
      for (const [op, run] of ops) await assert.rejects(run(), InvalidPathError, `${op} ${JSON.stringify(p)}`);
    }
    await assert.rejects(d.putContent('', Buffer.from('x')), InvalidPathError);
    await assert.rejects(d.delete(''), InvalidPathError);
    assert.deepEqual(await walked(bare, ''), []);
    assert.equal(await bare.stat('ok'), undefined);
  });

  check('maps a missing path to PathNotFoundError with code ENOENT', async ({ d }) => {
    const err = await d.reader('nf/missing').then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof PathNotFoundError);
    assert.equal(err.code, 'ENOENT');
    assert.equal(err.path, 'nf/missing');
    assert.equal(err.driver, d.name);
  });

  check('keeps optional methods only where the driver has them, and passes streams through', async ({ bare }) => {
    const streams: unknown[] = [];
    // A proxy records what the driver returns, so identity can be compared with what the wrapper returns.
    const spy = new Proxy(bare, {
      get(target, prop) {
        const v: unknown = Reflect.get(target, prop, target);
        if (typeof v !== 'function') return v;
        return async (...args: unknown[]) => {
          const out: unknown = await v.apply(target, args);
          if (prop === 'reader' || prop === 'writer') streams.push(out);
          return out;
        };
      },
    });
    const d = wrapDriver(spy, { logger: silent });
    for (const m of ['link', 'copy', 'redirectURL', 'close'] as const) assert.equal(typeof d[m], typeof bare[m], m);
    const w = await d.writer('pt/file');
    await write(w, 'bytes');
    await w.commit();
    const r = await d.reader('pt/file');
    assert.equal(w, streams[0]);
    assert.equal(r, streams[1]);
    assert.equal((await readAll(r)).toString(), 'bytes');
  });

  check('records berth_storage_driver_op_seconds once per registry', async ({ d, bare }) => {
    const metrics = new Registry();
    const first = wrapDriver(bare, { logger: silent, metrics });
    const second = wrapDriver(bare, { logger: silent, metrics });
    await first.putContent('mt/file', Buffer.from('x'));
    await second.stat('mt/file');
    const exposition = await metrics.getSingleMetricAsString('berth_storage_driver_op_seconds');
    assert.match(exposition, new RegExp(`_count\\{driver="${d.name}",op="putContent"\\} 1`));
    assert.match(exposition, new RegExp(`_count\\{driver="${d.name}",op="stat"\\} 1`));
  });
}

// Through the driver, so it works for any back end (Distribution's TearDownTest lists the driver's root).
async function leftoversOf(env: ConformanceEnv): Promise<string[]> {
  const found: string[] = [];
  await env.driver.walk('', (f) => {
    if (!f.isDir && (f.path.split('/').pop() ?? '').startsWith('.')) found.push(f.path);
  });
  return [...found, ...((await env.leftovers?.()) ?? [])];
}
