import type { IncomingMessage } from 'node:http';
import type { RequestOptions, UpstreamClient } from './upstream-client';
import type { RequestTarget } from './upstream-url';

export type Requester = Pick<UpstreamClient, 'request'>;

/**
 * Zot's `reqConcurrent` and `syncTimeout` for periodic sync: at most `limit` upstream requests of a registry
 * at once (a request holds its slot until its body is read or dropped), and each operation (one image copy
 * attempt) bounded in time: past it, its open responses are destroyed and the attempt fails (and is retried
 * as `maxRetries` allows).
 */
export class LimitedUpstream implements Requester {
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(private readonly client: Requester, private readonly limit: number) {}

  async request(method: 'GET' | 'HEAD', path: RequestTarget, o?: RequestOptions): Promise<IncomingMessage> {
    if (this.#active >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#active++;
    let res: IncomingMessage;
    try {
      res = await this.client.request(method, path, o);
    } catch (err) {
      this.#release();
      throw err;
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#release();
    };
    res.once('end', release).once('close', release).once('error', release);
    return res;
  }

  /** Runs `work` with a client whose requests fail, and whose open responses are destroyed, after `ms`. */
  async operation<T>(ms: number, work: (client: Requester) => Promise<T>): Promise<T> {
    const open = new Set<IncomingMessage>();
    let expired: Error | undefined;
    const scoped: Requester = {
      request: async (method, path, o) => {
        if (expired) throw expired;
        const res = await this.request(method, path, o);
        if (expired) {
          res.destroy();
          throw expired;
        }
        open.add(res);
        res.once('close', () => open.delete(res));
        return res;
      },
    };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        expired = new Error(`sync operation timed out after ${ms} ms (syncTimeout)`);
        for (const res of open) res.destroy(expired);
        reject(expired);
      }, ms);
    });
    try {
      return await Promise.race([work(scoped), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  // A slot passes straight to the next waiter, so the count never dips below what is running.
  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#active--;
  }
}
