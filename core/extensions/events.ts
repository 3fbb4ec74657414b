import type { Logger } from 'pino';
import type { RegistryEventMap, RegistryEventName, RegistryEvents } from './api';

type Handler = (payload: never) => void | Promise<void>;

/** Typed in-process events. Emitting never throws or waits: handler failures are logged. */
export class EventBus implements RegistryEvents {
  readonly #handlers = new Map<RegistryEventName, Handler[]>();

  constructor(private readonly logger: Logger) {}

  /** Subscribes `handler`; the returned function unsubscribes it. */
  on<E extends RegistryEventName>(event: E, handler: (payload: RegistryEventMap[E]) => void | Promise<void>): () => void {
    this.#handlers.set(event, [...(this.#handlers.get(event) ?? []), handler as Handler]);
    return () => {
      this.#handlers.set(event, (this.#handlers.get(event) ?? []).filter((h) => h !== handler));
    };
  }

  emit<E extends RegistryEventName>(event: E, payload: RegistryEventMap[E]): void {
    for (const handler of this.#handlers.get(event) ?? []) {
      Promise.resolve()
        .then(() => (handler as (p: RegistryEventMap[E]) => void | Promise<void>)(payload))
        .catch((err: unknown) => this.logger.warn({ event, err }, 'failed to handle registry event'));
    }
  }
}
