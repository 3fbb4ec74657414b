// Young GCs paced by streamed blob bytes (core/registry/young-gc.ts): a berth process runs one per
// BERTH_YOUNG_GC_EVERY_MB of upload bytes and says so in berth_paced_young_gcs_total; 0 turns the pacer off.
// The memory it saves is measured in bench/s3-rss.ts (docs/benchmarks.md), never here.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { pushBlob } from '../helpers/artifact-push.js';
import { spawnBerth, type BerthProcess } from '../helpers/berth-process.js';
import { cleanupTempDirs } from '../helpers/tools.js';

const MiB = 1024 * 1024;

async function pacedGcs(berth: BerthProcess): Promise<number> {
  const text = await (await fetch(`${berth.url}/metrics`)).text();
  const m = /^berth_paced_young_gcs_total (\d+)$/m.exec(text);
  assert.ok(m, `berth_paced_young_gcs_total in /metrics:\n${text.slice(0, 500)}`);
  return Number(m[1]);
}

describe('young GCs paced by streamed bytes', () => {
  const running: BerthProcess[] = [];
  after(async () => {
    for (const b of running) await b.stop();
    await cleanupTempDirs();
  });

  const start = async (env: NodeJS.ProcessEnv) => {
    const berth = await spawnBerth({ extensions: { metrics: {} } }, { env: { ...process.env, ...env } });
    running.push(berth);
    return berth;
  };

  it('a 48 MiB push runs one young GC per BERTH_YOUNG_GC_EVERY_MB (2) of its bytes; 0 runs none', async () => {
    const blob = randomBytes(48 * MiB);
    const paced = await start({ BERTH_YOUNG_GC_EVERY_MB: '2' });
    const before = await pacedGcs(paced);
    await pushBlob(paced.url, 'paced/app', blob);
    const ran = (await pacedGcs(paced)) - before;
    // 24 at 2 MiB each; a chunk or two of slack at either end, never fewer than the bytes call for.
    assert.ok(ran >= 23 && ran <= 25, `young GCs for 48 MiB at 2 MiB each: ${ran}`);

    const off = await start({ BERTH_YOUNG_GC_EVERY_MB: '0' });
    await pushBlob(off.url, 'paced/app', blob);
    assert.equal(await pacedGcs(off), 0, 'BERTH_YOUNG_GC_EVERY_MB=0: none');
  });
});
