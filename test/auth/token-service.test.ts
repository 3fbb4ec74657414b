// berth's own token service over HTTP: when it is used (policies mixing anonymous and authenticated access,
// no http.auth.bearer) and when not; the Bearer challenges and their realm; what a token grants anonymous
// callers and users, per scope, from the same policies; the tokens berth refuses (forged, from another
// instance, expired, garbage); insufficient scope; failDelay at the token endpoint; no secrets in the log.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { get } from 'node:http';
import { get as getTls } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { basicAuth, bearerRequest, OCI_MANIFEST, seedArtifact, timed, writeHtpasswd } from '../helpers/auth.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { makeCa, makeCert } from '../helpers/certs.js';
import { cleanupTempDirs, tempDir } from '../helpers/tools.js';

const ACCESS_CONTROL = {
  repositories: {
    'public/**': { anonymousPolicy: ['read'], policies: [{ users: ['alice'], actions: ['read', 'create', 'update'] }] },
    'team/**': { policies: [{ users: ['alice'], actions: ['read', 'create', 'update', 'delete'] }, { users: ['bob'], actions: ['read', 'create'] }] },
  },
};
type Grant = { type: string; name: string; actions: string[] };
type TokenAnswer = { token: string; access_token: string; expires_in: number; issued_at: string };

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sub: string; aud: string; exp: number; iat: number; access: Grant[] };

