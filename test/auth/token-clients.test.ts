// Issue 8 item 3: anonymous reads mixed with authenticated writes, with the real clients. berth then runs its
// own token service; every client must: pull a public repository anonymously, be refused a private one
// anonymously, log in (htpasswd user, and LDAP user from a real slapd), push, pull, pull by digest, push the
// same layers a second time, and fail with a wrong password. docker (Debian's dockerd with its own data
// dir), podman, skopeo, containerd's ctr and curl; no network pulls: the image is built here and loaded.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { basicAuth, ldapAuthConfig, writeHtpasswd } from '../helpers/auth.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { startContainerd, type Containerd } from '../helpers/containerd.js';
import { startDockerd } from '../helpers/dockerd.js';
import { buildOciImage, type BuiltImage } from '../helpers/images.js';
import { startPodman } from '../helpers/podman.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { startSlapd, type Slapd } from '../helpers/slapd.js';
import { cleanupTempDirs, ensureTools, run, tempDir, type RunOptions, type RunResult } from '../helpers/tools.js';

type Cli = (args: string[], opts?: RunOptions) => Promise<RunResult>;

const WRITE = ['read', 'create', 'update'];
const ACCESS_CONTROL = {
  repositories: {
    'public/**': { anonymousPolicy: ['read'], policies: [{ users: ['alice'], groups: ['devs'], actions: WRITE }] },
    'private/**': { policies: [{ users: ['alice'], groups: ['devs'], actions: WRITE }] },
  },
};
// alice is in the htpasswd file, dave in LDAP (group devs, from memberOf).
const USERS = [
  { name: 'alice', password: 'alicepw', source: 'htpasswd' },
  { name: 'dave', password: 'davepw', source: 'LDAP' },
] as const;

const REFUSED = /unauthorized|denied|authentication required|invalid username\/password|401|403/i;
const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

