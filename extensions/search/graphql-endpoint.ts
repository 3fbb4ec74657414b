/**
 * `GET,POST /v2/_zot/ext/search` as Zot's gqlgen server answers it: a document that is missing, does not parse
 * or does not validate → 422 with `errors`; one that runs → 200 with `data` (and `errors` for the fields that
 * failed). GET takes the document from `?query=` as the clients send it: zui leaves `{`, `}`, `"` and spaces
 * unencoded (the browser encodes some, not all), zli encodes spaces as `+`. POST takes `{"query", "variables",
 * "operationName"}` JSON (or the bare document as `application/graphql`).
 */
import { buildSchema, execute, GraphQLError, GraphQLObjectType, parse, validate, type DocumentNode, type GraphQLSchema } from 'graphql';
import type { HttpContext } from '../../core/extensions/api';
import { SEARCH_SDL } from './graphql-schema';
import { NO_SCANNING, type createResolvers, type SearchCaller } from './resolvers';

const MAX_BODY = 1024 * 1024;

interface GraphQLRequest {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
}

/** The schema with berth's field resolvers: `Vulnerabilities` has no answer here (see {@link NO_SCANNING}). */
export function graphqlSchema(): GraphQLSchema {
  const schema = buildSchema(SEARCH_SDL);
  for (const name of ['ImageSummary', 'ManifestSummary']) {
    const field = (schema.getType(name) as GraphQLObjectType).getFields()['Vulnerabilities']!;
    field.resolve = (_source, _args, req: { cveConfigured: boolean }) => {
      if (req.cveConfigured) throw new GraphQLError(NO_SCANNING);
      return null; // as Zot without extensions.search.cve: no summary, no error
    };
  }
  return schema;
}

/** The `query` parameter of a raw query string: `+` is a space, malformed `%` escapes are kept as written. */
export function queryParam(querystring: string): string | undefined {
  for (const part of querystring.split('&')) {
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    if (name !== 'query') continue;
    const value = (eq === -1 ? '' : part.slice(eq + 1)).replace(/\+/g, ' ');
    try {
      return decodeURIComponent(value);
    } catch {
      return value.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    }
  }
  return undefined;
}

async function readBody(ctx: HttpContext): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new GraphQLError(`request body larger than ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function requestOf(ctx: HttpContext): Promise<GraphQLRequest> {
  // zli sends its GET with the document in the body too (and a JSON content type): only the URL counts.
  if (ctx.method !== 'POST') return { query: queryParam(ctx.querystring) };
  const body = await readBody(ctx);
  if (ctx.is('application/graphql')) return { query: body };
  try {
    const parsed = JSON.parse(body) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new GraphQLError('request body must be a JSON object');
    return parsed as GraphQLRequest;
  } catch (err) {
    throw err instanceof GraphQLError ? err : new GraphQLError('request body is not valid JSON');
  }
}

export function createGraphQLHandler(opts: {
  schema: GraphQLSchema;
  resolvers: ReturnType<typeof createResolvers>;
  caller: (ctx: HttpContext) => SearchCaller;
  cveConfigured: boolean;
}) {
  const unprocessable = (ctx: HttpContext, errors: readonly GraphQLError[]) => {
    ctx.status = 422;
    ctx.body = { errors: errors.map((e) => e.toJSON()), data: null };
  };
  return async (ctx: HttpContext) => {
    let request: GraphQLRequest;
    try {
      request = await requestOf(ctx);
    } catch (err) {
      return unprocessable(ctx, [err as GraphQLError]);
    }
    if (typeof request.query !== 'string' || request.query.trim() === '') return unprocessable(ctx, [new GraphQLError('no operation provided')]);
    let document: DocumentNode;
    try {
      document = parse(request.query);
    } catch (err) {
      return unprocessable(ctx, [err as GraphQLError]);
    }
    const invalid = validate(opts.schema, document);
    if (invalid.length > 0) return unprocessable(ctx, invalid);
    const variables = typeof request.variables === 'object' && request.variables !== null ? (request.variables as Record<string, unknown>) : undefined;
    const result = await execute({
      schema: opts.schema,
      document,
      rootValue: opts.resolvers,
      contextValue: { caller: opts.caller(ctx), cveConfigured: opts.cveConfigured },
      variableValues: variables,
      operationName: typeof request.operationName === 'string' ? request.operationName : undefined,
    });
    // Variables that do not fit the operation are a request error, before anything ran (no `data`).
    ctx.status = result.data === undefined ? 422 : 200;
    ctx.body = { ...(result.errors ? { errors: result.errors.map((e) => e.toJSON()) } : {}), data: result.data ?? null };
  };
}