describe('berth\'s token service', () => {
  let htpasswd: string;
  let berth: RunningBerth;
  let manifest: Buffer;
  let teamManifest: Buffer;

  before(async () => {
    htpasswd = join(await tempDir('token-service'), 'htpasswd');
    await writeHtpasswd(htpasswd, [{ user: 'alice', password: 'alicepw' }, { user: 'bob', password: 'bobpw' }]);
    berth = await startBerth({ http: { auth: { htpasswd: { path: htpasswd }, apikey: true, failDelay: 1 }, accessControl: ACCESS_CONTROL } });
    manifest = await seedArtifact(berth.app.registry, 'public/base', 'v1');
    teamManifest = await seedArtifact(berth.app.registry, 'team/app', 'v1');
  });
  after(async () => {
    await berth?.stop();
    await cleanupTempDirs();
  });

  const realm = () => `${berth.url}/berth/auth/token`;
  const tokenFor = async (scopes: string[], headers: Record<string, string> = {}): Promise<TokenAnswer> => {
    const query = new URLSearchParams([['service', 'berth'], ...scopes.map((s): [string, string] => ['scope', s])]);
    const res = await fetch(`${realm()}?${query}`, { headers });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    return (await res.json()) as TokenAnswer;
  };
  const call = (path: string, token?: string, method?: string, body?: Buffer) => bearerRequest(`${berth.url}${path}`, token, method, body);

  it('challenges for a token from itself, with the scope the request needs', async () => {
    const cases: Array<[string, string, string]> = [
      ['GET', '/v2/', ''],
      ['GET', '/v2/team/app/manifests/v1', 'repository:team/app:pull'],
      ['PUT', '/v2/public/base/manifests/v2', 'repository:public/base:pull,push'],
      ['DELETE', '/v2/team/app/manifests/v1', 'repository:team/app:delete'],
    ];
    for (const [method, path, scope] of cases) {
      const res = await call(path, undefined, method);
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(res.challenge, `Bearer realm="${realm()}",service="berth",scope="${scope}"`);
    }
    // The realm follows the Host the client used, so a client reaching berth by another name can follow it
    // (node:http, since fetch may not set Host).
    const [challenge, cacheControl] = await new Promise<Array<string | undefined>>((resolve, reject) => {
      get(`${berth.url}/v2/`, { headers: { host: 'registry.example:5000' } }, (res) => {
        res.resume();
        resolve([res.headers['www-authenticate'], res.headers['cache-control']]);
      }).on('error', reject);
    });
    assert.equal(challenge, 'Bearer realm="http://registry.example:5000/berth/auth/token",service="berth",scope=""');
    assert.equal(cacheControl, 'no-store', 'a challenge naming a Host-derived realm is never cached for other clients');
  });

  it('names an https realm when berth serves TLS', async () => {
    const dir = await tempDir('token-tls');
    const ca = await makeCa(dir, 'ca');
    const server = await makeCert(dir, ca, 'server', '/CN=127.0.0.1', { san: 'IP:127.0.0.1', server: true });
    const tls = await startBerth({ http: { tls: { cert: server.cert, key: server.key }, auth: { htpasswd: { path: htpasswd } }, accessControl: ACCESS_CONTROL } });
    try {
      assert.match(tls.url, /^https:/);
      const challenge = await new Promise<string | undefined>((resolve, reject) => {
        getTls(`${tls.url}/v2/`, { ca: readFileSync(ca.cert) }, (res) => {
          res.resume();
          resolve(res.headers['www-authenticate']);
        }).on('error', reject);
      });
      assert.equal(challenge, `Bearer realm="${tls.url}/berth/auth/token",service="berth",scope=""`);
    } finally {
      await tls.stop();
    }
  });

  it('gives anonymous callers exactly the anonymous grants', async () => {
    const answer = await tokenFor(['repository:public/base:pull,push', 'repository:team/app:pull', 'repository:team/app:*']);
    assert.equal(answer.access_token, answer.token);
    assert.equal(answer.expires_in, 300);
    const claims = claimsOf(answer.token);
    assert.equal(claims.sub, '');
    assert.equal(claims.aud, 'berth');
    assert.equal(claims.exp - claims.iat, 300);
    assert.ok(Math.abs(Date.parse(answer.issued_at) / 1000 - claims.iat) < 1);
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'public/base', actions: ['pull'] }]);

    assert.equal((await call('/v2/', answer.token)).status, 200, 'an anonymous token answers the /v2/ challenge');
    assert.equal((await call('/v2/public/base/manifests/v1', answer.token)).status, 200);
    const refused = await call('/v2/team/app/manifests/v1', answer.token);
    assert.equal(refused.status, 401);
    assert.ok(!refused.text.includes('schemaVersion'));
    assert.match(refused.challenge ?? '', /scope="repository:team\/app:pull"/);
    assert.equal((await call('/v2/public/base/manifests/v9', answer.token, 'PUT', manifest)).status, 401);
  });

  it('gives users their policy grants per scope, and a token without grants when no scope is asked', async () => {
    const login = await tokenFor([], basicAuth('alice', 'alicepw'));
    assert.equal(claimsOf(login.token).sub, 'alice');
    assert.deepEqual(claimsOf(login.token).access, []);
    assert.equal((await call('/v2/', login.token)).status, 200, 'docker login: the token answers /v2/');

    const alice = await tokenFor(['repository:team/app:pull,push,delete', 'repository:public/base:*', 'repository:other/x:pull', 'nonsense'], basicAuth('alice', 'alicepw'));
    assert.deepEqual(claimsOf(alice.token).access, [
      { type: 'repository', name: 'team/app', actions: ['pull', 'push', 'delete'] },
      { type: 'repository', name: 'public/base', actions: ['pull', 'push'] },
    ]);
    assert.equal((await call('/v2/team/app/manifests/v1', alice.token, 'PUT', teamManifest)).status, 201, 'alice may overwrite');
    assert.equal((await call('/v2/team/app/manifests/gone', alice.token, 'PUT', teamManifest)).status, 201);
    assert.equal((await call('/v2/team/app/manifests/gone', alice.token, 'DELETE')).status, 202);
    assert.deepEqual(JSON.parse((await call('/v2/_catalog', alice.token)).text), { repositories: ['public/base', 'team/app'] });
  });

  it('trades an API key for a token like a password', async () => {
    const made = await fetch(`${berth.url}/zot/auth/apikey`, { method: 'POST', headers: basicAuth('bob', 'bobpw'), body: JSON.stringify({ label: 'ci' }) });
    assert.equal(made.status, 201);
    const { apiKey } = (await made.json()) as { apiKey: string };
    const bob = await tokenFor(['repository:team/app:pull,push,delete'], basicAuth('bob', apiKey));
    assert.equal(claimsOf(bob.token).sub, 'bob');
    assert.deepEqual(claimsOf(bob.token).access, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
    // A token is not a login for making API keys.
    const refused = await fetch(`${berth.url}/zot/auth/apikey`, { method: 'POST', headers: { authorization: `Bearer ${bob.token}` }, body: '{}' });
    assert.equal(refused.status, 401);
    await refused.arrayBuffer();
  });

  it('still applies the policy behind a push grant: a tag overwrite needs update (403, insufficient_scope)', async () => {
    const bob = await tokenFor(['repository:team/app:pull,push'], basicAuth('bob', 'bobpw'));
    assert.deepEqual(claimsOf(bob.token).access, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
    assert.equal((await call('/v2/team/app/manifests/bob-new', bob.token, 'PUT', teamManifest)).status, 201);
    const overwrite = await call('/v2/team/app/manifests/bob-new', bob.token, 'PUT', teamManifest);
    assert.equal(overwrite.status, 403);
    assert.equal(overwrite.challenge, `Bearer realm="${realm()}",service="berth",scope="repository:team/app:pull,push",error="insufficient_scope"`);
    // A token fetched for pull only does not push, even where the user may.
    const pullOnly = await tokenFor(['repository:public/base:pull'], basicAuth('alice', 'alicepw'));
    const push = await call('/v2/public/base/manifests/alice-new', pullOnly.token, 'PUT', manifest);
    assert.equal(push.status, 403);
    assert.match(push.challenge ?? '', /scope="repository:public\/base:pull,push",error="insufficient_scope"$/);
  });

  it('refuses wrong passwords at the token endpoint after failDelay, with a Basic challenge', async () => {
    const { ms, value: res } = await timed(() => fetch(`${realm()}?service=berth&scope=repository:team/app:pull`, { headers: basicAuth('alice', 'nope') }));
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="Authorization Required"');
    assert.ok(!(await res.text()).includes('token'));
    assert.ok(ms >= 1000, `failDelay of 1 s was slept (${ms} ms)`);
  });

  it('keeps Basic credentials sent straight to the registry working', async () => {
    const res = await fetch(`${berth.url}/v2/team/app/manifests/v1`, { headers: { ...basicAuth('bob', 'bobpw'), accept: OCI_MANIFEST } });
    assert.equal(res.status, 200);
    const denied = await fetch(`${berth.url}/v2/team/app/manifests/v1`, { method: 'DELETE', headers: basicAuth('bob', 'bobpw') });
    assert.equal(denied.status, 403);
    await denied.arrayBuffer();
  });

  it('shares its key with every berth on the same root directory (rolling updates, restarts)', async () => {
    const token = (await tokenFor(['repository:team/app:pull'], basicAuth('alice', 'alicepw'))).token;
    const second = await startBerth({ storage: { rootDirectory: berth.root }, http: { auth: { htpasswd: { path: htpasswd } }, accessControl: ACCESS_CONTROL } });
    try {
      const res = await bearerRequest(`${second.url}/v2/team/app/manifests/v1`, token);
      assert.equal(res.status, 200, 'a token the first berth issued is valid at the second');
      const back = await fetch(`${second.url}/berth/auth/token?service=berth&scope=repository:team/app:pull`, { headers: basicAuth('alice', 'alicepw') });
      const theirs = ((await back.json()) as TokenAnswer).token;
      assert.equal((await call('/v2/team/app/manifests/v1', theirs)).status, 200, 'and the other way round');
    } finally {
      await second.stop();
    }
  });

  it('refuses forged, foreign, expired and garbage tokens with 401 and no content', async () => {
    const good = (await tokenFor(['repository:team/app:pull'], basicAuth('alice', 'alicepw'))).token;
    const [header, , signature] = good.split('.');
    const widened = Buffer.from(JSON.stringify({ ...claimsOf(good), access: [{ type: 'repository', name: 'team/app', actions: ['*'] }] })).toString('base64url');
    const other = await startBerth({ http: { externalUrl: 'https://registry.example/', auth: { htpasswd: { path: htpasswd } }, accessControl: ACCESS_CONTROL } });
    let foreign: string;
    try {
      const base = await fetch(`${other.url}/v2/`);
      await base.arrayBuffer();
      assert.equal(base.headers.get('www-authenticate'), 'Bearer realm="https://registry.example/berth/auth/token",service="berth",scope=""', 'http.externalUrl names the realm');
      const res = await fetch(`${other.url}/berth/auth/token?service=berth&scope=repository:team/app:pull`, { headers: basicAuth('alice', 'alicepw') });
      foreign = ((await res.json()) as TokenAnswer).token;
    } finally {
      await other.stop();
    }
    const bad: Record<string, string> = {
      'payload changed': `${header}.${widened}.${signature}`,
      'another instance signed it': foreign,
      garbage: 'not-a-jwt',
    };
    for (const [what, token] of Object.entries(bad)) {
      const res = await call('/v2/team/app/manifests/v1', token);
      assert.equal(res.status, 401, what);
      assert.match(res.challenge ?? '', /^Bearer realm=/, what);
      assert.ok(!res.text.includes('schemaVersion'), what);
    }
    assert.equal((await call('/v2/team/app/manifests/v1', good)).status, 200);
    // Five minutes and the clock tolerance later, the same token is refused (berth runs in this process).
    mock.timers.enable({ apis: ['Date'], now: Date.now() + 320_000 });
    try {
      assert.equal((await call('/v2/team/app/manifests/v1', good)).status, 401);
    } finally {
      mock.timers.reset();
    }
  });

  it('never writes a password or a token to the log', async () => {
    const { token } = await tokenFor(['repository:team/app:pull'], basicAuth('alice', 'alicepw'));
    await call('/v2/team/app/manifests/v1', token);
    await berth.app.logger.flush();
    // The logger writes asynchronously: wait until this request's line is there.
    let log = '';
    for (let i = 0; i < 100 && !log.includes('"user":"alice"'); i++) {
      log = await readFile(berth.logFile, 'utf8');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(log.includes('/berth/auth/token'));
    assert.ok(!log.includes(token.split('.')[2]!));
    assert.ok(!log.includes('alicepw') && !log.includes(Buffer.from('alice:alicepw').toString('base64')));
  });
});

describe('when berth\'s token service is not used', () => {
  let htpasswd: string;
  before(async () => {
    htpasswd = join(await tempDir('no-token-service'), 'htpasswd');
    await writeHtpasswd(htpasswd, [{ user: 'alice', password: 'alicepw' }]);
  });
  after(cleanupTempDirs);

  const configs: Record<string, Record<string, unknown>> = {
    'only authenticated policies': { auth: { htpasswd: { path: '' } }, accessControl: { repositories: { '**': { defaultPolicy: ['read'] } } } },
    'authentication without accessControl': { auth: { htpasswd: { path: '' } } },
    'anonymous-only policies, no authentication': { accessControl: { repositories: { '**': { anonymousPolicy: ['read'] } } } },
  };
  for (const [what, http] of Object.entries(configs)) {
    it(`answers as before with ${what}: Basic challenges, no token endpoint`, async () => {
      const auth = http.auth as { htpasswd: { path: string } } | undefined;
      if (auth) auth.htpasswd.path = htpasswd;
      const berth = await startBerth({ http });
      try {
        const base = await fetch(`${berth.url}/v2/`);
        await base.arrayBuffer();
        if (auth) {
          assert.equal(base.status, 401);
          assert.equal(base.headers.get('www-authenticate'), 'Basic realm="Authorization Required"');
        } else {
          assert.equal(base.status, 200);
        }
        const token = await fetch(`${berth.url}/berth/auth/token?service=berth`, { headers: auth ? basicAuth('alice', 'alicepw') : {} });
        await token.arrayBuffer();
        assert.equal(token.status, 404);
      } finally {
        await berth.stop();
      }
    });
  }
});