describe('docker, podman, skopeo, ctr and curl against berth\'s token service', () => {
  let slapd: Slapd;
  let berth: RunningBerth;
  let image: BuiltImage;
  let archive: string;
  let work: string;

  before(async () => {
    await ensureTools(['slapd', 'ldapadd', 'htpasswd', 'skopeo', 'umoci', 'curl']);
    work = await tempDir('token-clients');
    slapd = await startSlapd([{ uid: 'dave', password: 'davepw', groups: ['devs'] }]);
    const htpasswd = join(work, 'htpasswd');
    await writeHtpasswd(htpasswd, [{ user: 'alice', password: 'alicepw' }]);
    berth = await startBerth({
      http: {
        auth: {
          htpasswd: { path: htpasswd },
          ldap: await ldapAuthConfig(slapd, work),
        },
        accessControl: ACCESS_CONTROL,
      },
    });
    image = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ files: { '/etc/hello': 'hello through a token\n' } }] });
    // docker and podman load this; a docker-archive needs a docker reference, retagged after loading.
    archive = join(work, 'img.tar');
    await skopeoCopy(image.ref, `docker-archive:${archive}:berth.test/img:v1`);
    await skopeoCopy(image.ref, `${berth.url}/public/base:v1`, { creds: 'alice:alicepw' });
    await skopeoCopy(image.ref, `${berth.url}/private/app:v1`, { creds: 'alice:alicepw' });
  });

  after(async () => {
    await berth?.stop();
    await slapd?.stop();
    await cleanupTempDirs();
  });

  /** The digest berth serves for `repo:tag` (asked with alice's Basic credentials, which keep working). */
  const digestOf = async (repo: string, tag: string): Promise<string> => {
    const res = await fetch(`${berth.url}/v2/${repo}/manifests/${tag}`, {
      method: 'HEAD', headers: { ...basicAuth('alice', 'alicepw'), accept: MANIFEST_TYPES },
    });
    assert.equal(res.status, 200, `${repo}:${tag} is in berth`);
    return res.headers.get('docker-content-digest')!;
  };

  // docker and podman take the same commands; each runs with its own storage and login file.
  const cliClients: Array<{ name: string; start(): Promise<{ cli: Cli; stop?(): Promise<void> }>; skipped?: RegExp }> = [
    {
      name: 'docker',
      start: async () => {
        const d = await startDockerd();
        return { cli: d.docker, stop: d.stop };
      },
      skipped: /Layer already exists/,
    },
    // podman 4.3 does not print skipped layers: its second push must succeed with the same digest.
    { name: 'podman', start: async () => ({ cli: (await startPodman()).podman }) },
  ];
  for (const client of cliClients) {
    describe(client.name, () => {
      let cli: Cli;
      let stop: (() => Promise<void>) | undefined;
      before(async () => {
        ({ cli, stop } = await client.start());
        await cli(['load', '-i', archive]);
      });
      after(async () => stop?.());

      it('pulls a public repository without logging in, and is refused a private one', async () => {
        await cli(['pull', `${berth.host}/public/base:v1`]);
        const refused = await cli(['pull', `${berth.host}/private/app:v1`], { allowFail: true });
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, REFUSED);
      });

      for (const user of USERS) {
        it(`logs in as ${user.name} (${user.source}), pushes, pulls, pulls by digest and pushes the same layers again`, async () => {
          const login = (password: string) =>
            cli(['login', '-u', user.name, '--password-stdin', berth.host], { input: `${password}\n`, allowFail: true });
          const wrong = await login('wrong');
          assert.notEqual(wrong.code, 0);
          assert.match(wrong.stderr, REFUSED);
          const ok = await login(user.password);
          assert.equal(ok.code, 0, ok.stderr);
          assert.match(ok.stdout, /Login Succeeded/);
          const repo = `private/${user.name}-${client.name}`;
          const ref = `${berth.host}/${repo}`;
          await cli(['tag', 'berth.test/img:v1', `${ref}:v1`]);
          await cli(['push', `${ref}:v1`]);
          await cli(['rmi', `${ref}:v1`]);
          await cli(['pull', `${ref}:v1`]);
          const digest = await digestOf(repo, 'v1');
          await cli(['pull', `${ref}@${digest}`]);
          await cli(['tag', `${ref}:v1`, `${ref}:v2`]);
          const again = await cli(['push', `${ref}:v2`]);
          if (client.skipped) assert.match(again.stdout, client.skipped);
          assert.equal(await digestOf(repo, 'v2'), digest);
          await cli(['logout', berth.host]);
          await cli(['rmi', `${ref}:v1`]);
          const anonymous = await cli(['pull', `${ref}:v1`], { allowFail: true });
          assert.notEqual(anonymous.code, 0, 'logged out: the private repository is refused again');
        });
      }
    });
  }

  describe('skopeo', () => {
    it('copies a public repository without credentials, and is refused a private one', async () => {
      await skopeoCopy(`${berth.url}/public/base:v1`, `dir:${join(work, 'skopeo-public')}`);
      const refused = await skopeoCopy(`${berth.url}/private/app:v1`, `dir:${join(work, 'skopeo-private')}`, { allowFail: true });
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, REFUSED);
    });

    for (const user of USERS) {
      it(`pushes and pulls as ${user.name} (${user.source}), by digest, the same layers twice, and fails with a wrong password`, async () => {
        const creds = `${user.name}:${user.password}`;
        const repo = `private/${user.name}-skopeo`;
        const local = (what: string) => `dir:${join(work, `${user.name}-skopeo-${what}`)}`;
        const wrong = await skopeoCopy(image.ref, `${berth.url}/${repo}:v1`, { creds: `${user.name}:wrong`, allowFail: true });
        assert.notEqual(wrong.code, 0);
        assert.match(wrong.stderr, REFUSED);
        await skopeoCopy(image.ref, `${berth.url}/${repo}:v1`, { creds });
        await skopeoCopy(`${berth.url}/${repo}:v1`, local('tag'), { creds });
        const digest = await digestOf(repo, 'v1');
        await skopeoCopy(`${berth.url}/${repo}@${digest}`, local('digest'), { creds });
        await skopeoCopy(image.ref, `${berth.url}/${repo}:v2`, { creds });
        assert.equal(await digestOf(repo, 'v2'), digest);
      });
    }
  });

  describe('ctr', () => {
    let ctd: Containerd;
    before(async () => {
      ctd = await startContainerd();
    });
    after(async () => ctd?.stop());
    const pull = (ref: string, user?: string) => ctd.pull(ref, { plainHttp: true, useHostsDir: false, user, allowFail: true });

    it('pulls a public repository without credentials, and is refused a private one', async () => {
      assert.equal((await pull(`${berth.host}/public/base:v1`)).code, 0);
      const refused = await pull(`${berth.host}/private/app:v1`);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, REFUSED);
    });

    for (const user of USERS) {
      it(`pulls and pushes as ${user.name} (${user.source}), by digest, the same layers twice, and fails with a wrong password`, async () => {
        const creds = `${user.name}:${user.password}`;
        const wrong = await pull(`${berth.host}/private/app:v1`, `${user.name}:wrong`);
        assert.notEqual(wrong.code, 0);
        assert.match(wrong.stderr, REFUSED);
        const source = `${berth.host}/private/app:v1`;
        const pulled = await pull(source, creds);
        assert.equal(pulled.code, 0, pulled.stderr);
        const byDigest = await pull(`${berth.host}/private/app@${await digestOf('private/app', 'v1')}`, creds);
        assert.equal(byDigest.code, 0, byDigest.stderr);
        const repo = `private/${user.name}-ctr`;
        for (const tag of ['v1', 'v2']) {
          await ctd.ctr(['images', 'push', '--plain-http', '--user', creds, `${berth.host}/${repo}:${tag}`, source]);
        }
        assert.equal(await digestOf(repo, 'v2'), await digestOf('private/app', 'v1'));
      });
    }
  });

  describe('curl', () => {
    const curl = async (args: string[]) => {
      const { stdout } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', ...args]);
      return Number(stdout);
    };
    const accept = ['-H', `Accept: ${MANIFEST_TYPES}`];

    it('reads a public repository anonymously and gets a Bearer challenge for a private one', async () => {
      assert.equal(await curl([...accept, `${berth.url}/v2/public/base/manifests/v1`]), 200);
      assert.equal(await curl([...accept, `${berth.url}/v2/private/app/manifests/v1`]), 401);
      const { stdout } = await run('curl', ['-s', '-D', '-', '-o', '/dev/null', `${berth.url}/v2/private/app/manifests/v1`]);
      assert.match(stdout, new RegExp(`www-authenticate: Bearer realm="${berth.url}/berth/auth/token",service="berth",scope="repository:private/app:pull"`, 'i'));
    });

    for (const user of USERS) {
      it(`sends ${user.name}'s (${user.source}) Basic credentials straight to the registry, or trades them for a token`, async () => {
        const creds = ['-u', `${user.name}:${user.password}`];
        assert.equal(await curl([...accept, '-u', `${user.name}:wrong`, `${berth.url}/v2/private/app/manifests/v1`]), 401);
        assert.equal(await curl([...accept, ...creds, `${berth.url}/v2/private/app/manifests/v1`]), 200);
        const digest = await digestOf('private/app', 'v1');
        assert.equal(await curl([...accept, ...creds, `${berth.url}/v2/private/app/manifests/${digest}`]), 200);
        // A push with curl -u: one blob, monolithically, twice (the second finds it there), then a manifest.
        const repo = `private/${user.name}-curl`;
        const config = join(work, 'config.json');
        await writeFile(config, '{}');
        const configDigest = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
        for (let i = 0; i < 2; i++) {
          const status = await curl([...creds, '-X', 'POST', '-H', 'Content-Type: application/octet-stream', '--data-binary', `@${config}`,
            `${berth.url}/v2/${repo}/blobs/uploads/?digest=${configDigest}`]);
          assert.equal(status, 201);
        }
        const manifest = join(work, `${user.name}-manifest.json`);
        await writeFile(manifest, JSON.stringify({
          schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: configDigest, size: 2 }, layers: [],
        }));
        assert.equal(await curl([...creds, '-X', 'PUT', '-H', 'Content-Type: application/vnd.oci.image.manifest.v1+json',
          '--data-binary', `@${manifest}`, `${berth.url}/v2/${repo}/manifests/v1`]), 201);

        const { stdout } = await run('curl', ['-s', ...creds, `${berth.url}/berth/auth/token?service=berth&scope=repository:${repo}:pull`]);
        const token = (JSON.parse(stdout) as { token: string }).token;
        assert.equal(await curl([...accept, '-H', `Authorization: Bearer ${token}`, `${berth.url}/v2/${repo}/manifests/v1`]), 200);
      });
    }
  });
});
