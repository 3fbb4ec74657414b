// Browser sessions as zui uses them: its sign-in (`GET /v2/` with Basic credentials and X-ZOT-API-CLIENT:
// zot-ui) sets the cookies, the session cookie alone then reads what the user may read and nothing else, a
// tampered, expired or ended session is a 401, and a second berth on the same root accepts the cookie.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SESSIONS_NAMESPACE, SessionService } from '../../core/auth/session-service';
import { createSqliteMetaStore } from '../../storage-drivers/metadata/sqlite';
import { basicAuth, writeHtpasswd } from '../helpers/auth.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';

const UI = { 'x-zot-api-client': 'zot-ui' };

/** The `name=value` of each Set-Cookie, with its attributes. */
function cookiesOf(res: Response): Map<string, { value: string; attributes: string[] }> {
  const out = new Map<string, { value: string; attributes: string[] }>();
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attributes] = line.split(/;\s*/);
    const eq = pair!.indexOf('=');
    out.set(pair!.slice(0, eq), { value: pair!.slice(eq + 1), attributes });
  }
  return out;
}

describe('browser sessions (zui)', () => {
  let dir: string;
  let root: string;
  let config: Record<string, unknown>;
  let berth: RunningBerth;

  const get = async (path: string, headers: Record<string, string>, on = berth) => {
    const res = await fetch(`${on.url}${path}`, { headers });
    await res.arrayBuffer();
    return res;
  };
  const withSession = (cookie: string, extra: Record<string, string> = {}) => ({ ...UI, cookie: `session=${cookie}`, ...extra });
  const signIn = async (user: string, password: string) => {
    const res = await get('/v2/', { ...UI, ...basicAuth(user, password) });
    assert.equal(res.status, 200);
    return cookiesOf(res);
  };

  before(async () => {
    await ensureTools(['htpasswd']);
    dir = await tempDir('sessions');
    root = join(dir, 'root');
    const htpasswd = join(dir, 'users');
    await writeHtpasswd(htpasswd, [{ user: 'alice', password: 'alicepw' }, { user: 'bob', password: 'bobpw' }]);
    config = {
      storage: { rootDirectory: root },
      http: {
        auth: { htpasswd: { path: htpasswd } },
        accessControl: {
          repositories: {
            'alice/**': { policies: [{ users: ['alice'], actions: ['read', 'create'] }] },
            'bob/**': { policies: [{ users: ['bob'], actions: ['read', 'create'] }] },
          },
        },
      },
    };
    berth = await startBerth(config);
    await berth.pushImage('alice/app', 'v1', { creds: 'alice:alicepw' });
    await berth.pushImage('bob/app', 'v1', { creds: 'bob:bobpw' });
  });
  after(async () => {
    await berth?.stop();
    await cleanupTempDirs();
  });

  it("signs in as zui does: HttpOnly session cookie and zui's user cookie, only for zui's requests", async () => {
    const cookies = await signIn('alice', 'alicepw');
    const session = cookies.get('session');
    assert.ok(session && session.value.length > 0);
    assert.ok(session.attributes.includes('HttpOnly'));
    assert.ok(session.attributes.includes('Path=/'));
    assert.ok(session.attributes.includes('SameSite=Lax'));
    assert.ok(session.attributes.includes('Max-Age=7200'));
    assert.ok(!session.attributes.includes('Secure'), 'plain HTTP without secureSession');
    assert.equal(cookies.get('user')?.value, 'alice');
    assert.ok(!cookies.get('user')!.attributes.includes('HttpOnly'), 'zui reads the user cookie');
    // skopeo, docker and friends get no cookies; a wrong password gets none either.
    assert.equal(cookiesOf(await get('/v2/', basicAuth('alice', 'alicepw'))).size, 0);
    const wrong = await get('/v2/', { ...UI, ...basicAuth('alice', 'nope') });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('www-authenticate'), null, 'no browser login dialog over zui');
    assert.equal(cookiesOf(wrong).size, 0);
  });

  it('the cookie alone reads what the user may read and nothing else', async () => {
    const cookie = (await signIn('alice', 'alicepw')).get('session')!.value;
    assert.equal((await get('/v2/alice/app/manifests/v1', withSession(cookie))).status, 200);
    assert.equal((await get('/v2/bob/app/manifests/v1', withSession(cookie))).status, 403);
    const catalog = await fetch(`${berth.url}/v2/_catalog`, { headers: withSession(cookie) });
    assert.deepEqual(await catalog.json(), { repositories: ['alice/app'] });
    // Without zui's header the cookie is not looked at (as in Zot; a cross-site form cannot set the header).
    assert.equal((await get('/v2/alice/app/manifests/v1', { cookie: `session=${cookie}` })).status, 401);
    // Other credentials that fail are a 401, never rescued by the session.
    assert.equal((await get('/v2/alice/app/manifests/v1', withSession(cookie, basicAuth('alice', 'wrong')))).status, 401);
    assert.equal((await get('/v2/alice/app/manifests/v1', withSession(cookie, { authorization: 'Bearer x' }))).status, 401);
  });

  it('refuses a tampered or expired cookie with 401 and clears it', async () => {
    const cookie = (await signIn('alice', 'alicepw')).get('session')!.value;
    const [payload, mac] = cookie.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, user: 'bob' })).toString('base64url');
    for (const bad of [`${forged}.${mac}`, `${payload}.${mac.slice(0, -2)}AA`, 'garbage']) {
      const res = await get('/v2/bob/app/manifests/v1', withSession(bad));
      assert.equal(res.status, 401, bad);
      assert.equal(cookiesOf(res).get('session')?.value, '', 'the answer clears the cookie');
    }
    // Expired: issued three hours ago with the root's own key (what any replica on this root could have issued).
    const store = createSqliteMetaStore({ rootDirectory: root });
    try {
      const sessions = await SessionService.create(store.signingKeys, store.kv(SESSIONS_NAMESPACE));
      const old = sessions.issue({ user: 'alice', groups: [], via: 'htpasswd' }, Date.now() - 3 * 3600_000);
      const fresh = sessions.issue({ user: 'alice', groups: [], via: 'htpasswd' });
      assert.equal((await get('/v2/alice/app/manifests/v1', withSession(old))).status, 401);
      assert.equal((await get('/v2/alice/app/manifests/v1', withSession(fresh))).status, 200, 'same key, not expired');
    } finally {
      await store.close();
    }
  });

  it('logout ends the session', async () => {
    const cookie = (await signIn('bob', 'bobpw')).get('session')!.value;
    assert.equal((await get('/v2/bob/app/manifests/v1', withSession(cookie))).status, 200);
    const out = await fetch(`${berth.url}/zot/auth/logout`, { method: 'POST', headers: withSession(cookie) });
    await out.arrayBuffer();
    assert.equal(out.status, 200);
    const cleared = cookiesOf(out);
    assert.equal(cleared.get('session')?.value, '');
    assert.ok(cleared.get('session')!.attributes.includes('Max-Age=0'));
    assert.equal(cleared.get('user')?.value, '');
    assert.equal((await get('/v2/bob/app/manifests/v1', withSession(cookie))).status, 401, 'the old cookie no longer works');
    // Logging out without a session still answers 200 (zui always goes to its sign-in page).
    assert.equal((await fetch(`${berth.url}/zot/auth/logout`, { method: 'POST', headers: UI })).status, 200);
  });

  it('a second berth on the same root accepts the cookie, and sees the logout', async () => {
    const cookie = (await signIn('alice', 'alicepw')).get('session')!.value;
    const second = await startBerth(config);
    try {
      assert.equal((await get('/v2/alice/app/manifests/v1', withSession(cookie), second)).status, 200);
      assert.equal((await get('/v2/bob/app/manifests/v1', withSession(cookie), second)).status, 403);
      const out = await fetch(`${second.url}/zot/auth/logout`, { method: 'POST', headers: withSession(cookie) });
      assert.equal(out.status, 200);
      assert.equal((await get('/v2/alice/app/manifests/v1', withSession(cookie))).status, 401, 'ended on the first too');
    } finally {
      await second.stop();
    }
  });

  it('secureSession marks the cookies Secure', async () => {
    const secureRoot = join(dir, 'secure-root');
    const secure = await startBerth({ ...config, storage: { rootDirectory: secureRoot }, http: { ...(config.http as object), auth: { ...((config.http as { auth: object }).auth), secureSession: true } } });
    try {
      const res = await get('/v2/', { ...UI, ...basicAuth('alice', 'alicepw') }, secure);
      const cookies = cookiesOf(res);
      assert.ok(cookies.get('session')!.attributes.includes('Secure'));
      assert.ok(cookies.get('user')!.attributes.includes('Secure'));
    } finally {
      await secure.stop();
    }
  });
});
