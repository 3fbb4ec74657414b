import type http from 'node:http';
import type { Middleware } from 'koa';

/**
 * `http.readTimeout` is each connection's idle timeout (app.ts): it cuts off a client that goes quiet while
 * sending its request or while reading the answer. Between the two, once the request has all arrived and
 * before the answer's headers go out, the quiet is berth's own work: committing a multi-GiB upload to S3
 * (CompleteMultipartUpload, then the copy into place) or a slow S3 or MetaStore round trip can outlast the
 * timeout with the client doing nothing wrong. The timeout is suspended for that span only.
 */
export const idleTimeoutSpansClientOnly: Middleware = (ctx, next) => {
  const { req, res } = ctx;
  const socket = req.socket;
  const idle = socket.timeout;
  if (!idle) return next();
  let answered = false;
  const suspend = () => {
    if (!answered) socket.setTimeout(0);
  };
  const resume = () => {
    if (answered) return;
    answered = true;
    req.off('end', suspend);
    socket.setTimeout(idle);
  };
  const { 'content-length': length, 'transfer-encoding': chunked } = req.headers;
  // A request without a body never emits 'end' unless something reads it.
  if (req.complete || length === '0' || (length === undefined && chunked === undefined)) suspend();
  else req.once('end', suspend);
  // Every answer goes through writeHead: explicitly, or from the first write or end (Node's _implicitHeader).
  const writeHead = res.writeHead;
  res.writeHead = function (this: http.ServerResponse, ...args: unknown[]) {
    resume();
    return (writeHead as (...a: unknown[]) => http.ServerResponse).apply(this, args);
  } as typeof res.writeHead;
  res.once('close', resume);
  return next();
};
