// The schedule contract extension authors rely on: a first run after initialDelay, no overlapping runs, and on
// stop (shutdown, reload) the signal aborts and the host waits for the run in progress before going on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Contributions } from '../../core/extensions/contributions';
import { EventBus } from '../../core/extensions/events';

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
});
