// Bearer tokens (Docker token protocol): challenges with realm/service/scope, JWTs signed by a key made in the
// test and verified against the configured certificate, access claims per repository and action, and the
// tokens a registry must refuse (expired, forged, wrong audience, unsigned, HMAC with the public key).
// skopeo runs the whole dance against a small token service started by the test.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { importPKCS8, SignJWT } from 'jose';

type KeyLike = Awaited<ReturnType<typeof importPKCS8>>;
import { bearerRequest, OCI_MANIFEST, seedArtifact } from '../helpers/auth.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { buildOciImage } from '../helpers/images.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, run, tempDir } from '../helpers/tools.js';

const SERVICE = 'berth.test';
type Access = Array<{ type: string; name: string; actions: string[] }>;

async function signingKey(dir: string, name: string): Promise<{ key: KeyLike; cert: string }> {
  const keyFile = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', keyFile, '-out', cert]);
  return { key: await importPKCS8(await readFile(keyFile, 'utf8'), 'RS256'), cert };
}

function token(key: KeyLike, access: Access, opts: { audience?: string; expiresIn?: string | number; sub?: string } = {}): Promise<string> {
  return new SignJWT({ access })
    .setProtectedHeader({ alg: 'RS256' })
    .setSubject(opts.sub ?? 'alice')
    .setIssuer('test-token-service')
    .setAudience(opts.audience ?? SERVICE)
    .setIssuedAt()
    .setExpirationTime(opts.expiresIn ?? '5m')
    .sign(key);
}

describe('bearer tokens', () => {
  let signer: { key: KeyLike; cert: string };
  let forger: { key: KeyLike; cert: string };
  let berth: RunningBerth;
  let tokenService: Server;
  let realm: string;
  let manifest: Buffer;

  before(async () => {
    await ensureTools(['openssl', 'skopeo', 'umoci']);
    const dir = await tempDir('bearer');
    [signer, forger] = await Promise.all([signingKey(dir, 'signer'), signingKey(dir, 'forger')]);
    // The token service: alice:alicepw gets whatever repository scope she asks for; anyone else gets none.
    tokenService = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const creds = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString();
      const access: Access = creds === 'alice:alicepw'
        ? url.searchParams.getAll('scope').flatMap((s) => {
            const [type, name, actions] = s.split(':');
            return type === 'repository' && name && actions ? [{ type, name, actions: actions.split(',') }] : [];
          })
        : [];
      void token(signer.key, access).then((t) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ token: t, access_token: t, expires_in: 300 }));
      });
    });
    await new Promise<void>((r) => tokenService.listen(0, '127.0.0.1', r));
    realm = `http://127.0.0.1:${(tokenService.address() as { port: number }).port}/token`;
    berth = await startBerth({ http: { auth: { bearer: { realm, service: SERVICE, cert: signer.cert } } } });
    manifest = await seedArtifact(berth.app.registry, 'team/app', 'v1');
    await seedArtifact(berth.app.registry, 'other/repo', 'v1');
  });
  after(async () => {
    await berth?.stop();
    await new Promise((r) => tokenService?.close(r));
    await cleanupTempDirs();
  });

  const call = (path: string, bearer?: string, method?: string, body?: Buffer) => bearerRequest(`${berth.url}${path}`, bearer, method, body);

  it('challenges with realm, service and the scope the request needs', async () => {
    const cases: Array<[string, string, string]> = [
      ['GET', '/v2/', ''],
      ['GET', '/v2/team/app/manifests/v1', 'repository:team/app:pull'],
      ['PUT', '/v2/team/app/manifests/v2', 'repository:team/app:pull,push'],
      ['DELETE', '/v2/team/app/manifests/v1', 'repository:team/app:delete'],
      ['GET', '/v2/_catalog', 'registry:catalog:*'],
    ];
    for (const [method, path, scope] of cases) {
      const res = await call(path, undefined, method);
      assert.equal(res.status, 401, path);
      assert.equal(res.challenge, `Bearer realm="${realm}",service="${SERVICE}",scope="${scope}"`);
    }
  });

  it('enforces the access claims per repository and action', async () => {
    const pull = await token(signer.key, [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    assert.equal((await call('/v2/', pull)).status, 200);
    assert.equal((await call('/v2/team/app/manifests/v1', pull)).status, 200);
    const push = await call('/v2/team/app/manifests/v2', pull, 'PUT', manifest);
    assert.equal(push.status, 401);
    assert.equal(push.challenge, `Bearer realm="${realm}",service="${SERVICE}",scope="repository:team/app:pull,push",error="insufficient_scope"`);
    const other = await call('/v2/other/repo/manifests/v1', pull);
    assert.equal(other.status, 401);
    assert.ok(!other.text.includes('schemaVersion'));
    assert.deepEqual(JSON.parse((await call('/v2/_catalog', pull)).text), { repositories: ['team/app'] });

    const pushToken = await token(signer.key, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
    assert.equal((await call('/v2/team/app/manifests/v2', pushToken, 'PUT', manifest)).status, 201);
    assert.equal((await call('/v2/team/app/manifests/v2', pushToken, 'DELETE')).status, 401);
    const deleteToken = await token(signer.key, [{ type: 'repository', name: 'team/app', actions: ['delete'] }]);
    assert.equal((await call('/v2/team/app/manifests/v2', deleteToken, 'DELETE')).status, 202);
  });

  it('refuses expired, forged, wrong-audience and unsigned tokens', async () => {
    const access: Access = [{ type: 'repository', name: 'team/app', actions: ['pull'] }];
    const header = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const claims = { sub: 'alice', aud: SERVICE, exp: Math.floor(Date.now() / 1000) + 300, access };
    const hmacWithPublicKey = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(await readFile(signer.cert));
    const bad: Record<string, string> = {
      expired: await token(signer.key, access, { expiresIn: Math.floor(Date.now() / 1000) - 120 }),
      forged: await token(forger.key, access),
      'wrong audience': await token(signer.key, access, { audience: 'someone-else' }),
      unsigned: `${header({ alg: 'none', typ: 'JWT' })}.${header(claims)}.`,
      'HMAC with the public key': hmacWithPublicKey,
      garbage: 'not-a-jwt',
    };
    for (const [what, t] of Object.entries(bad)) {
      const res = await call('/v2/team/app/manifests/v1', t);
      assert.equal(res.status, 401, what);
      assert.match(res.challenge ?? '', /^Bearer realm=/, what);
      assert.ok(!res.text.includes('schemaVersion'), what);
    }
    const basic = await fetch(`${berth.url}/v2/`, { headers: { authorization: `Basic ${Buffer.from('alice:alicepw').toString('base64')}` } });
    assert.equal(basic.status, 401, 'bearer is exclusive: Basic credentials are not accepted');
  });

  it('lets skopeo push and pull through the token service', async () => {
    const dir = await tempDir('bearer-skopeo');
    const image = await buildOciImage(join(dir, 'img'), { tag: 'v1', layers: [{ files: { '/hello': 'token\n' } }] });
    await skopeoCopy(image.ref, `${berth.url}/team/app:skopeo`, { creds: 'alice:alicepw' });
    await skopeoCopy(`${berth.url}/team/app:skopeo`, `dir:${join(dir, 'pulled')}`, { creds: 'alice:alicepw' });
    const refused = await skopeoCopy(image.ref, `${berth.url}/team/app:mallory`, { creds: 'mallory:x', allowFail: true });
    assert.notEqual(refused.code, 0);
  });
});
