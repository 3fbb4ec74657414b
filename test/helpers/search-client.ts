// Talks to /v2/_zot/ext/search the way zui (a browser) and zli send their documents.
import { request } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from './berth-process.js';

export interface GqlResponse<T = Record<string, unknown>> {
  status: number;
  body: { data?: T | null; errors?: Array<{ message: string; path?: Array<string | number> }> };
}

export interface ClientQuery {
  client: 'zui' | 'zli';
  name: string;
  /** zui: the URL path and query exactly as zui builds it (unencoded). */
  url?: string;
  /** zli: the document. */
  query?: string;
  expect: 'data' | 'cve-error';
}

export async function clientQueries(fill: Record<string, string>): Promise<ClientQuery[]> {
  const text = await readFile(join(REPO_ROOT, 'test', 'fixtures', 'search', 'client-queries.json'), 'utf8');
  const filled = text.replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    if (fill[k] === undefined) throw new Error(`no value for {{${k}}}`);
    return fill[k]!;
  });
  return (JSON.parse(filled) as { queries: ClientQuery[] }).queries;
}

/** A raw GET, the path sent byte for byte (node refuses only spaces and control characters in a path). */
function rawGet(base: string, path: string, headers: Record<string, string>, body?: string): Promise<GqlResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: 'GET', path, headers: { ...headers, ...(body ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {} });
        } catch {
          reject(new Error(`${res.statusCode}: not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

/** As a browser sends zui's URL: spaces and quotes percent-encoded, braces and the rest left as written. */
export function zuiGet(base: string, url: string, headers: Record<string, string> = {}): Promise<GqlResponse> {
  const path = url.replace(/ /g, '%20').replace(/"/g, '%22').replace(/</g, '%3C').replace(/>/g, '%3E');
  return rawGet(base, path, { accept: 'application/json', ...headers });
}

/** As zli sends a document: GET, the document form-encoded in ?query= (spaces as '+') and again as the body. */
export function zliGet(base: string, query: string, headers: Record<string, string> = {}): Promise<GqlResponse> {
  const path = `/v2/_zot/ext/search?${new URLSearchParams({ query }).toString()}`;
  return rawGet(base, path, { 'content-type': 'application/json', ...headers }, query);
}

/** A POST of `{query, variables}` JSON. */
export async function gqlPost<T = Record<string, unknown>>(base: string, query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}): Promise<GqlResponse<T>> {
  const res = await fetch(`${base}/v2/_zot/ext/search`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, ...(variables ? { variables } : {}) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

/** The data of a query that must succeed without errors. */
export async function gqlData<T = Record<string, any>>(base: string, query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}): Promise<T> {
  const res = await gqlPost<T>(base, query, variables, headers);
  if (res.status !== 200 || res.body.errors) throw new Error(`${res.status}: ${JSON.stringify(res.body.errors)}`);
  return res.body.data as T;
}
