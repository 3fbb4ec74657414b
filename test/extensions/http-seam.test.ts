// The request-metrics seam (ctx.http.observe) and route access options, through a third-party fixture.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { RequestObservation } from '../../core/extensions/api';
import { REPO_ROOT } from '../helpers/berth-process';
import { basicAuth, writeHtpasswd } from '../helpers/auth';
import { eventually } from '../helpers/eventually';
import { cleanupTempDirs, tempDir } from '../helpers/tools';
import { startBerth, type RunningBerth } from '../helpers/berth';

const fixture = join(REPO_ROOT, 'test', 'fixtures', 'extensions', 'observer');

describe('request observers and route access', () => {
  let berth: RunningBerth;
  const alice = basicAuth('alice', 'alicepw');

  before(async () => {
    const htpasswd = join(await tempDir('http-seam'), 'htpasswd');
    await writeHtpasswd(htpasswd, [{ user: 'alice', password: 'alicepw' }, { user: 'prom', password: 'prompw' }]);
    berth = await startBerth({
      http: {
        auth: { htpasswd: { path: htpasswd } },
        accessControl: {
          repositories: { 'team/**': { policies: [{ users: ['alice'], actions: ['read', 'create'] }] } },
          metrics: { users: ['prom'] },
        },
      },
      extensions: { observer: { module: fixture } },
    });
  });

  after(async () => {
    await berth?.stop();
    await cleanupTempDirs();
  });

  const heard = async (): Promise<RequestObservation[]> => ((await (await fetch(`${berth.url}/observer/heard`)).json()) as { heard: RequestObservation[] }).heard;

  it('hears every finished request once, by route template, with the repository a /v2 route names', async () => {
    assert.equal((await fetch(`${berth.url}/v2/team/app/tags/list`, { headers: alice })).status, 404);
    assert.equal((await fetch(`${berth.url}/v2/team/app/manifests/v1`, { method: 'HEAD', headers: alice })).status, 404);
    assert.equal((await fetch(`${berth.url}/v2/other/app/tags/list`, { headers: alice })).status, 403);
    assert.equal((await fetch(`${berth.url}/no/such/path`, { headers: alice })).status, 404);
    // Refused by authentication, before any route ran: still labelled with the route it asked for.
    assert.equal((await fetch(`${berth.url}/v2/team/app/blobs/sha256:${'0'.repeat(64)}`)).status, 401);
    let got: RequestObservation[] = [];
    await eventually(async () => (got = await heard()).length >= 5);
    const summary = got.map(({ method, route, status, repo }) => ({ method, route, status, repo }));
    assert.deepEqual(summary, [
      { method: 'GET', route: '/v2/*name/tags/list', status: 404, repo: 'team/app' },
      { method: 'HEAD', route: '/v2/*name/manifests/:reference', status: 404, repo: 'team/app' },
      { method: 'GET', route: '/v2/*name/tags/list', status: 403, repo: 'other/app' },
      { method: 'GET', route: 'unmatched', status: 404, repo: undefined },
      { method: 'GET', route: '/v2/*name/blobs/:digest', status: 401, repo: 'team/app' },
    ]);
    for (const o of got) {
      assert.ok(o.durationSeconds > 0 && o.durationSeconds < 60, String(o.durationSeconds));
      assert.equal(o.aborted, false);
      assert.ok(typeof o.bytes === 'number' && o.bytes > 0); // the OCI error bodies
    }
  });

  it("a route declared public runs without authentication, even with credentials sent", async () => {
    const anonymous = await fetch(`${berth.url}/observer/heard`);
    assert.equal(anonymous.status, 200);
    const withWrongPassword = await fetch(`${berth.url}/observer/heard`, { headers: basicAuth('alice', 'wrong') });
    assert.equal(withWrongPassword.status, 200);
    assert.equal(((await withWrongPassword.json()) as { user: string | null }).user, null);
  });

  it('a route declared for metrics follows http.accessControl.metrics: 401 anonymous, 403 unlisted, 200 listed', async () => {
    const anonymous = await fetch(`${berth.url}/observer/scrape`);
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    const unlisted = await fetch(`${berth.url}/observer/scrape`, { headers: alice });
    assert.equal(unlisted.status, 403);
    assert.match(unlisted.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    const listed = await fetch(`${berth.url}/observer/scrape`, { headers: basicAuth('prom', 'prompw') });
    assert.equal(listed.status, 200);
    assert.equal(await listed.text(), 'scraped');
    // /metrics itself is no longer special in the core: without the metrics extension it is an unknown path.
    assert.equal((await fetch(`${berth.url}/metrics`, { headers: basicAuth('prom', 'prompw') })).status, 404);
  });
});

describe('route access with anonymous metrics', () => {
  it('metrics.anonymousPolicy read lets anonymous scrapes in; a wrong password is still refused', async () => {
    const htpasswd = join(await tempDir('http-seam-anon'), 'htpasswd');
    await writeHtpasswd(htpasswd, [{ user: 'alice', password: 'alicepw' }]);
    const berth = await startBerth({
      http: { auth: { htpasswd: { path: htpasswd } }, accessControl: { repositories: {}, metrics: { anonymousPolicy: ['read'] } } },
      extensions: { observer: { module: fixture } },
    });
    try {
      assert.equal((await fetch(`${berth.url}/observer/scrape`)).status, 200);
      assert.equal((await fetch(`${berth.url}/observer/scrape`, { headers: basicAuth('alice', 'wrong') })).status, 401);
      // As in Zot: a logged-in user must be listed in metrics.users, whatever the anonymous policy.
      assert.equal((await fetch(`${berth.url}/observer/scrape`, { headers: basicAuth('alice', 'alicepw') })).status, 403);
    } finally {
      await berth.stop();
      await cleanupTempDirs();
    }
  });
});
