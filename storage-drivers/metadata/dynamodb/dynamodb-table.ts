/**
 * berth's one DynamoDB table and the few request shapes every part uses. Items are addressed by a partition
 * (`pk`: one per kind of record, one per kv namespace) and a sort key (`sk`: the record's key), so a listing
 * is a Query of one partition, which DynamoDB returns in the UTF-8 byte order of `sk`.
 */
import {
  BatchGetItemCommand, BatchWriteItemCommand, ConditionalCheckFailedException, CreateTableCommand, DeleteItemCommand, DescribeTableCommand,
  DynamoDBClient, GetItemCommand, PutItemCommand, QueryCommand, ResourceInUseException, ResourceNotFoundException, UpdateItemCommand,
  type AttributeValue, type DeleteItemCommandInput, type GetItemCommandInput, type PutItemCommandInput, type QueryCommandInput,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { RegistryError, type Logger } from '../../../core/extensions/api';

export type Item = Record<string, AttributeValue>;

/** Attribute values from plain ones, and plain ones read back from an item (undefined when absent). */
export const S = (s: string): AttributeValue => ({ S: s });
export const N = (n: number): AttributeValue => ({ N: String(n) });
export const B = (b: Uint8Array): AttributeValue => ({ B: b });
export const str = (item: Item | undefined, name: string): string | undefined => item?.[name]?.S;
export const num = (item: Item | undefined, name: string): number | undefined => (item?.[name]?.N === undefined ? undefined : Number(item[name].N));
export const bin = (item: Item | undefined, name: string): Uint8Array | undefined => item?.[name]?.B;

/**
 * Every attribute an expression names is written `#name` and bound here: DynamoDB reserves hundreds of words
 * (SIZE, PATH, TOKEN, USER, ...), so no expression spells an attribute bare.
 */
function names(...expressions: Array<string | undefined>): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const e of expressions) for (const [, n] of (e ?? '').matchAll(/#(\w+)/g)) out[`#${n}`] = n;
  return Object.keys(out).length ? out : undefined;
}

/** The store failed (not a lost race): the request that needed it answers 503 with Retry-After, as Zot's clients retry. */
function unavailable(cause: unknown): RegistryError {
  const err = new RegistryError('UNAVAILABLE', 503, 'the metadata store (DynamoDB) cannot be reached', undefined, { 'Retry-After': '1' });
  (err as Error & { cause?: unknown }).cause = cause;
  return err;
}

/** Errors DynamoDB gives for a malformed request; everything else (network, throttling, 5xx, credentials) is an outage. */
const BUGS = new Set(['ValidationException', 'SerializationException']);

type Conditional = { condition?: string; values?: Item };

export class Table {
  private closed = false;
  private readonly pending = new Set<Promise<unknown>>();
  /** Versions handed out by this process: a block reserved from the counter item at a time. */
  private versionBlock: { next: number; end: number } | undefined;
  private reserving: Promise<void> | undefined;

  constructor(readonly client: DynamoDBClient, readonly name: string, private readonly logger?: Logger) {}

  /** Runs one request; rejects once closed, and turns a store failure into UNAVAILABLE (503). */
  private run<T>(send: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the DynamoDB metadata store is closed'));
    const p = send().catch((err: unknown) => {
      // A refused request shape is berth's bug, not an outage: it surfaces as itself (a 500, logged by the edge).
      if (err instanceof ConditionalCheckFailedException || BUGS.has((err as Error).name)) throw err;
      this.logger?.warn({ err, table: this.name }, 'DynamoDB request failed');
      throw unavailable(err);
    });
    this.pending.add(p);
    const done = () => this.pending.delete(p);
    p.then(done, done);
    return p;
  }

  /** One consistent read of an item that need not exist: the cheapest round trip through the table. */
  async ping(): Promise<void> {
    await this.get('berth.ping', 'ping');
  }

  async get(pk: string, sk: string): Promise<Item | undefined> {
    const input: GetItemCommandInput = { TableName: this.name, Key: { pk: S(pk), sk: S(sk) }, ConsistentRead: true };
    return (await this.run(() => this.client.send(new GetItemCommand(input)))).Item;
  }

  /** A put; false when its condition failed (a lost race), nothing else. */
  async put(item: Item, { condition, values }: Conditional = {}): Promise<boolean> {
    const input: PutItemCommandInput = {
      TableName: this.name, Item: item, ConditionExpression: condition, ExpressionAttributeNames: names(condition), ExpressionAttributeValues: values,
    };
    return this.conditional(() => this.client.send(new PutItemCommand(input))).then((r) => r !== undefined);
  }

  /** A put returning the item it replaced (`old`, absent if none); `ok` false when its condition failed. */
  async replace(item: Item, { condition, values }: Conditional = {}): Promise<{ ok: boolean; old?: Item }> {
    const input: PutItemCommandInput = {
      TableName: this.name, Item: item, ConditionExpression: condition, ExpressionAttributeNames: names(condition), ExpressionAttributeValues: values,
      ReturnValues: 'ALL_OLD',
    };
    const r = await this.conditional(() => this.client.send(new PutItemCommand(input)));
    return r === undefined ? { ok: false } : { ok: true, old: r.Attributes };
  }

  /** An update returning the item after it; undefined when its condition failed. */
  async update(pk: string, sk: string, update: string, { condition, values }: Conditional = {}): Promise<Item | undefined> {
    const input: UpdateItemCommandInput = {
      TableName: this.name, Key: { pk: S(pk), sk: S(sk) }, UpdateExpression: update, ConditionExpression: condition,
      ExpressionAttributeNames: names(update, condition), ExpressionAttributeValues: values, ReturnValues: 'ALL_NEW',
    };
    return this.conditional(() => this.client.send(new UpdateItemCommand(input))).then((r) => r?.Attributes ?? (r ? {} : undefined));
  }

  /** A delete returning the item deleted; undefined when there was none or its condition failed. */
  async delete(pk: string, sk: string, { condition, values }: Conditional = {}): Promise<Item | undefined> {
    const input: DeleteItemCommandInput = {
      TableName: this.name, Key: { pk: S(pk), sk: S(sk) }, ConditionExpression: condition, ExpressionAttributeNames: names(condition),
      ExpressionAttributeValues: values, ReturnValues: 'ALL_OLD',
    };
    return this.conditional(() => this.client.send(new DeleteItemCommand(input))).then((r) => r?.Attributes);
  }

  private async conditional<T>(send: () => Promise<T>): Promise<T | undefined> {
    try {
      return await this.run(send);
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return undefined;
      throw err;
    }
  }

  /**
   * Items of one partition in `sk` order from `after` (exclusive) or `from` (inclusive), until `limit` or
   * `accept` says no (the first refused item ends the listing). Pages as DynamoDB returns them.
   */
  async query(pk: string, o: { after?: string; from?: string; limit?: number; filter?: string; values?: Item; accept?: (item: Item) => boolean }): Promise<Item[]> {
    const out: Item[] = [];
    let start: Item | undefined;
    const bound = o.after !== undefined ? ' AND #sk > :bound' : o.from !== undefined ? ' AND #sk >= :bound' : '';
    const keyCondition = `#pk = :pk${bound}`;
    do {
      const input: QueryCommandInput = {
        TableName: this.name, ConsistentRead: true, KeyConditionExpression: keyCondition, FilterExpression: o.filter,
        ExpressionAttributeNames: names(keyCondition, o.filter),
        ExpressionAttributeValues: { ':pk': S(pk), ...(bound ? { ':bound': S((o.after ?? o.from)!) } : {}), ...o.values },
        ...(o.limit !== undefined && !o.filter ? { Limit: o.limit - out.length } : {}), ExclusiveStartKey: start,
      };
      const page = await this.run(() => this.client.send(new QueryCommand(input)));
      for (const item of page.Items ?? []) {
        if (o.accept && !o.accept(item)) return out;
        out.push(item);
        if (o.limit !== undefined && out.length >= o.limit) return out;
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  /** How many items one partition holds (a COUNT query: no item is transferred). */
  async count(pk: string): Promise<number> {
    let total = 0;
    let start: Item | undefined;
    do {
      const page = await this.run(() => this.client.send(new QueryCommand({
        TableName: this.name, ConsistentRead: true, Select: 'COUNT', KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': 'pk' }, ExpressionAttributeValues: { ':pk': S(pk) }, ExclusiveStartKey: start,
      })));
      total += page.Count ?? 0;
      start = page.LastEvaluatedKey;
    } while (start);
    return total;
  }

  /** Reads many sort keys of one partition, 100 a request (BatchGetItem's limit), retrying what was left unprocessed. */
  async getMany(pk: string, sks: readonly string[]): Promise<Item[]> {
    const out: Item[] = [];
    const unique = [...new Set(sks)];
    for (let i = 0; i < unique.length; i += 100) {
      let keys: Item[] | undefined = unique.slice(i, i + 100).map((sk) => ({ pk: S(pk), sk: S(sk) }));
      for (let attempt = 0; keys?.length; attempt++) {
        const requested: Item[] = keys;
        const res = await this.run(() => this.client.send(new BatchGetItemCommand({ RequestItems: { [this.name]: { Keys: requested, ConsistentRead: true } } })));
        out.push(...(res.Responses?.[this.name] ?? []));
        keys = res.UnprocessedKeys?.[this.name]?.Keys;
        if (keys?.length) await backoff(attempt);
      }
    }
    return out;
  }

  /** Deletes many sort keys of one partition, 25 a request (BatchWriteItem's limit); each delete is atomic on its own. */
  async deleteMany(pk: string, sks: readonly string[]): Promise<void> {
    const unique = [...new Set(sks)];
    for (let i = 0; i < unique.length; i += 25) {
      let requests = unique.slice(i, i + 25).map((sk) => ({ DeleteRequest: { Key: { pk: S(pk), sk: S(sk) } } }));
      for (let attempt = 0; requests.length; attempt++) {
        const batch = requests;
        const res = await this.run(() => this.client.send(new BatchWriteItemCommand({ RequestItems: { [this.name]: batch } })));
        requests = (res.UnprocessedItems?.[this.name] ?? []) as typeof requests;
        if (requests.length) await backoff(attempt);
      }
    }
  }

  /**
   * A version no record of this table ever had: versions come from one counter item (UpdateItem ADD is
   * atomic), reserved 100 at a time per process, so most writes need no extra request. A process that stops
   * leaves the rest of its block unused; versions only need to be new, not dense.
   */
  async nextVersion(): Promise<number> {
    for (;;) {
      const block = this.versionBlock;
      if (block && block.next <= block.end) return block.next++;
      this.reserving ??= this.reserve().finally(() => (this.reserving = undefined));
      await this.reserving;
    }
  }

  private async reserve(): Promise<void> {
    const size = 100;
    const item = await this.update('counter', 'version', 'ADD #n :size', { values: { ':size': N(size) } });
    const end = num(item, 'n')!;
    this.versionBlock = { next: end - size + 1, end };
  }

  /** Creates the table when it is absent (as Zot creates its own), tolerating another replica creating it at once. */
  async ensure(): Promise<void> {
    if (await this.exists()) return;
    try {
      await this.client.send(new CreateTableCommand({
        TableName: this.name,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
        BillingMode: 'PAY_PER_REQUEST',
      }));
    } catch (err) {
      if (!(err instanceof ResourceInUseException)) throw err;
    }
    for (let attempt = 0; !(await this.exists()); attempt++) {
      if (attempt > 120) throw new Error(`table ${this.name} did not become active`);
      await backoff(attempt);
    }
  }

  /** True once the table is ACTIVE (a table still CREATING cannot take items yet). */
  private async exists(): Promise<boolean> {
    try {
      const { Table: t } = await this.client.send(new DescribeTableCommand({ TableName: this.name }));
      return t?.TableStatus === 'ACTIVE';
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return false;
      throw err;
    }
  }

  /** Lets pending calls finish, then refuses new ones and closes the connections. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.pending.size) await Promise.allSettled([...this.pending]);
    this.client.destroy();
  }
}

const backoff = (attempt: number) => new Promise<void>((r) => setTimeout(r, Math.min(500, 20 * 2 ** attempt)));

/** Runs `fn` over `items`, at most `width` at once (many single-item writes that DynamoDB cannot batch conditionally). */
export async function eachLimited<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let i = 0;
  const worker = async () => {
    while (i < items.length) await fn(items[i++]);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}
