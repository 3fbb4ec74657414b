// LDAP over TLS as production configs use it: LDAPS (Zot's default, insecure: false) and StartTLS, the server
// certificate checked against `cacert`, refused when it does not verify unless `skipVerify`. Also berth's own
// HTTPS with LDAP logins and failDelay on failed logins.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { basicAuth, timed } from '../helpers/auth.js';
import { startBerth } from '../helpers/berth.js';
import { makeCa, makeCert, type KeyPair } from '../helpers/certs.js';
import { LDAP_SUFFIX, startSlapd, type Slapd } from '../helpers/slapd.js';
import { cleanupTempDirs, tempDir } from '../helpers/tools.js';

describe('LDAP over TLS', () => {
  let slapd: Slapd;
  let ca: KeyPair;
  let otherCa: KeyPair;
  let server: KeyPair;

  before(async () => {
    const dir = await tempDir('ldap-tls');
    ca = await makeCa(dir, 'ca');
    otherCa = await makeCa(dir, 'other-ca');
    server = await makeCert(dir, ca, 'ldap', '/CN=127.0.0.1', { san: 'IP:127.0.0.1,DNS:localhost', server: true });
    slapd = await startSlapd([{ uid: 'dave', password: 'davepw', groups: ['devs'] }], { tls: server });
  });
  after(async () => {
    await slapd?.stop();
    await cleanupTempDirs();
  });

  const ldap = (extra: object) => ({ address: '127.0.0.1', baseDN: `ou=people,${LDAP_SUFFIX}`, userAttribute: 'uid', ...extra });
  const login = async (auth: object, user = 'dave', password = 'davepw', tls?: { ca: Buffer; https: KeyPair }) => {
    const berth = await startBerth({ http: { auth, ...(tls ? { tls: { cert: tls.https.cert, key: tls.https.key } } : {}) } });
    try {
      if (!tls) {
        const res = await fetch(`${berth.url}/v2/`, { headers: basicAuth(user, password) });
        await res.arrayBuffer();
        return res.status;
      }
      return await new Promise<number>((resolve, reject) => {
        const req = request(`${berth.url}/v2/`, { ca: tls.ca, headers: basicAuth(user, password) }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
    } finally {
      await berth.stop();
    }
  };

  it('logs in over LDAPS and StartTLS when the server certificate verifies against cacert', async () => {
    assert.equal(await login({ ldap: ldap({ port: slapd.tlsPort, cacert: ca.cert }) }), 200);
    assert.equal(await login({ ldap: ldap({ port: slapd.port, insecure: true, startTLS: true, cacert: ca.cert }) }), 200);
  });

  it('refuses an LDAP server whose certificate does not verify, unless skipVerify', async () => {
    assert.equal(await login({ ldap: ldap({ port: slapd.tlsPort, cacert: otherCa.cert }) }), 401);
    assert.equal(await login({ ldap: ldap({ port: slapd.port, insecure: true, startTLS: true, cacert: otherCa.cert }) }), 401);
    assert.equal(await login({ ldap: ldap({ port: slapd.tlsPort, skipVerify: true }) }), 200);
  });

  it('serves LDAP logins over berth HTTPS, and delays failed logins by failDelay', async () => {
    const https = { ca: await readFile(ca.cert), https: server };
    const auth = { ldap: ldap({ port: slapd.tlsPort, cacert: ca.cert }), failDelay: 1 };
    assert.equal(await login(auth, 'dave', 'davepw', https), 200);
    const wrong = await timed(() => login(auth, 'dave', 'wrong', https));
    assert.equal(wrong.value, 401);
    assert.ok(wrong.ms >= 1_000, `failed login answered after ${wrong.ms} ms`);
  });
});
