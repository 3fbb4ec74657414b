// htpasswd and LDAP together: LDAP logins with groups from a real slapd, wrong passwords whichever side knows
// the user, and htpasswd logins that stay fast while LDAP is down (connection refused) or hung (a server
// that accepts and never answers): under 2 s for the first failure, under 100 ms once LDAP is known down.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { basicAuth, timed, writeHtpasswd } from '../helpers/auth.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { LDAP_SUFFIX, startSlapd, type Slapd } from '../helpers/slapd.js';
import { cleanupTempDirs, tempDir } from '../helpers/tools.js';

function ldapConfig(port: number) {
  return { address: '127.0.0.1', port, insecure: true, baseDN: `ou=people,${LDAP_SUFFIX}`, userAttribute: 'uid', userGroupAttribute: 'memberOf' };
}

async function status(berth: RunningBerth, user: string, password: string, path = '/v2/'): Promise<{ status: number; ms: number }> {
  const { ms, value } = await timed(async () => {
    const res = await fetch(`${berth.url}${path}`, { headers: basicAuth(user, password) });
    await res.arrayBuffer();
    return res.status;
  });
  return { status: value, ms };
}

/** A TCP server that accepts LDAP connections and never says a word. */
async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

describe('htpasswd with LDAP fallback', () => {
  let htpasswd: string;
  before(async () => {
    htpasswd = join(await tempDir('ldap-fallback'), 'htpasswd');
    await writeHtpasswd(htpasswd, [{ user: 'alice', password: 'alicepw' }, { user: 'erin', password: 'erin-local-pw' }]);
  });
  after(cleanupTempDirs);

  describe('LDAP up, then down', () => {
    let slapd: Slapd;
    let berth: RunningBerth;
    before(async () => {
      slapd = await startSlapd([
        { uid: 'dave', password: 'davepw', groups: ['devs'] },
        { uid: 'erin', password: 'erin-ldap-pw', groups: ['ops'] },
      ]);
      berth = await startBerth({
        http: {
          auth: { htpasswd: { path: htpasswd }, ldap: ldapConfig(slapd.port) },
          accessControl: { repositories: { 'ops/**': { policies: [{ groups: ['ops'], actions: ['read'] }] }, 'devs/**': { policies: [{ groups: ['devs'], actions: ['read'] }] } } },
        },
      });
    });
    after(async () => {
      await berth?.stop();
      await slapd?.stop();
    });

    it('logs LDAP users in, with their LDAP groups feeding the policies', async () => {
      assert.equal((await status(berth, 'dave', 'davepw', '/v2/devs/x/tags/list')).status !== 401, true);
      assert.equal((await status(berth, 'dave', 'davepw', '/v2/ops/x/tags/list')).status, 403);
      assert.equal((await status(berth, 'erin', 'erin-ldap-pw', '/v2/ops/x/tags/list')).status !== 403, true);
    });

    it('rejects a wrong password whichever provider knows the user', async () => {
      assert.equal((await status(berth, 'alice', 'wrong')).status, 401); // htpasswd user
      assert.equal((await status(berth, 'dave', 'wrong')).status, 401); // LDAP user
      assert.equal((await status(berth, 'dave', '')).status, 401); // empty password: never an anonymous bind
      assert.equal((await status(berth, 'erin', 'wrong')).status, 401); // in both
      assert.equal((await status(berth, 'nobody', 'x')).status, 401); // in neither
      // In both: htpasswd is asked first, then LDAP (Zot's order), so either password works.
      assert.equal((await status(berth, 'erin', 'erin-local-pw')).status, 200);
      assert.equal((await status(berth, 'erin', 'erin-ldap-pw')).status, 200);
    });

    it('keeps htpasswd logins fast when LDAP goes down, and refuses LDAP users', async () => {
      await slapd.stop();
      const first = await status(berth, 'dave', 'davepw');
      assert.equal(first.status, 401);
      assert.ok(first.ms < 2_000, `first LDAP failure took ${first.ms} ms`);
      const alice = await status(berth, 'alice', 'alicepw');
      assert.equal(alice.status, 200);
      assert.ok(alice.ms < 100, `htpasswd login took ${alice.ms} ms`);
      const wrong = await status(berth, 'alice', 'wrong');
      assert.equal(wrong.status, 401);
      assert.ok(wrong.ms < 100, `wrong htpasswd password with LDAP down took ${wrong.ms} ms`);
    });
  });

  describe('LDAP hung (accepts, never answers)', () => {
    let hole: Awaited<ReturnType<typeof blackHole>>;
    let berth: RunningBerth;
    before(async () => {
      hole = await blackHole();
      berth = await startBerth({ http: { auth: { htpasswd: { path: htpasswd }, ldap: ldapConfig(hole.port) } } });
    });
    after(async () => {
      await berth?.stop();
      await hole?.close();
    });

    it('logs htpasswd users in at once and bounds the LDAP wait', async () => {
      const alice = await status(berth, 'alice', 'alicepw');
      assert.equal(alice.status, 200);
      // A wrong htpasswd password falls through to LDAP, which hangs: bounded the first time...
      const first = await status(berth, 'alice', 'wrong');
      assert.equal(first.status, 401);
      assert.ok(first.ms < 2_000, `first failure took ${first.ms} ms`);
      // ...and immediate afterwards, for every login that reaches LDAP, while htpasswd logins keep working.
      const concurrent = await Promise.all([status(berth, 'alice', 'wrong'), status(berth, 'dave', 'davepw'), status(berth, 'alice', 'alicepw')]);
      assert.deepEqual(concurrent.map((r) => r.status), [401, 401, 200]);
      for (const r of concurrent) assert.ok(r.ms < 100, `login took ${r.ms} ms after LDAP was known down`);
    });
  });
});
