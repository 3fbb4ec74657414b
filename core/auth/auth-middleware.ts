/**
 * Authentication, before any route runs (zot-reference §3). One snapshot of the auth config per request.
 * Method choice as in Zot: `Authorization` present → bearer (when configured, exclusively) or the Basic chain
 * (with berth's token service in use, also its own `Bearer` tokens); else a verified client certificate →
 * mTLS; else anonymous, which only gets further when some policy grants anonymous access. Requests from Zot's
 * web UI (`X-ZOT-API-CLIENT: zot-ui`) without `Authorization` are authenticated by their session cookie, and
 * their successful password logins open one (session-service.ts). The identity lands in `ctx.state.user`;
 * authorization is left to the routes' AccessControl.
 */
import type { Context, Next } from 'koa';
import type { TLSSocket } from 'node:tls';
import type { AuthRequest, Identity } from '../extensions/api';
import type { AuthFailureReason, AuthMetrics } from './auth-metrics';
import type { AuthState } from './auth-state';
import { routeAccessOf } from '../http/route-access';
import { requestSettings, scopeOfRequest, unauthorized } from './challenge';
import { TOKEN_PATH } from './token-service';
import { clearSessionCookies, sessionCookieOf, setSessionCookies } from './session-cookies';
import { UI_CLIENT, UI_CLIENT_HEADER } from './session-service';

/**
 * Probes stay outside authentication, as in Zot (orchestrators call them without credentials); so do the
 * extension routes declared `access: 'public'` (route-access.ts).
 */
const PUBLIC_PATHS = new Set(['/livez', '/readyz', '/startupz']);
// containers/image (skopeo, podman) answers a Basic challenge without credentials with `Basic Og==`.
const EMPTY_BASIC = /^Basic\s+Og==\s*$/i;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function authMiddleware(current: () => AuthState, metrics: AuthMetrics) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const state = current();
    ctx.state.auth = state;
    if (!state.enabled || PUBLIC_PATHS.has(ctx.path) || routeAccessOf(ctx) === 'public') return next();

    const sent = ctx.req.headers.authorization;
    const header = sent !== undefined && EMPTY_BASIC.test(sent) ? undefined : sent;
    const scope = () => scopeOfRequest(ctx.method, ctx.path);
    const fail = async (reason: AuthFailureReason): Promise<never> => {
      metrics.failures.inc({ reason });
      if (state.failDelayMs > 0) await sleep(state.failDelayMs); // only reached with credentials sent
      throw unauthorized(requestSettings(state.settings, ctx), scope());
    };
    if (countAuthorizationHeaders(ctx.req.rawHeaders) > 1) await fail('credentials');

    const request: AuthRequest = { method: ctx.method, path: ctx.path, headers: ctx.req.headers };
    let identity: Identity | undefined;
    // A valid anonymous token from berth's token service: the request is anonymous, but it was let in at /v2/.
    let anonymousToken = false;
    const fromUi = ctx.get(UI_CLIENT_HEADER) === UI_CLIENT;
    const sessionCookie = fromUi && state.sessions ? sessionCookieOf(ctx) : undefined;
    if (header !== undefined) {
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
      let kind: AuthFailureReason = 'token';
      if (state.bearer) {
        if (bearer === undefined) await fail('token');
        identity = asIdentity(await state.bearer.authenticate({ ...request, bearer }));
      } else if (state.tokens && bearer !== undefined && ctx.path !== TOKEN_PATH) {
        const verified = await state.tokens.verify(bearer);
        if (verified === 'anonymous') anonymousToken = true;
        else identity = asIdentity(verified);
      } else {
        kind = 'credentials';
        const basic = parseBasic(header);
        if (!basic) await fail(kind);
        request.basic = basic;
        for (const authenticator of state.basic) {
          identity = asIdentity(await authenticator.authenticate(request));
          if (identity) break;
        }
      }
      if (!identity && !anonymousToken) await fail(kind);
      // Only with the credentials just checked: other credentials that fail never fall back to a session.
      if (fromUi && identity && state.sessions?.sessions.opensSession(identity)) setSessionCookies(ctx, state.sessions, identity);
    } else if (sessionCookie !== undefined && state.sessions) {
      const checked = await state.sessions.sessions.verify(sessionCookie);
      if (!('identity' in checked)) {
        clearSessionCookies(ctx, state.sessions); // tells zui the session is over, as Zot does
        await fail('session');
      } else identity = checked.identity;
    } else if (state.mtls) {
      const certificate = verifiedClientCertificate(ctx);
      if (certificate) {
        identity = asIdentity(await state.mtls.authenticate({ ...request, clientCertificate: certificate }));
        if (!identity) await fail('certificate');
      }
    }

    if (identity) {
      ctx.state.user = identity;
      return next();
    }
    if (!anonymousMayProceed(state, ctx, anonymousToken)) throw unauthorized(requestSettings(state.settings, ctx), scope());
    return next();
  };
}

function anonymousMayProceed(state: AuthState, ctx: Context, anonymousToken: boolean): boolean {
  if (state.bearer) return false; // the token service decides everything: always ask for a token
  if (state.tokens && ctx.path === TOKEN_PATH) return true; // anonymous callers get anonymous grants
  const policy = state.policy;
  if (!policy) return false; // auth on, no accessControl: anonymous → 401 (Zot)
  if (routeAccessOf(ctx) === 'metrics') return policy.allowsMetrics(undefined); // the route's guard decides the rest
  if (!policy.hasAnonymousRules) return false;
  // Clients decide at /v2/ whether to send credentials at all (Docker, skopeo, crane only do after a 401
  // there), so when some rule needs a login, /v2/ challenges every anonymous client. Zot does this for
  // Docker's user agent only (#3538), which leaves skopeo pushing anonymously into a 401. With berth's token
  // service the challenge is for a token, and an anonymous token answers it.
  const base = ctx.path === '/v2/' || ctx.path === '/v2';
  return !(base && policy.hasAuthenticatedRules && !anonymousToken);
}

function asIdentity(result: Identity | { failure: string } | undefined): Identity | undefined {
  return result && 'user' in result ? result : undefined;
}

/** `Basic base64(user:password)`; undefined when malformed (a wrong scheme is a failed login, not anonymous). */
export function parseBasic(header: string): { username: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=._~-]*)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function countAuthorizationHeaders(raw: string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'authorization') n++;
  return n;
}

/** The peer certificate, only when the TLS layer verified it against `http.tls.cacert`. */
function verifiedClientCertificate(ctx: Context): Record<string, unknown> | undefined {
  const socket = ctx.req.socket as Partial<TLSSocket>;
  if (!socket.encrypted || !socket.authorized || typeof socket.getPeerCertificate !== 'function') return undefined;
  const cert = socket.getPeerCertificate();
  return cert && Object.keys(cert).length > 0 ? (cert as unknown as Record<string, unknown>) : undefined;
}
