import { Transform } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'pino';
import { Counter, type Registry as PromRegistry } from 'prom-client';

/**
 * Young-generation GCs paced by the blob bytes streamed, not only by the JS heap.
 *
 * Every socket read and every HTTP body chunk arrives in a Buffer of its own (64 KiB, and Node's HTTP client
 * copies each body chunk once more). Once passed on, those Buffers are garbage, freed by the next young GC.
 * But V8 starts a young GC when the JS heap's new space is full, and a Buffer's bytes live outside it: a
 * chunk costs the new space about 2 KB of JS objects. So with 1 MiB semi-spaces (node-flags.ts) 25 to 50 MB
 * of dead chunks pile up between two young GCs while 16 blobs stream. glibc keeps what they took resident
 * after they are freed, so the pile sets the process's RSS.
 *
 * The pacer runs a young GC after every `BERTH_YOUNG_GC_EVERY_MB` (default 4) of streamed bytes, counted where
 * fresh Buffers come in (upload bodies, pull-through fills, blob reads not sent from reused buffers). A young GC of a
 * server's 1 MiB new space takes about half a millisecond; figures in docs/benchmarks.md. `0` turns it off.
 */
const EVERY_BYTES = everyBytes(process.env.BERTH_YOUNG_GC_EVERY_MB);

let youngGc: (() => void) | undefined | null;
let streamed = 0;
let runs = 0;

/** How the pacer runs in this process: its pace (0: off), whether V8 lets it collect, and its young GCs so far. */
export function youngGcPacing(): { everyBytes: number; available: boolean; runs: number } {
  return { everyBytes: EVERY_BYTES, available: EVERY_BYTES > 0 && collector() !== null, runs };
}

/** Counts `bytes` of freshly allocated chunks; runs a young GC once the count passes the pace. */
export function noteStreamed(bytes: number): void {
  if (EVERY_BYTES === 0) return;
  streamed += bytes;
  if (streamed < EVERY_BYTES) return;
  streamed = 0;
  const gc = collector();
  if (!gc) return;
  gc();
  runs++;
}

/** A pass-through that counts what flows through it (noteStreamed). */
export function pacedPassThrough(): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      noteStreamed(chunk.length);
      done(null, chunk);
    },
  });
}

/**
 * V8's `gc` function, in a context of its own: exposed only while that context is made, so no module sees a
 * global `gc`. Null where V8 refuses (then nothing is paced).
 */
function collector(): (() => void) | null {
  if (youngGc !== undefined) return youngGc;
  const exposed = (globalThis as { gc?: unknown }).gc; // node --expose-gc
  if (typeof exposed === 'function') return (youngGc = () => (exposed as (opts: { type: 'minor' }) => void)({ type: 'minor' }));
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (opts: { type: 'minor' }) => void;
    youngGc = typeof gc === 'function' ? () => gc({ type: 'minor' }) : null;
  } catch {
    youngGc = null;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  return youngGc;
}

function everyBytes(env: string | undefined): number {
  const mb = env === undefined || env.trim() === '' ? 4 : Number(env);
  return Number.isFinite(mb) && mb > 0 ? mb * 1024 * 1024 : 0;
}

/**
 * `berth_paced_young_gcs_total` in the app's registry (the process's count), and a warning when the pace is set
 * but V8 refuses the collector, so an operator reading RSS knows the pacer is not running.
 */
export function watchYoungGcPacing(registry: PromRegistry, logger: Logger): void {
  const pacing = youngGcPacing();
  if (pacing.everyBytes > 0 && !pacing.available) {
    logger.warn({ env: 'BERTH_YOUNG_GC_EVERY_MB' }, 'young GCs paced by streamed bytes are not running: V8 refused --expose-gc; RSS may run 20-40 MB higher while blobs stream');
  }
  let reported = runs;
  new Counter({
    name: 'berth_paced_young_gcs_total',
    help: 'Young-generation GCs berth ran because blob bytes streamed (BERTH_YOUNG_GC_EVERY_MB), in this process',
    registers: [registry],
    collect() {
      this.inc(runs - reported);
      reported = runs;
    },
  });
}
