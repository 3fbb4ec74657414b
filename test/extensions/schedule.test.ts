// The schedule contract extension authors rely on: a first run after initialDelay, no overlapping runs, and on
// stop (shutdown, reload) the signal aborts and the host waits for the run in progress before going on.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Contributions } from '../../core/extensions/contributions';
import { EventBus } from '../../core/extensions/events';
import type { MetaStore } from '../../core/metastore/meta-store';
import { createSqliteMetaStore } from '../../storage-drivers/metadata/sqlite';

const logger = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ctx.schedule', () => {
  it('runs first after initialDelay, never twice at once, and stops by aborting and awaiting the run', async () => {
    const c = new Contributions('demo', logger, new EventBus(logger));
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    let sawAbort = false;
    c.schedule(5, async (signal) => {
      runs++;
      active++;
      maxActive = Math.max(maxActive, active);
      while (!signal.aborted) await sleep(5); // a long run that stops at its next safe point
      sawAbort = true;
      await sleep(30); // cleanup after the abort: the host must wait for it
      active--;
    }, { initialDelay: 0 });
    assert.equal(runs, 0, 'nothing runs before activation');
    c.activate();
    await sleep(40);
    assert.equal(runs, 1, 'one run, however many intervals passed while it went on');
    await c.deactivate();
    assert.equal(sawAbort, true);
    assert.equal(active, 0, 'deactivate resolved only after the run ended');
    assert.equal(maxActive, 1);
    await sleep(20);
    assert.equal(runs, 1, 'no run after stop');
  });

  it("lets a replacement's first run start only after the old instance's run ended", async () => {
    const events = new EventBus(logger);
    const timeline: string[] = [];
    const make = (name: string) => {
      const c = new Contributions('sync', logger, events);
      c.schedule(1_000, async (signal) => {
        timeline.push(`${name} start`);
        while (!signal.aborted) await sleep(5);
        await sleep(20);
        timeline.push(`${name} end`);
      }, { initialDelay: 0 });
      return c;
    };
    const old = make('old');
    old.activate();
    await sleep(20);
    const next = make('new');
    await old.deactivate(); // what a reload's commit does before activating the new instance
    next.activate();
    await sleep(20);
    await next.deactivate();
    assert.deepEqual(timeline, ['old start', 'old end', 'new start', 'new end']);
  });

  it('aborts a run at its timeout, and refuses a schedule id used twice', async () => {
    const c = new Contributions('demo', logger, new EventBus(logger));
    let abortedAfter = -1;
    c.schedule(60_000, async (signal) => {
      const t0 = Date.now();
      while (!signal.aborted) await sleep(5);
      abortedAfter = Date.now() - t0;
    }, { id: 'slow', initialDelay: 0, timeout: 40 });
    assert.throws(() => c.schedule(1_000, async () => {}, { id: 'slow' }), /schedule id "slow" is used twice/);
    assert.throws(() => c.schedule(1_000, async () => {}, { scope: 'everywhere' as never }), /invalid schedule scope/);
    c.activate();
    while (abortedAfter < 0) await sleep(5);
    assert.ok(abortedAfter >= 35 && abortedAfter < 1_000, `aborted after ${abortedAfter} ms`);
    await c.deactivate();
  });

  it("global: replicas on one MetaStore run it one at a time, once per period, not once each", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-schedule-'));
    const stores: MetaStore[] = [await createSqliteMetaStore({ rootDirectory: dir }), await createSqliteMetaStore({ rootDirectory: dir })];
    let active = 0;
    let maxActive = 0;
    const ranOn: number[] = [];
    const replicas = stores.map((store, i) => {
      const c = new Contributions('scrub', logger, new EventBus(logger), () => store);
      c.schedule(100, async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        ranOn.push(i);
        await sleep(30);
        active--;
      }, { id: 'pass', scope: 'global', initialDelay: i * 20 });
      return c;
    });
    const t0 = Date.now();
    for (const c of replicas) c.activate();
    await sleep(1_000);
    for (const c of replicas) await c.deactivate();
    const periods = (Date.now() - t0) / 100;
    for (const store of stores) await store.close();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(maxActive, 1, 'never two runs at once');
    // Each replica ticks every 100 ms: without the shared record they would run about twice per period.
    assert.ok(ranOn.length >= 4 && ranOn.length <= periods + 2, `${ranOn.length} runs in ${periods.toFixed(1)} periods`);
  });
});
