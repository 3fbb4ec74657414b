import { sleep } from './tools.js';

/** Polls `check` every 200 ms until it holds; throws once `ms` pass (a deadline, not a timing target). */
export async function eventually(check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(200);
  }
}
