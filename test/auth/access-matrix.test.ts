// The access matrix: htpasswd users (bcrypt, $5$, $6$), LDAP users from a real slapd with memberOf groups,
// config groups merged with LDAP groups, and anonymous, against Zot accessControl patterns; every expected
// status written out. Real clients where they apply: skopeo --creds pushes and pulls, ctr --user pulls.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { basicAuth, ldapAuthConfig, OCI_MANIFEST, seedArtifact, writeHtpasswd } from '../helpers/auth.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { startContainerd, type Containerd } from '../helpers/containerd.js';
import { buildOciImage, type BuiltImage } from '../helpers/images.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { startSlapd, type Slapd } from '../helpers/slapd.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';
import { mkdir, writeFile } from 'node:fs/promises';

const ALL = ['read', 'create', 'update', 'delete'];
const ACCESS_CONTROL = {
  repositories: {
    '**': { defaultPolicy: ['read'] },
    'public/**': { anonymousPolicy: ['read'], defaultPolicy: ['read'], policies: [{ users: ['alice'], actions: ['read', 'create', 'update'] }] },
    'team/**': { policies: [{ users: ['alice'], actions: ALL }, { groups: ['devs'], actions: ['read', 'create'] }] },
    // Longer than team/**, so it alone decides for team/secret/...: alice's team/** rights do not reach here.
    'team/secret/**': { policies: [{ groups: ['ops'], actions: ['read', 'create', 'update'] }] },
    'qa/*': { policies: [{ groups: ['qa'], actions: ['read', 'create', 'update'] }] },
  },
  adminPolicy: { users: ['admin'], actions: ['read', 'delete'] },
  // carol gets qa from the config; bob joins the LDAP group devs by config.
  groups: { qa: { users: ['carol'] }, devs: { users: ['bob'] } },
};

const REPOS = ['public/base', 'team/app', 'team/secret/db', 'qa/app', 'other/thing'] as const;
type Repo = (typeof REPOS)[number];
const IDENTITIES: Record<string, [string, string] | undefined> = {
  anonymous: undefined,
  alice: ['alice', 'alicepw'], // htpasswd bcrypt
  bob: ['bob', 'bobpw'], // htpasswd $5$, config group devs
  carol: ['carol', 'carolpw'], // htpasswd $6$, config group qa
  dave: ['dave', 'davepw'], // LDAP, group devs
  erin: ['erin', 'erinpw'], // LDAP, groups devs + ops
  admin: ['admin', 'adminpw'], // htpasswd, adminPolicy read + delete
  'alice-wrong': ['alice', 'nope'],
  'dave-wrong': ['dave', 'nope'],
  'nobody': ['nobody', 'nobodypw'],
};

// [pull, push a new tag, overwrite an existing tag, delete a tag] per identity and repository.
const D = [403, 403, 403, 403];
const U = [401, 401, 401, 401];
const READ_ONLY = [200, 403, 403, 403];
const EXPECTED: Record<string, Record<Repo, number[]>> = {
  anonymous: { 'public/base': [200, 401, 401, 401], 'team/app': U, 'team/secret/db': U, 'qa/app': U, 'other/thing': U },
  alice: { 'public/base': [200, 201, 201, 403], 'team/app': [200, 201, 201, 202], 'team/secret/db': D, 'qa/app': D, 'other/thing': READ_ONLY },
  bob: { 'public/base': READ_ONLY, 'team/app': [200, 201, 403, 403], 'team/secret/db': D, 'qa/app': D, 'other/thing': READ_ONLY },
  carol: { 'public/base': READ_ONLY, 'team/app': D, 'team/secret/db': D, 'qa/app': [200, 201, 201, 403], 'other/thing': READ_ONLY },
  dave: { 'public/base': READ_ONLY, 'team/app': [200, 201, 403, 403], 'team/secret/db': D, 'qa/app': D, 'other/thing': READ_ONLY },
  erin: { 'public/base': READ_ONLY, 'team/app': [200, 201, 403, 403], 'team/secret/db': [200, 201, 201, 403], 'qa/app': D, 'other/thing': READ_ONLY },
  admin: { 'public/base': [200, 403, 403, 202], 'team/app': [200, 403, 403, 202], 'team/secret/db': [200, 403, 403, 202], 'qa/app': [200, 403, 403, 202], 'other/thing': [200, 403, 403, 202] },
  'alice-wrong': { 'public/base': U, 'team/app': U, 'team/secret/db': U, 'qa/app': U, 'other/thing': U },
  'dave-wrong': { 'public/base': U, 'team/app': U, 'team/secret/db': U, 'qa/app': U, 'other/thing': U },
  nobody: { 'public/base': U, 'team/app': U, 'team/secret/db': U, 'qa/app': U, 'other/thing': U },
};

