import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import { structuredJson, type CloudEvent } from './cloud-event';
import type { SinkConfig } from './schema';
import { DeliveryError, type Sink } from './sink';
import type { TlsFiles } from './tls-files';

/**
 * Zot's NATS sink: each event published to `channel` as a structured CloudEvent (the JSON event format, as
 * sdk-go's NATS sender writes it). Credentials as Zot: a `file` (a .creds file) first, else username and
 * password; berth also passes a `token`. A publish counts as delivered once the server has answered a flush,
 * so an event is never reported delivered while the connection is down.
 */
export function createNatsSink(label: string, config: SinkConfig, tlsFiles: TlsFiles, credsFile: Buffer | undefined, name: string): Sink {
  const subject = config.channel!; // the schema requires it for nats
  const { username, password, token } = config.credentials;
  const tls = tlsFiles.ca || tlsFiles.cert
    ? { ca: tlsFiles.ca?.toString(), cert: tlsFiles.cert?.toString(), key: tlsFiles.key?.toString() }
    : undefined;
  const options: ConnectionOptions = {
    servers: config.address.split(',').map((s) => s.trim()).filter(Boolean),
    name,
    timeout: config.timeout,
    // Once connected the client reconnects on its own, for as long as berth runs.
    maxReconnectAttempts: -1,
    ...(credsFile ? { authenticator: credsAuthenticator(credsFile) } : username ? { user: username, pass: password ?? '' } : {}),
    ...(token && !credsFile && !username ? { token } : {}),
    ...(tls ? { tls } : {}),
  };
  let connection: Promise<NatsConnection> | undefined;
  let closed = false;

  // Connects on first use, and again after a failed first connect (a server down at start-up is retried
  // with the event's next attempt rather than failing berth's start).
  const connected = (): Promise<NatsConnection> => {
    connection ??= connect(options).catch((err: unknown) => {
      connection = undefined;
      throw new DeliveryError(`failed to connect: ${(err as Error).message}`, true);
    });
    return connection;
  };

  return {
    label,
    async send(event: CloudEvent, signal: AbortSignal): Promise<void> {
      if (closed) throw new DeliveryError('sink is closed', false);
      const nc = await untilAborted(connected(), signal);
      nc.publish(subject, structuredJson(event));
      await untilAborted(nc.flush(), signal);
    },
    async close() {
      closed = true;
      const pending = connection;
      connection = undefined;
      const nc = await pending?.catch(() => undefined);
      await nc?.close();
    },
  };
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new DeliveryError('aborted', true));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new DeliveryError('aborted', true));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, (err: unknown) => reject(err instanceof DeliveryError ? err : new DeliveryError((err as Error).message, true)))
      .finally(() => signal.removeEventListener('abort', onAbort));
  });
}
