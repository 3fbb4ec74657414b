/**
 * The HTTP/1.1 response syntax raw-connection.ts reads (RFC 9112): the head, Content-Length, and chunked error
 * bodies. Pure functions over bytes already read.
 */

export interface ResponseHead {
  status: number;
  reason?: string;
  /** Lower-cased names; repeated headers joined with ", ", folded lines joined with a space. */
  headers: Record<string, string>;
  chunked: boolean;
  /** The body's length: 0 for 204 and 304, Infinity when chunked or delimited by the connection's end. */
  length: number;
  /** Whether the connection can carry the next request once this response has been read. */
  keepAlive: boolean;
}

/** The status line and headers (the head without its final empty line); throws on anything else than HTTP/1.x. */
export function parseResponseHead(text: string): ResponseHead {
  const [statusLine, ...lines] = text.split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(statusLine ?? '');
  if (!m) throw new Error(`S3 answered something other than HTTP/1.x: ${JSON.stringify(statusLine?.slice(0, 100))}`);
  const headers: Record<string, string> = {};
  let last: string | undefined;
  for (const line of lines) {
    if (/^[ \t]/.test(line) && last) {
      headers[last] += ` ${line.trim()}`; // obsolete line folding
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[last] = last in headers ? `${headers[last]}, ${value}` : value;
  }
  const status = Number(m[2]);
  const chunked = /chunked/i.test(headers['transfer-encoding'] ?? '');
  const declared = contentLength(headers['content-length']);
  const length = status === 204 || status === 304 ? 0 : chunked || declared === undefined ? Infinity : declared;
  // A chunked body's end is in its bytes; one delimited by the connection's end leaves nothing to reuse.
  const keepAlive = m[1] === '1' && !/close/i.test(headers.connection ?? '') && (chunked || length !== Infinity);
  return { status, ...(m[3] !== undefined ? { reason: m[3] } : {}), headers, chunked, length, keepAlive };
}

/** Content-Length, also when a proxy repeated it ("5, 5"); undefined when absent; a conflict is an error. */
function contentLength(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const values = new Set(value.split(',').map((v) => v.trim()));
  const [only] = values;
  if (values.size !== 1 || !/^\d+$/.test(only!)) throw new Error(`S3 answered with an invalid Content-Length: ${JSON.stringify(value)}`);
  return Number(only);
}

/** A complete chunked body's data (chunk extensions and trailers allowed), or undefined while it is not complete. */
export function dechunk(raw: Buffer): Buffer | undefined {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const size = parseInt(raw.subarray(at, eol).toString('latin1').split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size)) return Buffer.concat(out); // not chunked after all: what was read
    if (size === 0) {
      // Trailers, then an empty line.
      let line = eol + 2;
      for (;;) {
        const next = raw.indexOf('\r\n', line);
        if (next < 0) return undefined;
        if (next === line) return Buffer.concat(out);
        line = next + 2;
      }
    }
    if (raw.length < eol + 2 + size + 2) return undefined;
    out.push(raw.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

