// mTLS: client certificates verified against http.tls.cacert name the user for access control; no certificate
// falls through to Basic (and then anonymous); a certificate from another CA is not trusted. Real clients:
// curl with a client certificate and skopeo with a cert dir.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { basicAuth, OCI_MANIFEST, seedArtifact, writeHtpasswd } from '../helpers/auth.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { makeCa, makeCert, type KeyPair } from '../helpers/certs.js';
import { buildOciImage } from '../helpers/images.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, run, tempDir } from '../helpers/tools.js';

interface Reply { status: number; challenge?: string; body: string }

describe('mTLS', () => {
  let dir: string;
  let ca: KeyPair;
  let alice: KeyPair;
  let mallory: KeyPair;
  let foreign: KeyPair;
  let berth: RunningBerth;
  let caPem: Buffer;

  const get = async (path: string, opts: { client?: KeyPair; headers?: Record<string, string>; method?: string } = {}): Promise<Reply> => {
    const [cert, key] = opts.client ? await Promise.all([readFile(opts.client.cert), readFile(opts.client.key)]) : [];
    return new Promise((resolve, reject) => {
      const req = request(`${berth.url}${path}`, { method: opts.method ?? 'GET', ca: caPem, cert, key, headers: opts.headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'], body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end();
    });
  };

  before(async () => {
    await ensureTools(['openssl', 'curl', 'skopeo', 'umoci', 'htpasswd']);
    dir = await tempDir('mtls');
    ca = await makeCa(dir, 'ca');
    const other = await makeCa(dir, 'other-ca');
    const server = await makeCert(dir, ca, 'server', '/CN=localhost', { san: 'IP:127.0.0.1,DNS:localhost', server: true });
    alice = await makeCert(dir, ca, 'alice', '/O=Example/CN=alice');
    mallory = await makeCert(dir, ca, 'mallory', '/CN=mallory');
    foreign = await makeCert(dir, other, 'foreign-alice', '/CN=alice'); // same name, untrusted issuer
    caPem = await readFile(ca.cert);
    const htpasswd = join(dir, 'htpasswd');
    await writeHtpasswd(htpasswd, [{ user: 'bob', password: 'bobpw' }]);
    berth = await startBerth({
      http: {
        tls: { cert: server.cert, key: server.key, cacert: ca.cert },
        auth: { htpasswd: { path: htpasswd } },
        accessControl: {
          repositories: {
            'team/**': { policies: [{ users: ['alice'], actions: ['read', 'create', 'update', 'delete'] }, { users: ['bob'], actions: ['read'] }] },
          },
        },
      },
    });
    await seedArtifact(berth.app.registry, 'team/app', 'v1');
  });
  after(async () => {
    await berth?.stop();
    await cleanupTempDirs();
  });

  it('takes the certificate common name as the user', async () => {
    assert.equal((await get('/v2/', { client: alice })).status, 200);
    assert.equal((await get('/v2/team/app/manifests/v1', { client: alice, headers: { accept: OCI_MANIFEST } })).status, 200);
    const denied = await get('/v2/team/app/manifests/v1', { client: mallory });
    assert.equal(denied.status, 403);
    assert.match(denied.body, /DENIED/);
    const catalog = await get('/v2/_catalog', { client: mallory });
    assert.deepEqual(JSON.parse(catalog.body), { repositories: [] });
  });

  it('does not trust a certificate from another CA, and answers like an anonymous request', async () => {
    for (const client of [foreign, undefined]) {
      const res = await get('/v2/team/app/manifests/v1', { client });
      assert.equal(res.status, 401);
      assert.equal(res.challenge, 'Basic realm="Authorization Required"');
      assert.ok(!res.body.includes('schemaVersion'));
    }
  });

  it('prefers Basic credentials over the certificate, as Zot does', async () => {
    assert.equal((await get('/v2/team/app/tags/list', { headers: basicAuth('bob', 'bobpw') })).status, 200);
    assert.equal((await get('/v2/team/app/tags/list', { client: alice, headers: basicAuth('bob', 'wrong') })).status, 401);
    assert.equal((await get('/v2/team/app/manifests/v1', { client: alice, headers: basicAuth('bob', 'bobpw'), method: 'DELETE' })).status, 403);
  });

  it('works with curl and skopeo client certificates', async () => {
    const ok = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', ca.cert, '--cert', alice.cert, '--key', alice.key, `${berth.url}/v2/team/app/tags/list`]);
    assert.equal(ok.stdout, '200');
    const foreignCurl = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', ca.cert, '--cert', foreign.cert, '--key', foreign.key, `${berth.url}/v2/team/app/tags/list`]);
    assert.equal(foreignCurl.stdout, '401');
    // skopeo reads client.cert/client.key/ca.crt from a cert dir (containers-certs.d layout).
    const certDir = join(dir, 'skopeo-certs');
    await mkdir(certDir);
    await Promise.all([copyFile(alice.cert, join(certDir, 'client.cert')), copyFile(alice.key, join(certDir, 'client.key')), copyFile(ca.cert, join(certDir, 'ca.crt'))]);
    const image = await buildOciImage(join(dir, 'img'), { tag: 'v1', layers: [{ files: { '/hello': 'mtls\n' } }] });
    await skopeoCopy(image.ref, `docker://${berth.host}/team/app:by-cert`, { destTlsVerify: true, extraArgs: ['--dest-cert-dir', certDir] });
    const tags = JSON.parse((await get('/v2/team/app/tags/list', { client: alice })).body) as { tags: string[] };
    assert.ok(tags.tags.includes('by-cert'));
  });
});