const EXPECTED_CATALOG: Record<string, string[] | number> = {
  anonymous: ['public/base'],
  alice: ['other/thing', 'public/base', 'team/app'],
  bob: ['other/thing', 'public/base', 'team/app'],
  carol: ['other/thing', 'public/base', 'qa/app'],
  dave: ['other/thing', 'public/base', 'team/app'],
  erin: ['other/thing', 'public/base', 'team/app', 'team/secret/db'],
  admin: ['other/thing', 'public/base', 'qa/app', 'team/app', 'team/secret/db'],
  'alice-wrong': 401,
  'dave-wrong': 401,
  nobody: 401,
};

describe('access matrix: htpasswd + LDAP + accessControl', () => {
  let slapd: Slapd;
  let berth: RunningBerth;
  const manifests = new Map<string, Buffer>();

  before(async () => {
    await ensureTools(['slapd', 'ldapadd', 'htpasswd', 'openssl']);
    const dir = await tempDir('auth-matrix');
    slapd = await startSlapd([
      { uid: 'dave', password: 'davepw', groups: ['devs'] },
      { uid: 'erin', password: 'erinpw', groups: ['devs', 'ops'] },
    ]);
    const htpasswd = join(dir, 'htpasswd');
    await writeHtpasswd(htpasswd, [
      { user: 'alice', password: 'alicepw' },
      { user: 'bob', password: 'bobpw', hash: 'sha256' },
      { user: 'carol', password: 'carolpw', hash: 'sha512' },
      { user: 'admin', password: 'adminpw' },
    ]);
    berth = await startBerth({
      http: {
        auth: {
          htpasswd: { path: htpasswd },
          ldap: await ldapAuthConfig(slapd, dir),
        },
        accessControl: ACCESS_CONTROL,
      },
    });
    for (const repo of REPOS) manifests.set(repo, await seedArtifact(berth.app.registry, repo, 'v1'));
  });

  after(async () => {
    await berth?.stop();
    await slapd?.stop();
    await cleanupTempDirs();
  });

  const headersOf = (who: string) => (IDENTITIES[who] ? basicAuth(...IDENTITIES[who]!) : {});

  it('answers every cell of the matrix as written', async () => {
    const got: Record<string, Record<string, number[]>> = {};
    let n = 0;
    for (const who of Object.keys(EXPECTED)) {
      got[who] = {};
      for (const repo of REPOS) {
        const headers = headersOf(who);
        const bytes = manifests.get(repo)!;
        const put = (tag: string) => fetch(`${berth.url}/v2/${repo}/manifests/${tag}`, {
          method: 'PUT', headers: { ...headers, 'content-type': OCI_MANIFEST }, body: bytes,
        });
        n++;
        const pull = await fetch(`${berth.url}/v2/${repo}/manifests/v1`, { headers: { ...headers, accept: OCI_MANIFEST } });
        const pullBody = Buffer.from(await pull.arrayBuffer());
        if (pull.status !== 200) assert.ok(!pullBody.includes(bytes), `${who} ${repo}: a refused pull carries no content`);
        const push = await put(`new-${n}`);
        const overwrite = await put('v1');
        await berth.app.registry.putManifest(repo, `del-${n}`, OCI_MANIFEST, bytes);
        const del = await fetch(`${berth.url}/v2/${repo}/manifests/del-${n}`, { method: 'DELETE', headers });
        got[who][repo] = [pull.status, push.status, overwrite.status, del.status];
        // Anonymous reads beside authenticated writes: berth's token service is in use, so the challenges are
        // for a token from it (test/auth/token-service.test.ts covers the tokens themselves).
        for (const res of [pull, push, overwrite, del]) {
          if (res.status === 401) assert.match(res.headers.get('www-authenticate') ?? '', new RegExp(`^Bearer realm="${berth.url}/berth/auth/token",service="berth",scope="repository:${repo}:`), `${who} ${repo}: challenge`);
        }
        await Promise.all([push, overwrite, del].map((r) => r.arrayBuffer()));
      }
    }
    assert.deepEqual(got, EXPECTED);
  });

  it('lists only readable repositories in the catalog', async () => {
    for (const [who, want] of Object.entries(EXPECTED_CATALOG)) {
      const res = await fetch(`${berth.url}/v2/_catalog`, { headers: headersOf(who) });
      if (typeof want === 'number') {
        assert.equal(res.status, want, who);
        await res.arrayBuffer();
        continue;
      }
      assert.equal(res.status, 200, who);
      assert.deepEqual(((await res.json()) as { repositories: string[] }).repositories, want, who);
    }
  });

  it('answers the same for a repository that does not exist, so names do not leak', async () => {
    for (const [who, repo, status] of [['anonymous', 'team/ghost', 401], ['carol', 'team/ghost', 403], ['alice', 'team/secret/ghost', 403]] as const) {
      const res = await fetch(`${berth.url}/v2/${repo}/tags/list`, { headers: headersOf(who) });
      assert.equal(res.status, status, `${who} ${repo}`);
      assert.equal(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, status === 401 ? 'UNAUTHORIZED' : 'DENIED');
    }
  });

  it('asks for credentials on /v2/ and accepts them from htpasswd and LDAP', async () => {
    // Anonymous reads mixed with authenticated writes: every client must be challenged at /v2/, or it never
    // sends credentials (Zot only asks Docker's user agent, #3538); the challenge names berth's token service.
    for (const ua of ['docker/24.0.7 go/go1.20', 'skopeo/1.9.3']) {
      const res = await fetch(`${berth.url}/v2/`, { headers: { 'user-agent': ua } });
      assert.equal(res.status, 401, ua);
      assert.equal(res.headers.get('www-authenticate'), `Bearer realm="${berth.url}/berth/auth/token",service="berth",scope=""`);
    }
    // Empty Basic credentials (what skopeo sends without --creds) are anonymous, not a failed login.
    const empty = await fetch(`${berth.url}/v2/public/base/manifests/v1`, { headers: { authorization: 'Basic Og==', accept: OCI_MANIFEST } });
    assert.equal(empty.status, 200);
    for (const who of ['alice', 'bob', 'carol', 'dave', 'erin']) {
      assert.equal((await fetch(`${berth.url}/v2/`, { headers: headersOf(who) })).status, 200, who);
    }
    for (const who of ['alice-wrong', 'dave-wrong', 'nobody']) {
      assert.equal((await fetch(`${berth.url}/v2/`, { headers: headersOf(who) })).status, 401, who);
    }
  });

  describe('with real clients', () => {
    let image: BuiltImage;
    let ctd: Containerd;

    before(async () => {
      await ensureTools(['skopeo', 'umoci', 'ctr', 'containerd']);
      const work = await tempDir('auth-clients');
      [image, ctd] = await Promise.all([
        buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ files: { '/etc/hello': 'hello from an authenticated push\n' } }] }),
        startContainerd(),
      ]);
    });
    after(async () => ctd?.stop());

    it('skopeo --creds pushes where the policy allows and is refused where it does not', async () => {
      await skopeoCopy(image.ref, `${berth.url}/team/app:skopeo`, { creds: 'alice:alicepw' });
      await skopeoCopy(image.ref, `${berth.url}/team/app:skopeo-dave`, { creds: 'dave:davepw' });
      const carol = await skopeoCopy(image.ref, `${berth.url}/team/app:skopeo-carol`, { creds: 'carol:carolpw', allowFail: true });
      assert.notEqual(carol.code, 0);
      assert.match(carol.stderr, /denied|403/i);
      const wrong = await skopeoCopy(image.ref, `${berth.url}/team/app:skopeo-wrong`, { creds: 'alice:nope', allowFail: true });
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /unauthorized|401|authentication required/i);
      const tags = await fetch(`${berth.url}/v2/team/app/tags/list`, { headers: headersOf('alice') });
      const list = ((await tags.json()) as { tags: string[] }).tags;
      assert.ok(list.includes('skopeo') && list.includes('skopeo-dave') && !list.includes('skopeo-carol'));
    });

    it('skopeo pulls anonymously only where anonymousPolicy allows', async () => {
      const dir = await tempDir('auth-pull');
      await skopeoCopy(image.ref, `${berth.url}/public/base:img`, { creds: 'alice:alicepw' });
      await skopeoCopy(`${berth.url}/public/base:img`, `dir:${join(dir, 'public')}`);
      const denied = await skopeoCopy(`${berth.url}/team/app:skopeo`, `dir:${join(dir, 'team')}`, { allowFail: true });
      assert.notEqual(denied.code, 0);
      await skopeoCopy(`${berth.url}/team/app:skopeo`, `dir:${join(dir, 'team')}`, { creds: 'erin:erinpw' });
    });

    it('ctr --user pulls with LDAP and htpasswd credentials and fails without', async () => {
      const ref = `${berth.host}/team/app:skopeo`;
      await ctd.pull(ref, { plainHttp: true, useHostsDir: false, user: 'dave:davepw' });
      await ctd.pull(ref, { plainHttp: true, useHostsDir: false, user: 'bob:bobpw' });
      const { stdout } = await ctd.ctr(['images', 'ls', '-q']);
      assert.ok(stdout.split('\n').includes(ref));
      // The docs' recipe: credentials for every node in hosts.toml, as a header on the registry host.
      const hostDir = join(ctd.hostsDir, berth.host);
      await mkdir(hostDir, { recursive: true });
      await writeFile(join(hostDir, 'hosts.toml'), [
        `server = "${berth.url}"`,
        `[host."${berth.url}"]`,
        '  capabilities = ["pull", "resolve"]',
        `  [host."${berth.url}".header]`,
        `    authorization = "${basicAuth('erin', 'erinpw').authorization}"`,
        '',
      ].join('\n'));
      await ctd.pull(`${berth.host}/team/app:skopeo-dave`);
      const anon = await ctd.pull(`${berth.host}/team/app:skopeo-dave`, { plainHttp: true, useHostsDir: false, allowFail: true });
      assert.notEqual(anon.code, 0);
      const carol = await ctd.pull(`${berth.host}/team/app:skopeo-dave`, { plainHttp: true, useHostsDir: false, user: 'carol:carolpw', allowFail: true });
      assert.notEqual(carol.code, 0);
    });
  });
});
