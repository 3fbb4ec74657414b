// What a sync URL names: the API host (Docker Hub's names mapped to registry-1.docker.io), a path as a
// namespace on the upstream, `?ns=` routing by host, content rules without the path, leading-slash prefixes,
// and the `platforms` allowlist. No internet here, so these check the URLs berth would request.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { platformFilter } from '../../extensions/sync/platforms';
import { RegistryRouter } from '../../extensions/sync/routing';
import { parseUpstreamUrl, requestUrl } from '../../extensions/sync/upstream-url';

const manifestUrl = (configured: string, repo: string, dockerHub = false) =>
  requestUrl(parseUpstreamUrl(configured), { repo, path: 'manifests/3.20' }, dockerHub);

describe('sync: upstream URLs', () => {
  it('asks Docker Hub at registry-1.docker.io whichever of its names the config uses', () => {
    for (const host of ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'DOCKER.IO']) {
      assert.equal(manifestUrl(`https://${host}`, 'alpine', true), 'https://registry-1.docker.io/v2/library/alpine/manifests/3.20', host);
      assert.equal(manifestUrl(`https://${host}/library`, 'alpine', true), 'https://registry-1.docker.io/v2/library/alpine/manifests/3.20', `${host}/library`);
    }
    assert.equal(parseUpstreamUrl('https://docker.io/library').host, 'docker.io'); // what ns and credentials compare
    assert.equal(manifestUrl('https://docker.io/bitnami', 'redis', true), 'https://registry-1.docker.io/v2/bitnami/redis/manifests/3.20');
  });

  it('puts repository names below the URL path on any registry', () => {
    assert.equal(manifestUrl('https://ghcr.io/myorg', 'app'), 'https://ghcr.io/v2/myorg/app/manifests/3.20');
    assert.equal(manifestUrl('http://host:5000/mirror/', 'team/app'), 'http://host:5000/v2/mirror/team/app/manifests/3.20');
    assert.equal(manifestUrl('http://host:5000', 'alpine'), 'http://host:5000/v2/alpine/manifests/3.20');
    // API paths the upstream names itself (catalog, pagination links) are not moved below the path.
    assert.equal(requestUrl(parseUpstreamUrl('http://host:5000/mirror'), '/v2/_catalog?n=1000', false), 'http://host:5000/v2/_catalog?n=1000');
  });

  it('routes ?ns= by host only, serving the names below the path', () => {
    const hub = new RegistryRouter({ urls: ['https://docker.io/library'] });
    for (const ns of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) assert.ok(hub.servesNs(ns), ns);
    assert.deepEqual(hub.route('library/alpine', 'docker.io'), { upstream: 'alpine', local: 'docker.io/library/alpine' });
    assert.equal(hub.route('bitnami/redis', 'docker.io'), undefined);
    assert.equal(hub.route('library/alpine', 'ghcr.io'), undefined);
    // Without ns the client names the repository below the path.
    assert.deepEqual(hub.route('alpine', undefined), { upstream: 'alpine', local: 'alpine' });
  });

  it('matches content rules against names without the URL path', () => {
    const r = new RegistryRouter({ urls: ['http://127.0.0.1:5000/library'], content: [{ prefix: 'alpine', destination: '/hub', stripPrefix: false }] });
    assert.deepEqual(r.route('hub/alpine', undefined), { upstream: 'alpine', local: 'hub/alpine' });
    assert.equal(r.route('hub/library/alpine', undefined), undefined);
    assert.deepEqual(r.route('library/alpine', '127.0.0.1:5000'), { upstream: 'alpine', local: 'hub/alpine' });
    assert.equal(r.fromCatalog('library/alpine'), 'alpine');
    assert.equal(r.fromCatalog('other/alpine'), undefined);
  });

  it('drops a leading slash from content prefixes, as Zot', () => {
    const lank8s = new RegistryRouter({ urls: ['https://registry.lank8s.cn'], content: [{ prefix: '/google-containers/*', stripPrefix: false }] });
    assert.deepEqual(lank8s.route('google-containers/pause', undefined), { upstream: 'google-containers/pause', local: 'google-containers/pause' });
    assert.equal(lank8s.route('kube-proxy', undefined), undefined);
    assert.equal(lank8s.rules[0]!.prefix, 'google-containers/*');
    const stripped = new RegistryRouter({ urls: ['https://r.example'], content: [{ prefix: '/repo2/repo/**', destination: '/repo/', stripPrefix: true }] });
    assert.equal(stripped.localFor('repo2/repo/a'), 'repo/a');
    assert.equal(stripped.upstreamFor('repo/a'), 'repo2/repo/a');
  });

  it('platforms: arch, os/arch and os/arch/variant; entries without a platform always kept', () => {
    const amd64 = { os: 'linux', architecture: 'amd64' };
    const armv7 = { os: 'linux', architecture: 'arm', variant: 'v7' };
    const armv6 = { os: 'linux', architecture: 'arm', variant: 'v6' };
    const winAmd64 = { os: 'windows', architecture: 'amd64' };
    assert.deepEqual([amd64, winAmd64, armv7].map(platformFilter(['amd64'])), [true, true, false]);
    assert.deepEqual([amd64, winAmd64, armv7].map(platformFilter(['linux/amd64'])), [true, false, false]);
    assert.deepEqual([armv7, armv6, { os: 'linux', architecture: 'arm' }].map(platformFilter(['linux/arm/v7'])), [true, false, true]);
    assert.equal(platformFilter(['linux/amd64'])(undefined), true);
    assert.equal(platformFilter(undefined)(armv6), true);
    assert.equal(platformFilter([])(armv6), true);
  });
});
