import type { CloudEvent } from './cloud-event';

/** Where events go: one configured entry of `extensions.events.sinks`. */
export interface Sink {
  /** `http[0]`, `nats[1]`: the sink's type and position in the config, for logs and metrics (never its address). */
  readonly label: string;
  /**
   * Delivers one event and resolves once the receiver has it; `signal` aborts the attempt (its timeout, or
   * shutdown). Rejects with a {@link DeliveryError}; any other rejection counts as retryable.
   */
  send(event: CloudEvent, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export class DeliveryError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
    this.name = 'DeliveryError';
  }
}
