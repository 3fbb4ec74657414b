import { randomUUID } from 'node:crypto';

/**
 * A CloudEvents 1.0 event as Zot builds it (cloudevents/sdk-go): JSON data, a UUID id, the time of the change.
 * The data is serialised once, when the event is made, and shared by every sink.
 */
export interface CloudEvent {
  readonly specversion: '1.0';
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly time: string;
  readonly datacontenttype: 'application/json';
  readonly subject?: string;
  /** The data, as JSON. */
  readonly data: Buffer;
}

export function createCloudEvent(type: string, source: string, data: Record<string, unknown>): CloudEvent {
  return {
    specversion: '1.0',
    id: randomUUID(),
    source,
    type,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: Buffer.from(JSON.stringify(data)),
  };
}

/**
 * HTTP binary content mode (the sdk-go client's default, which Zot's HTTP sink uses): attributes as `ce-`
 * headers, the data as the body with its content type. Extension attributes (Zot's `channel`) are headers too.
 */
export function binaryHeaders(event: CloudEvent, extensions: Record<string, string> = {}): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': event.datacontenttype,
    'ce-specversion': event.specversion,
    'ce-id': event.id,
    'ce-source': event.source,
    'ce-type': event.type,
    'ce-time': event.time,
  };
  if (event.subject !== undefined) headers['ce-subject'] = event.subject;
  for (const [name, value] of Object.entries(extensions)) headers[`ce-${name}`] = value;
  return headers;
}

/** Structured content mode, the JSON event format (what sdk-go's NATS sender publishes, and Zot with it). */
export function structuredJson(event: CloudEvent): Buffer {
  const { data, ...attributes } = event;
  // The data is spliced in as it was serialised rather than parsed and serialised again.
  const head = JSON.stringify(attributes);
  return Buffer.concat([Buffer.from(`${head.slice(0, -1)},"data":`), data, Buffer.from('}')]);
}
