/**
 * The session's cookies on the wire and `POST /zot/auth/logout`. Written by hand rather than with koa's
 * `ctx.cookies`, which refuses `Secure` cookies on plain HTTP: behind a TLS-terminating proxy berth speaks
 * HTTP while the browser speaks HTTPS, and `secureSession` says so.
 */
import type { Context } from 'koa';
import type { Identity } from '../extensions/api';
import type { MountedRoute } from '../extensions/host';
import type { AuthState } from './auth-state';
import { LOGOUT_PATH, SESSION_COOKIE, SESSION_LIFETIME_S, type SessionService, USER_COOKIE } from './session-service';

/** Sessions as configured: the service and whether cookies are `Secure` (`http.auth.secureSession`, else TLS). */
export interface SessionSettings {
  sessions: SessionService;
  secure: boolean;
}

export function sessionCookieOf(ctx: Context): string | undefined {
  return ctx.cookies.get(SESSION_COOKIE) || undefined;
}

export function setSessionCookies(ctx: Context, settings: SessionSettings, identity: Identity): void {
  const attributes = `Path=/; Max-Age=${SESSION_LIFETIME_S}; SameSite=Lax${settings.secure ? '; Secure' : ''}`;
  ctx.append('Set-Cookie', [
    `${SESSION_COOKIE}=${settings.sessions.issue(identity)}; ${attributes}; HttpOnly`,
    // Read by zui's script for the name it shows; it authenticates nothing.
    `${USER_COOKIE}=${encodeURIComponent(identity.user)}; ${attributes}`,
  ]);
}

export function clearSessionCookies(ctx: Context, settings: Pick<SessionSettings, 'secure'> | undefined): void {
  const attributes = `Path=/; Max-Age=0; SameSite=Lax${settings?.secure ? '; Secure' : ''}`;
  ctx.append('Set-Cookie', [`${SESSION_COOKIE}=; ${attributes}; HttpOnly`, `${USER_COOKIE}=; ${attributes}`]);
}

/**
 * Zot's logout: ends the session the cookie names (on every replica, through the MetaStore) and clears both
 * cookies; 200 whether or not there was a session, so zui always lands on its sign-in page.
 */
export function logoutRoute(): MountedRoute {
  return {
    method: 'post',
    path: LOGOUT_PATH,
    extension: 'auth.sessions',
    access: 'public',
    handler: async (ctx: Context) => {
      const settings = (ctx.state.auth as AuthState).sessions;
      const cookie = sessionCookieOf(ctx);
      if (settings && cookie) await settings.sessions.revoke(cookie);
      clearSessionCookies(ctx, settings);
      ctx.status = 200;
      ctx.body = '';
    },
  };
}
